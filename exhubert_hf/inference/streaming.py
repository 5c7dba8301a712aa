"""Streaming prediction: window results of live audio as soon as each window is complete.

    for window in predictor.stream(chunks, sampling_rate=16000):    # chunks: any iterable of sample arrays
        print(window.start, window.end, predictor.labels[window.probabilities.argmax()])

Chunks may have any size (one sample, or minutes), 1-d or channels x samples (averaged, as offline). A window
goes to the model as soon as its last sample has arrived; the windows of a stream are exactly those
`exhubert_hf.inference.windows` gives the whole recording, with the same starts and ends, so the shorter last
window(s) follow when the stream ends. A window carries the model's dimensions (`window.dimensions`) when it has a
dimensional head, as offline. The results equal the offline ones (`predict_signal` on the concatenated
chunks; the tests check 1e-6).

Memory is bounded by the window, not by the stream's length: only the samples from the start of the next window
on are kept (at most a window plus the latest chunk), and the windows one chunk completes go to the model
together, at most `batch_size` at a time.

Other sampling rates are resampled with soxr's streaming resampler, whose output is bit-identical to the
`librosa.resample(res_type="soxr_hq")` of the offline path; at the end the signal is zero-padded to the length
librosa gives it (`ceil(samples * ratio)`), so the last window matches too.
"""

import math
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from ..errors import InputError, UsageError
from .results import WindowPrediction


class StreamWindows:
    """Cuts a sample stream into the windows `window_bounds` gives the whole signal: `push(chunk)` returns the
    windows the chunk completes, `finish()` the shorter last ones. Windows are (index, start, end, samples)."""

    def __init__(self, window: int, hop: int):
        if window < 1 or hop < 1:
            raise UsageError(f"window and hop must be at least one sample, got {window} and {hop}")
        self.window, self.hop = window, hop
        self.kept = np.zeros(0, dtype=np.float32)  # the stream's samples from `offset` on
        self.offset = self.received = self.next_index = 0

    def push(self, chunk: np.ndarray) -> list[tuple[int, int, int, np.ndarray]]:
        self.kept = np.concatenate([self.kept, chunk])  # a copy: callers may reuse their chunk buffers
        self.received += len(chunk)
        windows = []
        # A complete window exists: the stream is longer than its start, and than the end of the one before it.
        while self.next_index * self.hop + self.window <= self.received:
            windows.append(self._take(self.next_index * self.hop + self.window))
        drop = min(self.next_index * self.hop, self.received) - self.offset  # what no window needs again
        if drop > 0:
            self.kept, self.offset = self.kept[drop:], self.offset + drop
        return windows

    def finish(self) -> list[tuple[int, int, int, np.ndarray]]:
        """The windows that start before the end of the stream, as long as the one before did not reach it (the
        rule of `window_bounds`); none for a stream without samples."""
        windows = []
        while self.received and self._another_window_starts():
            windows.append(self._take(self.received))
        return windows

    def _another_window_starts(self) -> bool:
        index, hop = self.next_index, self.hop
        return index * hop < self.received and (index == 0 or (index - 1) * hop + self.window < self.received)

    def _take(self, end: int) -> tuple[int, int, int, np.ndarray]:
        index, start = self.next_index, self.next_index * self.hop
        self.next_index += 1
        return index, start, end, self.kept[start - self.offset : end - self.offset]


def stream_predictions(predictor, chunks: Iterable, sampling_rate: int) -> Iterator[WindowPrediction]:
    """`EmotionPredictor.stream`: the window results of an audio stream (see the module docstring)."""
    rate = predictor.sampling_rate
    windows = StreamWindows(predictor.window_samples, predictor.hop_samples)
    for samples, last in _resampled(_mono_chunks(chunks), sampling_rate, rate):
        completed = windows.push(samples) + (windows.finish() if last else [])
        for begin in range(0, len(completed), predictor.batch_size):
            batch = completed[begin : begin + predictor.batch_size]
            with torch.inference_mode():
                outputs = predictor.window_outputs([window[3] for window in batch])
            for (index, start, end, _), output in zip(batch, outputs):
                yield WindowPrediction(index, start / rate, end / rate, *output)


def pcm16_chunks(stream, chunk_bytes: int = 8192) -> Iterator[np.ndarray]:
    """Samples (float32 in [-1, 1), as `read_audio` gives a 16-bit file) of raw 16-bit little-endian mono PCM read
    from a binary stream as it arrives (`read1`: whatever is there, without waiting for a full chunk)."""
    read = getattr(stream, "read1", stream.read)
    odd = b""
    while data := read(chunk_bytes):
        data, odd = odd + data, b""
        if len(data) % 2:
            data, odd = data[:-1], data[-1:]
        if data:
            yield np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if odd:
        raise InputError("the PCM input ended in the middle of a 16-bit sample (one byte left over)")


def _mono_chunks(chunks: Iterable) -> Iterator[np.ndarray]:
    for number, chunk in enumerate(chunks):
        if isinstance(chunk, torch.Tensor):
            chunk = chunk.detach().cpu().numpy()
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim == 2:
            chunk = chunk.mean(axis=0)
        if chunk.ndim != 1:
            raise UsageError(f"chunk {number} has shape {chunk.shape}; expected samples (1-d) or channels x samples")
        if not np.isfinite(chunk).all():
            raise UsageError(f"chunk {number} contains NaN or infinite samples")
        yield chunk


def _resampled(chunks: Iterator[np.ndarray], sampling_rate, rate: int) -> Iterator[tuple[np.ndarray, bool]]:
    """(samples at `rate`, whether the stream ends after them); the last item may have no samples."""
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int) or sampling_rate < 1:
        raise UsageError(f"sampling rate must be a positive whole number of Hz, got {sampling_rate!r}")
    if sampling_rate == rate:
        for chunk in chunks:
            yield chunk, False
        yield np.zeros(0, dtype=np.float32), True
        return
    import soxr

    resampler = soxr.ResampleStream(sampling_rate, rate, 1, dtype="float32", quality="HQ")
    given = produced = 0
    for chunk in chunks:
        given += len(chunk)
        out = resampler.resample_chunk(chunk, last=False)
        produced += len(out)
        yield out, False
    tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    # librosa.resample fixes the length to ceil(samples * ratio) with ratio a float, zero-padding soxr's output
    length = math.ceil(given * (float(rate) / sampling_rate)) if given else 0
    tail = np.pad(tail, (0, max(0, length - produced - len(tail))))[: max(0, length - produced)]
    yield np.ascontiguousarray(tail, dtype=np.float32), True


__all__ = ["StreamWindows", "pcm16_chunks", "stream_predictions"]

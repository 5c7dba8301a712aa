"""`EmotionPredictor`: six-class emotion probabilities (and a dimensional head's arousal, valence, dominance, ...)
and embeddings for signals, files and folders.

    from exhubert_hf.inference import EmotionPredictor

    predictor = EmotionPredictor("path/to/model-or-hub-id", revision="<40-hex commit>", window=3.0)
    predictions = predictor.predict_folder("recordings/")    # Predictions: per-file results, errors included
    table = predictions.to_frame()                           # a pandas DataFrame, one row per file and window
    embeddings = predictor.embed_files(["a.wav", "b.flac"])  # Embeddings(files, vectors, failed)

Windowing is `exhubert_hf.inference.windows`; the result types and their table are `results`. A model with
`config.dimensions` (a dimensional head) gets them per window and per file (the duration-weighted mean over windows,
as the probabilities) beside the class probabilities; one without classes (`num_labels=0`) gets them alone.

Preprocessing (the model's own, `exhubert_hf.preprocessing`: the same as in training)
    Models that take an attention mask (layer-norm feature encoders, HuBERT Large) get batches padded to their
    longest window with a mask, so a window's result does not depend on its batch. Models without one
    (group-norm feature encoders, and the converted published checkpoint, which its authors run on clips
    zero-padded to 3 s) get every window zero-padded to at least `window` seconds, and again no dependence on
    the batch. A window shorter than the CNN's receptive field (400 samples for HuBERT) is padded to it.

Embeddings
    The mean over all frames of `hidden_states[layer]`, i.e. windows weighted by their frame counts.

Memory and batches
    Files longer than `block_seconds` (60 s) are read block by block with `read_audio(offset, duration)`;
    blocks end on window boundaries, so no window straddles two blocks. Windows wait in a pool of at most
    about `pool_samples` samples (262 s of audio) or 16 batches, and leave it a batch at a time as soon as it
    is full, so results flow while files are read and the progress bar (windows, as they finish) moves
    steadily. A backend that batches (torch and bf16 on a GPU) gets the oldest waiting window and those
    closest to it in length (less padding, and still about the order files come, so the bar's estimate
    holds), at most `batch_size` windows and at most `max_batch_seconds` (48 s) of padded audio, one window
    always: `--batch-size 100000` on a 30-minute file costs what 16 windows of 3 s cost, not 600. The others
    (every backend on a CPU, see `backends`) get the oldest windows one at a time, unpadded. So a one-hour
    file needs a few tens of MB, not the 230 MB of its decoded samples. (Formats that libsndfile cannot read,
    e.g. AAC/M4A, fall back to a decoder that reads the whole file.)

Backends
    `backend` picks how the model runs (`exhubert_hf.inference.backends`: torch, bf16, int8, onnx,
    onnx-int8, or auto); `self.backend` says which one runs and why.

Bad files
    Anything `read_audio` / `audio_info` cannot use (missing, empty, undecodable, NaN samples, ...) becomes a
    result with `error` = the reason and no probabilities; the other files are predicted.
"""

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..configuration_exhubert import SAMPLING_RATE
from ..data.audio import AudioReadError, audio_info, find_audio_files, read_audio
from ..errors import UsageError
from ..loading import load_audio_classifier, load_feature_extractor
from ..preprocessing import Preprocessing
from .backends import check_backend, frame_sums, make_backend, resolve_backend
from .results import Embeddings, FilePrediction, Predictions, WindowPrediction
from .windows import seconds_to_samples, window_bounds, window_count

BLOCK_SECONDS = 60.0
POOL_SAMPLES = 2**22  # about 262 s of 16 kHz audio (16 MB) waiting for the model at most
POOL_BATCHES = 16  # ... and at most this many batches of windows
MAX_BATCH_SECONDS = 48.0  # padded audio per batch: 16 windows of 3 s


@dataclass
class _Outcome:
    """What the engine learns about one input while it runs: its length, its window outputs or its error.
    `windows` counts the windows read, `pending` those not yet computed; `read` turns true when the input has
    been read to its end (or failed)."""

    name: str
    num_samples: int = 0
    outputs: dict = field(default_factory=dict)  # window index -> (start, end, output)
    error: str = ""
    windows: int = 0
    pending: int = 0
    read: bool = False

    def fail(self, reason: str) -> None:
        self.error, self.outputs = reason, {}

    @property
    def finished(self) -> bool:
        return self.read and not self.pending


@dataclass
class _Piece:
    """A window waiting for the model."""

    outcome: _Outcome
    index: int
    start: int
    end: int
    samples: np.ndarray
    width: int = 0  # samples once padded on its own


class EmotionPredictor:
    """Six-class emotion probabilities, a dimensional head's dimensions (`self.dimensions`: their names, [] for none)
    and embeddings for signals, files and folders.

    Args:
        model: a folder saved with `save_pretrained`, a Hub id, or a loaded audio-classification model (used as
            it is: moved to the device, and for bf16 converted, in place; int8 and ONNX work on copies).
        revision: Hub branch, tag or (recommended) full commit hash, for Hub ids.
        window: window length in seconds; `hop`: window step in seconds (default: `window`).
        batch_size: windows per forward pass at most, for backends that batch (torch and bf16 on a GPU; windows
            of similar length go together, to cut padding); on a CPU, windows per progress update.
        max_batch_seconds: padded audio per forward pass at most, in seconds (one window always fits).
        device: torch device (default: CUDA if available, else CPU).
        backend: how the model runs: "auto" (default), "torch", "bf16", "int8", "onnx" or "onnx-int8"
            (`exhubert_hf.inference.backends`); `self.backend` says which one runs and why.
        feature_extractor: overrides the model's own (`preprocessor_config.json`; the default
            ExHuBERT one when the folder has none).
        show_progress: a tqdm progress bar over windows.
        block_seconds, pool_samples: memory bounds for long files (see the module docstring).
        trust_remote_code: allow a model folder of a type this package does not know to run its own Python
            code (see `exhubert_hf.loading`); never needed for ExHuBERT or HuBERT folders.

    Raises `UsageError` for arguments that cannot work and `ModelLoadError` for a model that cannot be loaded.
    """

    def __init__(
        self,
        model,
        revision: str | None = None,
        window: float = 3.0,
        hop: float | None = None,
        batch_size: int = 8,
        device=None,
        feature_extractor=None,
        show_progress: bool = True,
        block_seconds: float = BLOCK_SECONDS,
        pool_samples: int = POOL_SAMPLES,
        backend: str = "auto",
        max_batch_seconds: float = MAX_BATCH_SECONDS,
        trust_remote_code: bool = False,
    ):
        self.window_samples = seconds_to_samples(window, SAMPLING_RATE, "window")
        self.hop_samples = seconds_to_samples(window if hop is None else hop, SAMPLING_RATE, "hop")
        self.block_samples = max(self.window_samples, seconds_to_samples(block_seconds, SAMPLING_RATE, "block_seconds"))
        self.max_batch_samples = seconds_to_samples(max_batch_seconds, SAMPLING_RATE, "max_batch_seconds")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"batch size must be a whole number of at least 1, got {batch_size!r}")
        self.device = _device(device)
        check_backend(backend, self.device)
        loaded = load_audio_classifier(model, revision, trust_remote_code)
        self.feature_extractor = feature_extractor or load_feature_extractor(model, loaded.config, revision, trust_remote_code)
        if int(self.feature_extractor.sampling_rate) != SAMPLING_RATE:
            raise UsageError(f"the model's feature extractor expects {self.feature_extractor.sampling_rate} Hz; ExHuBERT models take {SAMPLING_RATE} Hz")
        name, reason = resolve_backend(backend, self.device, loaded)
        self.backend = make_backend(name, loaded, self.device, reason)
        self.model = getattr(self.backend, "model", loaded)  # what runs (for the ONNX backends: the float32 source)
        self.sampling_rate = SAMPLING_RATE
        self.window, self.hop = self.window_samples / SAMPLING_RATE, self.hop_samples / SAMPLING_RATE
        self.preprocessing = Preprocessing.for_model(loaded.config, self.feature_extractor)
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.pool_samples = pool_samples
        id2label = loaded.config.id2label
        self.labels = [id2label[index] for index in range(len(id2label))]
        self.dimensions = list(getattr(loaded.config, "dimensions", None) or [])

    @property
    def metadata(self) -> dict[str, str]:
        """How the results were computed: backend, why it was chosen, device, window and hop."""
        return {
            "backend": self.backend.name,
            "backend_description": self.backend.description,
            "backend_reason": self.backend.reason,
            "device": str(self.device),
            "window": f"{self.window:g}",
            "hop": f"{self.hop:g}",
        }

    # ------------------------------------------------------------------ predictions

    def predict_signal(self, signal, sampling_rate: int, file: str = "") -> Predictions:
        """Predictions for one signal (1-d, or channels x samples, averaged)."""
        signal = self._prepare_signal(signal, sampling_rate)
        outcomes = self._run([(file, lambda: self._signal_pieces(signal))], self._window_outputs)
        return self._predictions(outcomes)

    def predict_file(self, path) -> Predictions:
        return self.predict_files([path])

    def predict_files(self, paths: Iterable) -> Predictions:
        """Predictions for every file, in the given order; files that cannot be used carry their error."""
        paths = [str(path) for path in paths]
        inputs = [(path, lambda path=path: self._file_pieces(path)) for path in paths]
        outcomes = self._run(inputs, self._window_outputs)
        return self._predictions(outcomes)

    def predict_folder(self, folder, recursive: bool = True) -> Predictions:
        return self.predict_files(find_audio_files(folder, recursive=recursive))

    def stream(self, chunks: Iterable, sampling_rate: int) -> Iterator[WindowPrediction]:
        """Window results of an audio stream (chunks of any size), each as soon as its window is complete; the
        same as `predict_signal` on the whole recording (`exhubert_hf.inference.streaming`)."""
        from .streaming import stream_predictions

        return stream_predictions(self, chunks, sampling_rate)

    def window_outputs(self, windows: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """(class probabilities, dimensions or None) of windows of 16 kHz samples, each preprocessed and padded as in
        `predict_*` (one batch: call it with at most `batch_size` windows, inside `torch.inference_mode()`)."""
        pieces = [_Piece(_Outcome(""), index, 0, len(window), window) for index, window in enumerate(windows)]
        return self._window_outputs(pieces)

    # ------------------------------------------------------------------ embeddings

    def embed_signal(self, signal, sampling_rate: int, layer: int = -1) -> np.ndarray:
        """Mean over time of `hidden_states[layer]` for one signal (a 1-d vector)."""
        self._check_layer(layer)
        signal = self._prepare_signal(signal, sampling_rate)
        (outcome,) = self._run([("", lambda: self._signal_pieces(signal))], lambda batch: self._frame_sums(batch, layer))
        return _mean_embedding(outcome)

    def embed_files(self, paths: Iterable, layer: int = -1) -> Embeddings:
        """Per-file mean over time of `hidden_states[layer]` as transformers returns them (0 = the input to
        the first encoder layer, -1 = the output of the last layer; for pre-LN models that is before the
        encoder's final layer norm, which only `last_hidden_state` has); windows weighted by frames."""
        self._check_layer(layer)
        paths = [str(path) for path in paths]
        outcomes = self._run(
            [(path, lambda path=path: self._file_pieces(path)) for path in paths], lambda batch: self._frame_sums(batch, layer)
        )
        good = [outcome for outcome in outcomes if not outcome.error]
        dims = self.model.config.hidden_size
        vectors = np.stack([_mean_embedding(outcome) for outcome in good]) if good else np.zeros((0, dims), np.float32)
        failed = {outcome.name: outcome.error for outcome in outcomes if outcome.error}
        return Embeddings([outcome.name for outcome in good], vectors, failed, layer, self.metadata)

    def embed_folder(self, folder, layer: int = -1, recursive: bool = True) -> Embeddings:
        return self.embed_files(find_audio_files(folder, recursive=recursive), layer)

    # ------------------------------------------------------------------ reading

    def _check_layer(self, layer: int) -> None:
        states = self.model.config.num_hidden_layers + 1  # the input to the first layer, then every layer's output
        if isinstance(layer, bool) or not isinstance(layer, int) or not -states <= layer < states:
            raise UsageError(f"layer {layer!r} does not exist: the model has hidden states 0..{states - 1} (or -1..-{states})")

    def _prepare_signal(self, signal, sampling_rate: int) -> np.ndarray:
        if isinstance(signal, torch.Tensor):
            signal = signal.detach().cpu().numpy()
        signal = np.asarray(signal, dtype=np.float32)
        if signal.ndim == 2:
            signal = signal.mean(axis=0)
        if signal.ndim != 1 or signal.size == 0:
            raise UsageError(f"expected a non-empty 1-d signal (or channels x samples), got shape {signal.shape}")
        if not np.isfinite(signal).all():
            raise UsageError("the signal contains NaN or infinite samples")
        if sampling_rate != self.sampling_rate:
            import librosa

            signal = librosa.resample(signal, orig_sr=sampling_rate, target_sr=self.sampling_rate, res_type="soxr_hq")
        return np.ascontiguousarray(signal, dtype=np.float32)

    def _signal_pieces(self, signal: np.ndarray) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """The windows of a signal; returns its length."""
        for index, (start, end) in enumerate(window_bounds(len(signal), self.window_samples, self.hop_samples)):
            yield index, start, end, signal[start:end]
        return len(signal)

    def _file_pieces(self, path: str) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """The windows of a file, read whole when short and block by block when long; returns its length."""
        rate = self.sampling_rate
        info = audio_info(path)
        estimated = math.ceil(info.num_frames * rate / info.sampling_rate) if info.sampling_rate else 0
        if estimated <= self.block_samples:
            return (yield from self._signal_pieces(read_audio(path, rate)))
        bounds = list(window_bounds(estimated, self.window_samples, self.hop_samples))
        first = 0
        while first < len(bounds):
            block_start, last = bounds[first][0], first
            while last + 1 < len(bounds) and bounds[last + 1][1] - block_start <= self.block_samples:
                last += 1
            block_end = bounds[last][1]
            try:
                block = read_audio(path, rate, offset=block_start / rate, duration=(block_end - block_start) / rate)
            except AudioReadError as error:
                if first > 0 and "no audio samples" in error.reason:  # the header promised more than there is
                    return block_start
                raise
            for index in range(first, last + 1):
                start, end = bounds[index]
                piece = block[start - block_start : end - block_start]
                if piece.size == 0:
                    return start
                yield index, start, start + len(piece), piece
            first = last + 1
        return estimated

    # ------------------------------------------------------------------ the engine

    def _run(self, inputs: list[tuple[str, Callable[[], Iterator]]], compute, on_finished=None) -> list[_Outcome]:
        """Streams the windows of every input through the model, a batch at a time as soon as the pool is full
        (see the module docstring). Each input is a name and a function returning its window iterator (whose
        return value is the input's length in samples). `on_finished(outcome)`, if given, is called as soon as
        an input is completely computed (or has failed), in the order inputs finish."""
        outcomes = [_Outcome(name) for name, _ in inputs]
        estimates = self._estimated_windows(inputs)
        pool: list[_Piece] = []
        pooled = 0  # padded samples in the pool
        known = [estimate for estimate in estimates if estimate is not None]
        with torch.inference_mode(), self._progress(sum(known) if known else None) as progress:
            for outcome, (_, pieces), estimate in zip(outcomes, inputs, estimates):
                reader = pieces()
                try:
                    while True:
                        try:
                            index, start, end, samples = next(reader)
                        except StopIteration as stop:
                            outcome.num_samples = stop.value
                            break
                        piece = _Piece(outcome, index, start, end, samples, self._padded_width(len(samples)))
                        pool.append(piece)
                        pooled += piece.width
                        outcome.windows += 1
                        outcome.pending += 1
                        while pooled >= self.pool_samples or len(pool) >= POOL_BATCHES * self.batch_size:
                            batch = self._take_batch(pool)
                            pooled -= sum(piece.width for piece in batch)
                            self._compute(batch, compute, progress, on_finished)
                except AudioReadError as error:
                    outcome.fail(error.reason)
                    dropped = [piece for piece in pool if piece.outcome is outcome]
                    pool[:] = [piece for piece in pool if piece.outcome is not outcome]
                    pooled -= sum(piece.width for piece in dropped)
                    outcome.pending = 0
                    if dropped:
                        progress.update(len(dropped))
                outcome.read = True
                self._correct_total(progress, estimate, outcome.windows)
                if outcome.finished and on_finished is not None:
                    on_finished(outcome)
            while pool:
                self._compute(self._take_batch(pool), compute, progress, on_finished)
        return outcomes

    def _progress(self, total: int | None):
        # smoothing=0: the estimate is the average rate since the start, which the steady batches make a good one;
        # tqdm's default moving average swings with every batch of long or short windows.
        return tqdm(total=total, unit="window", disable=not self.show_progress, desc="exhubert", smoothing=0)

    @staticmethod
    def _correct_total(progress, estimate: int | None, actual: int) -> None:
        """The bar's total counts the header's estimate of an input's windows until the input has been read."""
        if progress.total is not None and actual != (estimate or 0):
            progress.total += actual - (estimate or 0)
            progress.refresh()

    def _estimated_windows(self, inputs) -> list[int | None]:
        """Windows to come per input, from the files' headers (None when unknown: signals, unreadable headers)."""
        estimates = []
        for name, _ in inputs:
            try:
                info = audio_info(name)
            except AudioReadError:
                estimates.append(None)
                continue
            samples = math.ceil(info.num_frames * self.sampling_rate / info.sampling_rate) if info.sampling_rate else 0
            estimates.append(window_count(max(samples, 1), self.window_samples, self.hop_samples))
        return estimates

    def _padded_width(self, length: int) -> int:
        # Without an attention mask the model sees the padding: every window is padded to the window length (at
        # least), so a window's result does not depend on the other windows of its batch.
        width = self.preprocessing.padded_length(length)
        return width if self.preprocessing.attention_mask else max(width, self.window_samples)

    def _take_batch(self, pool: list[_Piece]) -> list[_Piece]:
        """Removes and returns the next batch: the oldest window and those closest to it in length, at most
        `batch_size` and at most `max_batch_samples` padded samples (the oldest window always). A backend that
        runs one window at a time pads nothing, so it gets the oldest windows, in order."""
        if not self.backend.batched:
            batch = pool[: self.batch_size]
            del pool[: self.batch_size]
            return batch
        oldest = pool[0].width
        order = sorted(range(len(pool)), key=lambda position: (abs(pool[position].width - oldest), position))
        chosen, width = [], 0
        for position in order:
            wider = max(width, pool[position].width)
            if chosen and (len(chosen) == self.batch_size or wider * (len(chosen) + 1) > self.max_batch_samples):
                break
            chosen.append(position)
            width = wider
        taken = set(chosen)
        batch = [pool[position] for position in sorted(chosen)]
        pool[:] = [piece for position, piece in enumerate(pool) if position not in taken]
        return batch

    def _compute(self, batch: list[_Piece], compute, progress, on_finished=None) -> None:
        """Runs one batch and counts its windows on the progress bar."""
        for piece, output in zip(batch, compute(batch)):
            piece.outcome.outputs[piece.index] = (piece.start, piece.end, output)
        progress.update(len(batch))
        for piece in batch:
            piece.outcome.pending -= 1
            if piece.outcome.finished and on_finished is not None:
                on_finished(piece.outcome)

    def _groups(self, batch: list[_Piece]) -> list[list[_Piece]]:
        """What the backend runs at once: the batch, or one window at a time (see `backends`)."""
        return [batch] if self.backend.batched else [[piece] for piece in batch]

    def _inputs(self, batch: list[_Piece]) -> tuple[dict, torch.Tensor]:
        """The preprocessed model inputs of a batch of windows (NumPy), and each window's length in audio
        samples. One window alone is unpadded and needs no attention mask."""
        clips = [piece.samples for piece in batch]
        lengths = torch.tensor([max(len(clip), self.preprocessing.min_samples) for clip in clips])
        features = self.preprocessing(clips, pad_to=0 if self.preprocessing.attention_mask else self.window_samples)
        if len(batch) == 1:
            features.pop("attention_mask", None)
        return features, lengths

    def _window_outputs(self, batch: list[_Piece]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per window (class probabilities, dimensions or None), float64."""
        rows = []
        for group in self._groups(batch):
            features, _ = self._inputs(group)
            logits, dimensions = self.backend.outputs(features)
            probabilities = torch.softmax(logits, dim=-1).numpy().astype(np.float64)
            dimensions = [None] * len(group) if dimensions is None else dimensions.numpy().astype(np.float64)
            rows.extend(zip(probabilities, dimensions))
        return rows

    def _frame_sums(self, batch: list[_Piece], layer: int) -> list[tuple[np.ndarray, int]]:
        rows = []
        for group in self._groups(batch):
            features, lengths = self._inputs(group)
            hidden = self.backend.hidden_states(features, layer)
            rows.extend(frame_sums(hidden, self.model._get_feat_extract_output_lengths(lengths)))
        return rows

    def _predictions(self, outcomes: list[_Outcome]) -> Predictions:
        rate = self.sampling_rate
        files = []
        for outcome in outcomes:
            if outcome.error:
                files.append(FilePrediction(outcome.name, error=outcome.error))
                continue
            windows = [
                WindowPrediction(index, start / rate, end / rate, *output)
                for index, (start, end, output) in sorted(outcome.outputs.items())
            ]
            duration = max(outcome.num_samples, round(windows[-1].end * rate)) / rate
            files.append(FilePrediction(outcome.name, duration, windows))
        return Predictions(self.labels, files, self.metadata, self.dimensions)


def _device(device) -> torch.device:
    try:
        device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    except (RuntimeError, TypeError, ValueError):
        raise UsageError(f"unknown device {device!r}; use e.g. cpu, cuda or cuda:1") from None
    if device.type == "meta":
        raise UsageError("the meta device holds no data; use cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device} asked for, but CUDA is not available on this machine")
    return device


def _mean_embedding(outcome: _Outcome) -> np.ndarray:
    total = sum(output[0] for _, _, output in outcome.outputs.values())
    frames = sum(output[1] for _, _, output in outcome.outputs.values())
    return (total / frames).astype(np.float32)


__all__ = ["BLOCK_SECONDS", "MAX_BATCH_SECONDS", "POOL_SAMPLES", "EmotionPredictor"]

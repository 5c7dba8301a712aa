"""Streaming prediction: the windows of a stream fed in chunks of any size are the offline windows (bounds and
samples, with bounded memory), the model's results equal the offline ones (<= 1e-6), each window comes out before
the next chunk is read, and `exhubert predict - --stream` turns piped PCM into one line per window."""

import io
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from conftest import DATA, run_cli, save_tiny_model

from exhubert_hf.data.audio import read_audio
from exhubert_hf.inference import EmotionPredictor, window_bounds
from exhubert_hf.inference.streaming import StreamWindows

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EMODB = DATA / "emodb" / "wav"
URDU = DATA / "urdu"
needs_corpora = pytest.mark.skipif(not (EMODB.is_dir() and URDU.is_dir()), reason=f"EMO-DB / URDU not found under {DATA}")
# An EMO-DB clip (speaker 03, anger, 3.85 s): 61,559 samples, not a multiple of any hop used here.
CLIP = EMODB / "03b03Wc.wav"


def random_chunks(signal: np.ndarray, seed: int, largest: int):
    """`signal` cut at random places into chunks of 1..`largest` samples (sizes 1 and 2 included)."""
    rng = np.random.default_rng(seed)
    position, sizes = 0, [1, 2]
    while position < len(signal):
        size = sizes.pop() if sizes else int(rng.integers(1, largest + 1))
        yield signal[position : position + size]
        position += size


@pytest.mark.parametrize("window, hop", [(400, 400), (400, 150), (400, 399), (400, 1), (300, 500), (1, 1)])
@pytest.mark.parametrize("length", [1, 299, 400, 401, 1000, 1237])
def test_stream_windows_are_the_offline_windows(window, hop, length):
    signal = np.arange(length, dtype=np.float32)
    expected = list(window_bounds(length, window, hop))
    for seed, largest in ((0, 7), (1, 250), (2, 5000)):
        windows = StreamWindows(window, hop)
        got, most_kept = [], 0
        for chunk in random_chunks(signal, seed, largest):
            got += windows.push(chunk)
            most_kept = max(most_kept, len(windows.kept))
            assert most_kept <= window + len(chunk)  # memory: a window plus the latest chunk, whatever the length
        got += windows.finish()
        assert [(start, end) for _, start, end, _ in got] == expected
        assert [index for index, _, _, _ in got] == list(range(len(expected)))
        for _, start, end, samples in got:
            np.testing.assert_array_equal(samples, signal[start:end])


def test_an_empty_stream_has_no_windows():
    windows = StreamWindows(400, 200)
    assert windows.push(np.zeros(0, np.float32)) == [] and windows.finish() == []


@pytest.fixture(scope="module")
def predictors(tmp_path_factory):
    """Predictors of tiny layer-norm (attention mask) and group-norm (windows padded to the window) models, with
    hop < window and hop == window; small batches, so a chunk's windows go to the model in several batches."""
    layer_norm = save_tiny_model(tmp_path_factory.mktemp("stream-ln"))
    group_norm = save_tiny_model(tmp_path_factory.mktemp("stream-gn"), stable_layer_norm=False)
    return [
        EmotionPredictor(layer_norm, window=1.0, hop=0.35, batch_size=2, show_progress=False, backend="torch"),
        EmotionPredictor(layer_norm, window=0.8, batch_size=3, show_progress=False, backend="torch"),
        EmotionPredictor(group_norm, window=0.7, hop=0.3, batch_size=2, show_progress=False, backend="torch"),
    ]


def assert_same_windows(streamed, offline, tolerance=1e-6):
    assert [(w.index, w.start, w.end) for w in streamed] == [(w.index, w.start, w.end) for w in offline]
    difference = max(np.abs(a.probabilities - b.probabilities).max() for a, b in zip(streamed, offline))
    assert difference <= tolerance, difference


@needs_corpora
def test_streamed_results_equal_the_offline_results(predictors):
    signal = read_audio(CLIP, 16000)
    assert len(signal) == 61559
    for predictor in predictors:
        offline = predictor.predict_signal(signal, 16000).files[0].windows
        assert len(offline) >= 3 and offline[-1].end - offline[-1].start < predictor.window  # a shorter last window
        for seed, largest in ((0, 3000), (1, 40000), (2, 200000)):
            assert_same_windows(list(predictor.stream(random_chunks(signal, seed, largest), 16000)), offline)


@needs_corpora
def test_a_stream_at_another_rate_is_resampled_as_offline(predictors):
    path = sorted((URDU / "Angry").glob("*.wav"))[0]
    signal, rate = soundfile.read(path, dtype="float32")
    assert rate == 44100
    # a length where librosa (offline) pads soxr's output with a zero sample, which the stream must do as well
    signal = signal[: next(n for n in range(len(signal), 0, -1) if 0.05 < (n * 16000 / 44100) % 1 < 0.45)]
    predictor = predictors[0]
    offline = predictor.predict_signal(signal, rate).files[0].windows
    assert_same_windows(list(predictor.stream(random_chunks(signal, 3, 9000), rate)), offline)


def test_each_window_comes_out_before_the_next_chunk_is_read(predictors):
    predictor = predictors[1]  # 0.8 s windows, no overlap
    chunk = np.random.default_rng(0).standard_normal(1600).astype(np.float32)  # 0.1 s
    chunks_read = []

    def live(count):
        for number in range(count):
            chunks_read.append(number)
            yield chunk

    seen = [(window.index, len(chunks_read)) for window in predictor.stream(live(20), 16000)]
    # window k (0.8 s = 8 chunks) is complete with chunk 8(k+1) and yielded before chunk 8(k+1)+1 is asked for
    assert seen == [(0, 8), (1, 16), (2, 20)]


def test_bad_chunks_are_usage_errors(predictors):
    from exhubert_hf.errors import UsageError

    with pytest.raises(UsageError, match="NaN"):
        list(predictors[0].stream([np.full(100, np.nan)], 16000))
    with pytest.raises(UsageError, match="sampling rate"):
        list(predictors[0].stream([np.zeros(100)], 0))


@needs_corpora
def test_predict_stream_reads_piped_pcm_and_prints_each_window(predictors, tmp_path):
    """`exhubert predict - --stream` in a subprocess: the first line comes while standard input is still open,
    and every line equals the offline window result of the same PCM."""
    model = tmp_path / "model"
    predictors[0].model.save_pretrained(model)
    pcm = np.round(read_audio(CLIP, 16000) * 32768).astype("<i2")
    offline = predictors[0].predict_signal(pcm.astype(np.float32) / 32768, 16000).files[0].windows
    command = [sys.executable, "-m", "exhubert_hf", "predict", "-", "--stream", "--backend", "torch", "--model", model,
               "--window", "1", "--hop", "0.35", "--format", "jsonl"]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(list(map(str, command)), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    lines, stderr = queue.Queue(), []
    threading.Thread(target=lambda: [*map(lines.put, process.stdout), lines.put(None)], daemon=True).start()
    threading.Thread(target=lambda: stderr.append(process.stderr.read()), daemon=True).start()
    try:
        process.stdin.write(pcm[:20000].tobytes())  # 1.25 s: the first window is complete, the second not yet
        process.stdin.flush()
        first = lines.get(timeout=90)  # printed while standard input is still open
        assert first is not None, stderr
        process.stdin.write(pcm[20000:].tobytes())
        process.stdin.close()
        assert process.wait(timeout=90) == 0, stderr
    finally:
        process.kill()
    rest = list(iter(lambda: lines.get(timeout=10), None))
    rows = [json.loads(line) for line in [first, *rest]]
    assert len(rows) == len(offline)
    for row, window in zip(rows, offline):
        assert (row["file"], row["level"], row["window"]) == ("-", "window", window.index)
        assert abs(row["start"] - window.start) < 1e-9 and abs(row["end"] - window.end) < 1e-9
        assert max(abs(row[label] - p) for label, p in zip(predictors[0].labels, window.probabilities)) <= 1e-6
        assert row["top_class"] == predictors[0].labels[int(np.argmax(window.probabilities))]


def test_predict_stream_with_no_audio_exits_2(predictors, tmp_path, monkeypatch, capsys):
    model = tmp_path / "model"
    predictors[1].model.save_pretrained(model)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert run_cli(monkeypatch, "predict", "-", "--stream", "--backend", "torch", "--model", model) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip().endswith("exhubert predict: error: no audio on standard input")


@needs_corpora
@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_predict_stream_csv_and_table_lines(predictors, tmp_path, monkeypatch, capsys, fmt):
    model = tmp_path / "model"
    predictors[1].model.save_pretrained(model)
    pcm = np.round(read_audio(CLIP, 16000) * 32768).astype("<i2")
    offline = predictors[1].predict_signal(pcm.astype(np.float32) / 32768, 16000).files[0].windows
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pcm.tobytes())))
    assert run_cli(monkeypatch, "predict", "-", "--stream", "--backend", "torch", "--model", model, "--window", "0.8", "--format", fmt) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(offline)  # a header, then a line per window
    tops = [predictors[1].labels[int(np.argmax(window.probabilities))] for window in offline]
    if fmt == "csv":
        frame = pd.read_csv(io.StringIO("\n".join(lines)))
        assert list(frame.top_class) == tops and list(frame.end) == [window.end for window in offline]
    else:
        assert all(f"{window.start:8.2f} {window.end:8.2f}  {top} (" in line for line, window, top in zip(lines[1:], offline, tops))


def test_a_reused_chunk_buffer_does_not_change_windows():
    """Audio callbacks often fill the same buffer again; the windows must hold the samples as they came."""
    windows, buffer, got = StreamWindows(4, 4), np.zeros(3, np.float32), []
    for value in range(5):
        buffer[:] = value
        got += windows.push(buffer)
    got += windows.finish()
    np.testing.assert_array_equal(np.concatenate([samples for *_, samples in got]), np.repeat(np.arange(5), 3))

"""Prediction and embeddings: the EmoDB folder with a tiny random model, the windowing rule on generated
long files, padding regimes, agreement with the transformers pipeline, and the `predict` / `embed`
commands (formats, manifests, globs, a real subprocess). Nothing is downloaded."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile
import torch
from conftest import DATA, run_cli, save_tiny_model
from transformers import pipeline

from exhubert_hf import EXHUBERT_LABELS, ExHubertForSequenceClassification
from exhubert_hf.data.audio import audio_info, find_audio_files
from exhubert_hf.inference import EmotionPredictor, collect_audio_paths, window_bounds
from exhubert_hf.inference.backends import check_backend
from exhubert_hf.preprocessing import receptive_field

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EMODB = DATA / "emodb" / "wav"
needs_emodb = pytest.mark.skipif(not EMODB.is_dir(), reason=f"EmoDB not found at {EMODB}")
HIGH = [label for label in EXHUBERT_LABELS if label.startswith("high")]
VALENCE = {level: [label for label in EXHUBERT_LABELS if label.endswith(f"{level} valence")] for level in ("negative", "neutral", "positive")}


def write_tone(path, seconds, sampling_rate=16000, seed=0, **kwargs):
    generator = np.random.default_rng(seed)
    samples = round(seconds * sampling_rate)
    signal = 0.3 * np.sin(np.arange(samples) * 2 * np.pi * 220 / sampling_rate) + 0.05 * generator.standard_normal(samples)
    soundfile.write(path, signal.astype(np.float32), sampling_rate, **kwargs)
    return Path(path)


@pytest.fixture(scope="module")
def group_norm_model_folder(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model-group-norm"), stable_layer_norm=False)


@pytest.fixture(scope="module")
def predictor(model_folder):
    return EmotionPredictor(model_folder, show_progress=False, backend="torch")


@pytest.fixture(scope="module")
def emodb_predictions(predictor):
    return predictor.predict_folder(EMODB).to_frame()


def assert_consistent_probabilities(frame, tolerance=1e-5):
    good = frame[frame.error == ""]
    probabilities = good[list(EXHUBERT_LABELS)].to_numpy()
    assert np.isfinite(probabilities).all()
    assert np.abs(probabilities.sum(axis=1) - 1).max() <= tolerance
    assert np.abs(good.arousal - good[HIGH].sum(axis=1)).max() <= 1e-9
    for level, labels in VALENCE.items():
        assert np.abs(good[f"valence_{level}"] - good[labels].sum(axis=1)).max() <= 1e-9
    valence = good[[f"valence_{level}" for level in VALENCE]].sum(axis=1)
    assert np.abs(valence - 1).max() <= tolerance
    assert (good.top_class == good[list(EXHUBERT_LABELS)].idxmax(axis=1)).all()


@needs_emodb
def test_every_emodb_file_gets_a_file_row_and_its_windows(emodb_predictions):
    frame = emodb_predictions
    files = frame[frame.level == "file"]
    assert len(files) == len(find_audio_files(EMODB)) == 535
    assert (frame.error == "").all()
    assert_consistent_probabilities(frame)
    assert list(frame.columns[:5]) == ["file", "level", "window", "start", "end"]
    for path, rows in list(frame.groupby("file", sort=False))[:60]:
        info = audio_info(path)
        duration = info.num_frames / info.sampling_rate
        windows = rows[rows.level == "window"]
        assert len(windows) == 1 + math.ceil(max(info.num_frames - 48000, 0) / 48000)
        assert windows.window.tolist() == list(range(len(windows)))
        assert windows.start.tolist() == [3.0 * index for index in range(len(windows))]
        file_row = rows[rows.level == "file"].iloc[0]
        assert file_row.start == 0 and file_row.end == pytest.approx(duration, abs=1e-4)
        assert windows.end.iloc[-1] == pytest.approx(duration, abs=1e-4)
        weights = (windows.end - windows.start).to_numpy()
        expected = (windows[list(EXHUBERT_LABELS)].to_numpy() * weights[:, None]).sum(axis=0) / weights.sum()
        np.testing.assert_allclose(file_row[list(EXHUBERT_LABELS)].to_numpy(float), expected, atol=1e-9)


def test_window_rule_covers_the_signal_and_ends_with_a_shorter_window():
    assert list(window_bounds(100, 30, 30)) == [(0, 30), (30, 60), (60, 90), (90, 100)]
    assert list(window_bounds(90, 30, 15)) == [(0, 30), (15, 45), (30, 60), (45, 75), (60, 90)]
    assert list(window_bounds(10, 30, 15)) == [(0, 10)]
    assert list(window_bounds(1, 30, 15)) == [(0, 1)]
    assert list(window_bounds(100, 10, 40)) == [(0, 10), (40, 50), (80, 90)]  # hop > window skips audio
    for samples in range(1, 200, 7):
        for window, hop in ((30, 30), (30, 15), (30, 7), (16, 10)):
            bounds = list(window_bounds(samples, window, hop))
            assert len(bounds) == 1 + math.ceil(max(samples - window, 0) / hop)
            assert bounds[-1][1] == samples and all(end - start <= window for start, end in bounds)


@pytest.mark.parametrize(
    "seconds, hop, expected",
    [(60, 3.0, 20), (60, 1.5, 39), (61, 3.0, 21), (61, 1.5, 40)],
    ids=["60s-hop3", "60s-hop1.5", "61s-hop3", "61s-hop1.5"],
)
def test_long_file_window_counts(model_folder, tmp_path, seconds, hop, expected):
    path = write_tone(tmp_path / "long.wav", seconds)
    predictor = EmotionPredictor(model_folder, window=3.0, hop=hop, batch_size=16, show_progress=False, block_seconds=20)
    frame = predictor.predict_file(path).to_frame()
    windows = frame[frame.level == "window"]
    assert len(windows) == expected
    np.testing.assert_allclose(windows.start, hop * np.arange(expected))
    assert windows.end.iloc[-1] == pytest.approx(seconds)
    last_length = seconds - hop * (expected - 1)
    assert windows.end.iloc[-1] - windows.start.iloc[-1] == pytest.approx(min(3.0, last_length))
    assert_consistent_probabilities(frame)
    # Reading in 20 s blocks gives what one in-memory signal gives.
    whole = predictor.predict_signal(soundfile.read(path, dtype="float32")[0], 16000).to_frame()
    np.testing.assert_allclose(
        whole[list(EXHUBERT_LABELS)].to_numpy(), frame[list(EXHUBERT_LABELS)].to_numpy(), atol=1e-5
    )


@needs_emodb
@pytest.mark.parametrize("norm", ["layer", "group"])
def test_results_do_not_depend_on_the_batch(model_folder, group_norm_model_folder, norm):
    folder = model_folder if norm == "layer" else group_norm_model_folder
    files = find_audio_files(EMODB)[::45]
    frames = []
    for batch_size in (1, 7):
        predictor = EmotionPredictor(folder, batch_size=batch_size, show_progress=False, backend="torch")
        predictor.backend.batched = True  # as on a GPU (on a CPU windows go one at a time)
        frames.append(predictor.predict_files(files).to_frame())
    np.testing.assert_allclose(
        frames[0][list(EXHUBERT_LABELS)].to_numpy(), frames[1][list(EXHUBERT_LABELS)].to_numpy(), atol=1e-5
    )


def test_a_short_clip_gets_what_the_pipeline_gives(model_folder):
    clip = np.sin(np.arange(32000) / 7).astype(np.float32) * np.linspace(0, 1, 32000, dtype=np.float32)
    classifier = pipeline("audio-classification", model=str(model_folder), trust_remote_code=True)
    scores = {item["label"]: item["score"] for item in classifier(clip, top_k=None)}
    assert sorted(scores) == sorted(EXHUBERT_LABELS)
    assert abs(sum(scores.values()) - 1) <= 1e-5
    frame = EmotionPredictor(model_folder, show_progress=False, backend="torch").predict_signal(clip, 16000).to_frame()
    assert list(frame.level) == ["file", "window"]
    for label in EXHUBERT_LABELS:
        assert frame[label].iloc[0] == pytest.approx(scores[label], abs=1e-5)


def test_models_without_attention_mask_see_windows_zero_padded_to_the_window(group_norm_model_folder):
    predictor = EmotionPredictor(group_norm_model_folder, window=3.0, show_progress=False, backend="torch")
    assert not predictor.preprocessing.attention_mask
    clip = np.random.default_rng(1).standard_normal(16000).astype(np.float32)
    normalised = (clip - clip.mean()) / np.sqrt(clip.var() + 1e-7)
    padded = torch.from_numpy(np.pad(normalised, (0, 32000)))[None]
    with torch.no_grad():
        expected = predictor.model(padded).logits.softmax(-1)[0].numpy()
    frame = predictor.predict_signal(clip, 16000).to_frame()
    np.testing.assert_allclose(frame[list(EXHUBERT_LABELS)].iloc[0].to_numpy(float), expected, atol=1e-5)


@pytest.mark.parametrize("samples", [1, 160, 321, 322, 799])
def test_signals_shorter_than_the_receptive_field_are_padded(predictor, samples):
    assert receptive_field(predictor.model.config) == 1 + 9 + 7 * 8 + 4 * 64  # 322 samples
    signal = np.random.default_rng(samples).standard_normal(samples).astype(np.float32)
    frame = predictor.predict_signal(signal, 16000).to_frame()
    assert len(frame) == 2
    assert frame.end.iloc[0] == pytest.approx(samples / 16000)
    assert_consistent_probabilities(frame)


def test_signals_at_other_rates_and_with_channels(predictor):
    stereo = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32)
    frame = predictor.predict_signal(stereo, 44100).to_frame()
    assert frame.end.iloc[0] == pytest.approx(1.0, abs=1e-3)
    assert_consistent_probabilities(frame)
    with pytest.raises(ValueError, match="NaN"):
        predictor.predict_signal(np.array([0.0, np.nan], np.float32), 16000).to_frame()


def test_a_model_instance_is_accepted(model_folder):
    model = ExHubertForSequenceClassification.from_pretrained(model_folder)
    frame = EmotionPredictor(model, show_progress=False).predict_signal(np.ones(8000, np.float32), 16000).to_frame()
    assert_consistent_probabilities(frame)


@pytest.fixture(scope="module")
def few_files():
    return find_audio_files(EMODB)[:9] if EMODB.is_dir() else []


@needs_emodb
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_predict_outputs_parse_back(model_folder, few_files, tmp_path, monkeypatch, fmt, emodb_predictions):
    output = tmp_path / f"predictions.{fmt}"
    arguments = ["--format", fmt, "--output", output, "--backend", "torch", "--no-progress"]
    status = run_cli(monkeypatch, "predict", *few_files, "--model", model_folder, *arguments)
    assert status == 0
    if fmt == "csv":
        frame = pd.read_csv(output, keep_default_na=False, na_values={"window": [""]})
    else:
        frame = pd.read_json(output, lines=fmt == "jsonl", orient="records", dtype=False)
        frame["error"] = frame["error"].fillna("")
    assert len(frame[frame.level == "file"]) == len(few_files)
    assert_consistent_probabilities(frame)
    expected = emodb_predictions[emodb_predictions.file.isin(map(str, few_files))]
    np.testing.assert_allclose(frame[list(EXHUBERT_LABELS)].to_numpy(float), expected[list(EXHUBERT_LABELS)].to_numpy(), atol=1e-6)
    assert frame.file.tolist() == expected.file.tolist()


@needs_emodb
def test_predict_table_levels_and_overwrite(model_folder, few_files, tmp_path, monkeypatch, capsys):
    assert run_cli(monkeypatch, "predict", few_files[0], "--model", model_folder, "--no-progress") == 0
    table = capsys.readouterr().out
    assert few_files[0].name in table and "top_class" in table and "arousal" in table
    output = tmp_path / "files.csv"
    assert run_cli(monkeypatch, "predict", *few_files[:3], "--model", model_folder, "--level", "file", "-o", output, "--no-progress") == 0
    frame = pd.read_csv(output, keep_default_na=False)
    assert frame.level.tolist() == ["file"] * 3  # format from the suffix
    capsys.readouterr()
    assert run_cli(monkeypatch, "predict", few_files[0], "--model", model_folder, "-o", output, "--no-progress") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert run_cli(monkeypatch, "predict", few_files[0], "--model", model_folder, "-o", output, "--overwrite", "--no-progress") == 0
    assert len(pd.read_csv(output)) == 2


@needs_emodb
def test_int8_prediction_stays_close_to_float32(model_folder, few_files, tmp_path, monkeypatch, emodb_predictions):
    output = tmp_path / "int8.csv"
    assert run_cli(monkeypatch, "predict", *few_files, "--model", model_folder, "--backend", "int8", "-o", output, "--no-progress") == 0
    frame = pd.read_csv(output, keep_default_na=False, na_values={"window": [""]})
    assert_consistent_probabilities(frame)
    expected = emodb_predictions[emodb_predictions.file.isin(map(str, few_files))]
    assert frame.file.tolist() == expected.file.tolist()
    difference = np.abs(frame[list(EXHUBERT_LABELS)].to_numpy(float) - expected[list(EXHUBERT_LABELS)].to_numpy())
    assert 0 < difference.max() <= 0.02, "quantized, and close"
    with pytest.raises(ValueError, match="CPU only"):
        check_backend("int8", torch.device("cuda"))


@needs_emodb
def test_paths_from_folders_globs_and_manifests(few_files, tmp_path):
    folder = tmp_path / "nested" / "deeper"
    folder.mkdir(parents=True)
    for path in few_files[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (tmp_path / "list.txt").write_text(f"# a comment\n{few_files[2]}\n\nnested/deeper/{few_files[0].name}\n")
    (tmp_path / "list.csv").write_text(f"speaker,path\nx,{few_files[3]}\ny,{few_files[4]}\n")
    files, notes = collect_audio_paths(
        [str(tmp_path / "nested"), str(tmp_path / "list.txt"), str(tmp_path / "list.csv"), str(EMODB / "03a01F*.wav"), str(tmp_path / "*.nothing")]
    )
    assert files[:2] == [str(folder / few_files[0].name), str(folder / few_files[1].name)]
    assert files[2:5] == [str(few_files[2]), str(few_files[3]), str(few_files[4])]  # the .txt's second entry is a duplicate
    assert files[5:] == sorted(str(path) for path in EMODB.glob("03a01F*.wav"))
    assert notes == [f"no files match {tmp_path / '*.nothing'}"]


@needs_emodb
def test_predict_in_a_subprocess_through_the_cli_entry_point(model_folder, few_files, tmp_path):
    command = [sys.executable, "-m", "exhubert_hf"]
    arguments = ["predict", *map(str, few_files[:3]), "--model", str(model_folder), "--format", "jsonl", "--no-progress"]
    result = subprocess.run(command + arguments, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["file"] for record in records if record["level"] == "file"] == list(map(str, few_files[:3]))
    assert all(abs(sum(record[label] for label in EXHUBERT_LABELS) - 1) <= 1e-5 for record in records)


@needs_emodb
def test_embeddings_to_npy_and_parquet(model_folder, few_files, tmp_path, monkeypatch):
    files = few_files[:5]
    npy, parquet = tmp_path / "emb.npy", tmp_path / "emb.parquet"
    for output in (npy, parquet):
        assert run_cli(monkeypatch, "embed", *files, "--model", model_folder, "--output", output, "--backend", "torch", "--no-progress") == 0
    vectors = np.load(npy)
    assert vectors.shape == (5, 32) and vectors.dtype == np.float32
    assert (tmp_path / "emb.files.txt").read_text().splitlines() == list(map(str, files))
    table = pq.read_table(parquet)
    assert table.column_names == ["file", "embedding"]
    assert table.column("file").to_pylist() == list(map(str, files))
    np.testing.assert_allclose(np.array(table.column("embedding").to_pylist(), np.float32), vectors)
    assert table.schema.metadata[b"exhubert.layer"] == b"-1"
    assert table.schema.metadata[b"exhubert.backend"] == b"torch" and table.schema.metadata[b"exhubert.processes"] == b"1"
    # A clip shorter than the window is one unpadded window: the embedding is the mean of hidden_states[-1].
    model = ExHubertForSequenceClassification.from_pretrained(model_folder).eval()
    signal = soundfile.read(files[0], dtype="float32")[0]
    assert len(signal) < 48000
    normalised = torch.from_numpy((signal - signal.mean()) / np.sqrt(signal.var() + 1e-7))[None]
    with torch.no_grad():
        mask = torch.ones_like(normalised, dtype=torch.long)
        hidden = model.hubert(normalised, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
    np.testing.assert_allclose(vectors[0], hidden[0].mean(0).numpy(), atol=1e-5)


def test_long_embeddings_weight_windows_by_frames(predictor):
    signal = np.random.default_rng(0).standard_normal(16000 * 7).astype(np.float32)
    whole = predictor.embed_signal(signal, 16000, layer=1)
    parts = [signal[:48000], signal[48000:96000], signal[96000:]]
    frames = [predictor.model._get_feat_extract_output_lengths(torch.tensor(len(part))).item() for part in parts]
    vectors = [predictor.embed_signal(part, 16000, layer=1) for part in parts]
    expected = sum(frame * vector for frame, vector in zip(frames, vectors)) / sum(frames)
    np.testing.assert_allclose(whole, expected, atol=1e-5)
    assert whole.shape == (32,)


# ---------------------------------------------------------------------------------------------------------------------
# the engine: steady batches, a progress bar that counts windows as they finish, batches bounded by samples


class FakeClock:
    """The time tqdm sees; the fake backend below advances it as a model would (cost ~ padded samples)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TimedFakeBackend:
    name = description = reason = "fake"

    def __init__(self, clock, batched, seconds_per_sample=2e-5, seconds_per_call=0.01):
        self.clock, self.batched = clock, batched
        self.seconds_per_sample, self.seconds_per_call = seconds_per_sample, seconds_per_call
        self.shapes = []

    def outputs(self, features):
        batch, width = features["input_values"].shape
        self.shapes.append((batch, width))
        self.clock.now += self.seconds_per_sample * batch * width + self.seconds_per_call
        return torch.zeros(batch, len(EXHUBERT_LABELS)), None


@pytest.fixture
def recorded_progress(monkeypatch):
    """Every progress-bar update as (fake time, windows done, total, tqdm's estimate of the time left, increment)."""
    import io

    import tqdm.std

    import exhubert_hf.inference.predictor as predictor_module

    clock, records = FakeClock(), []
    monkeypatch.setattr(tqdm.std, "time", clock)

    class RecordingBar(tqdm.std.tqdm):
        monitor_interval = 0

        def __init__(self, *args, **kwargs):
            super().__init__(*args, file=io.StringIO(), **kwargs)

        def update(self, n=1):
            super().update(n)
            info = self.format_dict
            rate = info["rate"] or (info["n"] / info["elapsed"] if info["elapsed"] else None)  # as tqdm's format_meter
            records.append((clock.now, info["n"], info["total"], (info["total"] - info["n"]) / rate if rate else None, n))

    monkeypatch.setattr(predictor_module, "tqdm", RecordingBar)
    return clock, records


@pytest.fixture(scope="module")
def long_and_short_files(tmp_path_factory):
    """120 files in a repeating pattern of one 9 s file (three 3 s windows) and four of 0.25 s, and one broken
    file: 20 % of the files hold most of the audio, the worst case for an estimate made from the first windows
    when the long windows go first."""
    folder = tmp_path_factory.mktemp("long-and-short")
    paths = []
    for number in range(120):
        seconds = 9.0 if number % 5 == 0 else 0.25
        paths.append(write_tone(folder / f"{number:03d}.wav", seconds, seed=number))
    (folder / "broken.wav").write_bytes(b"RIFF not really")
    paths.insert(37, folder / "broken.wav")
    return paths


@pytest.mark.parametrize("batched", [False, True], ids=["one-window-at-a-time", "batched"])
def test_progress_counts_windows_as_they_finish_and_its_estimate_holds(model_folder, long_and_short_files, recorded_progress, batched):
    clock, records = recorded_progress
    predictor = EmotionPredictor(model_folder, batch_size=8, show_progress=True, backend="torch", pool_samples=2**19)
    predictor.backend = TimedFakeBackend(clock, batched)
    predictions = predictor.predict_files(long_and_short_files)
    assert len(predictions.failed) == 1
    windows = 24 * 3 + 96
    assert records[-1][1] == records[-1][2] == windows  # the total is exact once the files have been read
    assert sum(record[4] for record in records) == windows
    assert all(0 < record[4] <= 8 for record in records) and len(records) >= windows / 8  # one update per batch
    end = clock.now
    for now, done, total, estimate, _ in records:
        if 0.1 * total <= done <= 0.9 * total:  # after the first 10 %, while there is time left to estimate
            assert 0.5 <= estimate / (end - now) <= 2.0, (done, estimate, end - now)
    # results arrive while files are still being read: the first batch is done long before the last file is
    first_update = records[0][0]
    assert first_update < 0.25 * end


def test_a_huge_batch_size_is_bounded_by_samples(model_folder):
    signal = np.random.default_rng(0).standard_normal(16000 * 600).astype(np.float32)  # 10 minutes: 200 windows
    results = {}
    for batch_size in (8, 100000):
        predictor = EmotionPredictor(model_folder, batch_size=batch_size, show_progress=False, backend="torch")
        predictor.backend.batched = True  # as on a GPU
        shapes = []
        outputs = predictor.backend.outputs

        def recording(features, outputs=outputs, shapes=shapes):
            shapes.append(features["input_values"].shape)
            return outputs(features)

        predictor.backend.outputs = recording
        results[batch_size] = predictor.predict_signal(signal, 16000).to_frame()[list(EXHUBERT_LABELS)].to_numpy()
        assert max(rows * width for rows, width in shapes) <= 48 * 16000
        assert sum(rows for rows, _ in shapes) == 200
    assert max(rows for rows, _ in shapes) == 16  # 48 s of 3 s windows
    np.testing.assert_allclose(results[8], results[100000], atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------------
# several processes


@needs_emodb
def test_accelerate_launch_shards_the_files_and_writes_what_one_process_writes(model_folder, few_files, tmp_path, monkeypatch):
    """Two CPU processes (gloo) split the files in order, gather the results, and the main process writes the
    one output: equal to the single-process run, failures included (exit status 0 under the launcher)."""
    import socket

    (tmp_path / "broken.wav").write_bytes(b"not audio")
    files = [*map(str, few_files[:4]), str(tmp_path / "broken.wav"), *map(str, few_files[4:7])]
    single = tmp_path / "single.csv"
    assert run_cli(monkeypatch, "predict", *files, "--model", model_folder, "-o", single, "--no-progress") == 1
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        port = handle.getsockname()[1]
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
    ]  # fmt: skip
    sharded = tmp_path / "sharded.csv"
    environment = {key: value for key, value in os.environ.items() if key not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    command = [*launch, "-m", "exhubert_hf", "predict", *files, "--model", str(model_folder), "-o", str(sharded), "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, env={**environment, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes" in result.stderr and result.stderr.count("broken.wav: not a readable audio file") == 1
    expected, actual = (pd.read_csv(path).fillna({"error": ""}) for path in (single, sharded))
    assert actual.file.tolist() == expected.file.tolist()
    # the decoder's exception name in the reason depends on what the process imported before, not on sharding
    assert [error.split(" (")[0] for error in actual.error] == [error.split(" (")[0] for error in expected.error]
    assert (actual.error != "").sum() == 1
    np.testing.assert_allclose(actual[list(EXHUBERT_LABELS)].to_numpy(float), expected[list(EXHUBERT_LABELS)].to_numpy(float), atol=1e-5)


def test_the_engine_reports_each_input_once_as_soon_as_it_is_finished(predictor, tmp_path):
    """`_run(..., on_finished=...)`: every input once, failed ones included, each when all its windows are done."""
    long, short = write_tone(tmp_path / "long.wav", 20.0), write_tone(tmp_path / "short.wav", 1.0)
    (tmp_path / "broken.wav").write_bytes(b"RIFF")
    names = [str(long), str(tmp_path / "broken.wav"), str(short)]
    finished = []

    def on_finished(outcome):
        assert outcome.read and outcome.pending == 0
        assert outcome.error or len(outcome.outputs) == outcome.windows
        finished.append(outcome.name)

    inputs = [(name, lambda name=name: predictor._file_pieces(name)) for name in names]
    outcomes = predictor._run(inputs, predictor._window_outputs, on_finished=on_finished)
    assert sorted(finished) == sorted(names) and len(finished) == 3
    assert [len(outcome.outputs) for outcome in outcomes] == [7, 0, 1]

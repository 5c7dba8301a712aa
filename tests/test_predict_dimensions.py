"""Predicting a dimensional head's arousal, valence and dominance (issue 17) on real EMO-DB clips with tiny random
ExHuBERTs: per window and per file (the duration-weighted mean over windows, as the class probabilities), equal to
the model's own forward pass for a one-window file, beside the unchanged class probabilities and marginals, alone
for a model without classes, from every backend, streamed as offline, in every output of `exhubert predict`, in
the timelines and the app; embeddings do not change."""

import io
import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DATA, run_cli, save_tiny_model
from transformers import Wav2Vec2FeatureExtractor

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.data.audio import read_audio
from exhubert_hf.inference import EmotionPredictor
from exhubert_hf.inference.results import EmotionMarginals
from exhubert_hf.inference.timeline import timeline_figure

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(not (DATA / "emodb" / "wav").is_dir(), reason=f"EMO-DB not found under {DATA}"),
]
DIMENSIONS = ["arousal", "valence", "dominance"]
COLUMNS = [f"dim_{name}" for name in DIMENSIONS]
EMODB = DATA / "emodb" / "wav"
LONG, SHORT = EMODB / "03b02Tb.wav", EMODB / "03a01Fa.wav"  # 5.13 s: five windows of 2 s every 1 s; 1.90 s: one
WINDOWING = dict(window=2.0, hop=1.0)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny ExHuBERTs expanded from one random HuBERT (so one encoder and one six-class head): without dimensions,
    with a dimensional head, and with the dimensions only (`num_labels=0`)."""
    root = tmp_path_factory.mktemp("models")
    return {
        "plain": save_tiny_model(root / "plain"),
        "dims": save_tiny_model(root / "dims", dimensions=DIMENSIONS),
        "only": save_tiny_model(root / "only", dimensions=DIMENSIONS, num_labels=0),
    }


@pytest.fixture(scope="module")
def predictors(folders):
    return {name: EmotionPredictor(folder, backend="torch", show_progress=False, **WINDOWING) for name, folder in folders.items()}


@pytest.fixture(scope="module")
def predicted(predictors):
    return {name: predictor.predict_files([LONG, SHORT]) for name, predictor in predictors.items()}


def frame_values(frame: pd.DataFrame, columns) -> np.ndarray:
    return frame[list(columns)].to_numpy(float)


def test_per_file_dimensions_are_the_duration_weighted_mean_of_the_windows(predicted):
    predictions = predicted["dims"]
    assert predictions.dimensions == DIMENSIONS
    long = predictions.files[0]
    windows = np.stack([window.dimensions for window in long.windows])
    durations = np.array([window.end - window.start for window in long.windows])
    assert windows.shape == (5, 3) and durations[-1] < durations[0]  # a shorter last window: weights matter
    assert np.ptp(windows, axis=0).min() > 1e-3  # the windows differ, so the mean is no accident
    np.testing.assert_allclose(long.dimensions, np.average(windows, axis=0, weights=durations), rtol=0, atol=1e-12)
    frame = predictions.to_frame()
    assert list(frame.columns[-4:]) == [*COLUMNS, "error"]
    rows = frame[frame.file == str(LONG)]
    np.testing.assert_array_equal(frame_values(rows[rows.level == "file"], COLUMNS)[0], long.dimensions)
    np.testing.assert_array_equal(frame_values(rows[rows.level == "window"], COLUMNS), windows)


@pytest.mark.parametrize("name", ["dims", "only"])
def test_a_one_window_file_gets_the_models_own_forward_output(name, folders, predicted):
    item = predicted[name].files[1]
    assert len(item.windows) == 1
    model = ExHubertForSequenceClassification.from_pretrained(folders[name]).eval()
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(folders[name])
    inputs = extractor(read_audio(SHORT, 16000), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        outputs = model(inputs["input_values"])
    np.testing.assert_allclose(item.dimensions, outputs.dimensions[0].numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(item.probabilities, torch.softmax(outputs.logits[0], -1).numpy(), rtol=0, atol=1e-6)


def test_the_class_probabilities_and_marginals_stay_and_a_model_without_dimensions_has_none(predicted):
    with_dimensions, without = predicted["dims"].to_frame(), predicted["plain"].to_frame()
    assert list(with_dimensions.columns) == [*without.columns[:-1], *COLUMNS, "error"]
    assert not [column for column in without.columns if column.startswith("dim_")]
    assert all(item.dimensions is None and item.windows[0].dimensions is None for item in predicted["plain"].files)
    shared = [*predicted["plain"].labels, *EmotionMarginals(predicted["plain"].labels).columns()]
    assert len(shared) == 10  # the six classes, P(high arousal) and three valence levels: the same head, unchanged
    np.testing.assert_array_equal(frame_values(with_dimensions, shared), frame_values(without, shared))
    assert list(with_dimensions.top_class) == list(without.top_class)


def test_a_model_with_dimensions_only_predicts_them_alone(predictors, predicted):
    assert predictors["only"].labels == [] and predictors["only"].dimensions == DIMENSIONS
    frame = predicted["only"].to_frame()
    assert list(frame.columns) == ["file", "level", "window", "start", "end", *COLUMNS, "error"]
    assert len(frame) == 2 + 5 + 1 and np.isfinite(frame_values(frame, COLUMNS)).all()
    assert ((frame_values(frame, COLUMNS) > 0) & (frame_values(frame, COLUMNS) < 1)).all()


# Measured on these clips (dims model, 2 s windows every 1 s): the largest difference from float32 torch was 1.2e-7 for
# onnx, 0.003 for bf16, 0.005 for onnx-int8 and 0.007 for int8 (the dimensional head itself stays float32).
@pytest.mark.parametrize("backend, tolerance", [("onnx", 1e-5), ("bf16", 0.02), ("int8", 0.02), ("onnx-int8", 0.02)])
def test_every_backend_returns_the_dimensions(backend, tolerance, folders, predicted, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXHUBERT_HF_CACHE", str(tmp_path_factory.getbasetemp() / "onnx-cache"))  # one export for both
    predictions = EmotionPredictor(folders["dims"], backend=backend, show_progress=False, **WINDOWING).predict_files([LONG, SHORT])
    expected = frame_values(predicted["dims"].to_frame(), COLUMNS)
    actual = frame_values(predictions.to_frame(), COLUMNS)
    assert np.abs(actual - expected).max() <= tolerance


def test_batched_windows_get_the_dimensions_they_get_alone(folders, predicted):
    """The GPU path (torch and bf16 batch windows, padded with an attention mask), run here on the CPU."""
    predictor = EmotionPredictor(folders["dims"], backend="torch", show_progress=False, batch_size=8, **WINDOWING)
    predictor.backend.batched = True  # as on a GPU
    outputs, rows = predictor.backend.outputs, []
    predictor.backend.outputs = lambda features: rows.append(len(features["input_values"])) or outputs(features)
    batched = frame_values(predictor.predict_files([LONG, SHORT]).to_frame(), COLUMNS)
    assert rows == [6] and "attention_mask" in predictor.preprocessing([np.zeros(400, np.float32)])
    assert np.abs(batched - frame_values(predicted["dims"].to_frame(), COLUMNS)).max() <= 1e-5


def test_a_model_with_dimensions_only_runs_quantized(folders, predicted):
    predictions = EmotionPredictor(folders["only"], backend="int8", show_progress=False, **WINDOWING).predict_files([LONG, SHORT])
    assert list(predictions.to_frame().columns) == list(predicted["only"].to_frame().columns)
    assert np.abs(frame_values(predictions.to_frame(), COLUMNS) - frame_values(predicted["only"].to_frame(), COLUMNS)).max() <= 0.02


def test_exhubert_export_writes_the_dimensions_of_a_model_without_classes(folders, tmp_path, monkeypatch, capsys):
    from exhubert_hf.inference.export import OnnxAudioClassifier

    assert run_cli(monkeypatch, "export", folders["only"], tmp_path / "only.onnx") == 0
    onnx_model = OnnxAudioClassifier(tmp_path / "only.onnx")
    assert onnx_model.output_names == ["logits", "dimensions"]
    audio = read_audio(SHORT, 16000)[None]
    logits, dimensions = onnx_model.outputs(audio)
    with torch.no_grad():
        expected = ExHubertForSequenceClassification.from_pretrained(folders["only"]).eval()(torch.from_numpy(audio))
    assert logits.shape == (1, 0) and np.abs(dimensions - expected.dimensions.numpy()).max() <= 1e-5


def test_streamed_dimensions_equal_the_offline_ones(predictors):
    signal = read_audio(LONG, 16000)
    offline = predictors["dims"].predict_signal(signal, 16000).files[0].windows
    streamed = list(predictors["dims"].stream(np.array_split(signal, 7), 16000))
    assert len(streamed) == len(offline) == 5
    np.testing.assert_allclose(np.stack([w.dimensions for w in streamed]), np.stack([w.dimensions for w in offline]), atol=1e-6)


@pytest.mark.parametrize("name, header", [("dims", "top class (probability)"), ("only", "dimensions")])
def test_predict_stream_prints_the_dimensions(name, header, folders, predictors, monkeypatch, capsys):
    pcm = np.round(read_audio(SHORT, 16000) * 32768).astype("<i2")
    offline = predictors[name].predict_signal(pcm.astype(np.float32) / 32768, 16000).files[0].windows
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pcm.tobytes())))
    arguments = ["predict", "-", "--stream", "--backend", "torch", "--model", folders[name], "--window", "2", "--hop", "1"]
    assert run_cli(monkeypatch, *arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    assert header in lines[0] and len(lines) == 1 + len(offline) == 2
    values = " ".join(f"{column} {value:.3f}" for column, value in zip(COLUMNS, offline[0].dimensions))
    assert lines[1].endswith(values)


@pytest.mark.parametrize("name", ["plain", "dims", "only"])
def test_predict_writes_the_dimensions_in_every_format_and_plots_them(name, folders, predicted, tmp_path, monkeypatch):
    common = ["predict", LONG, SHORT, "--model", folders[name], "--backend", "torch", "--window", "2", "--hop", "1", "--no-progress"]
    assert run_cli(monkeypatch, *common, "--output", tmp_path / "out.csv", "--plot", tmp_path / "plots") == 0
    assert run_cli(monkeypatch, *common, "--output", tmp_path / "out.json") == 0
    expected = predicted[name].to_frame()
    for written in (pd.read_csv(tmp_path / "out.csv"), pd.DataFrame(json.loads((tmp_path / "out.json").read_text()))):
        assert list(written.columns) == list(expected.columns)
        if name != "plain":
            np.testing.assert_allclose(frame_values(written, COLUMNS), frame_values(expected, COLUMNS), rtol=1e-14)
    plots = sorted(path.name for path in (tmp_path / "plots").iterdir())
    assert plots == ["03a01Fa.wav.png", "03b02Tb.wav.png", *["summary.png"] * (name != "only")]


def test_timelines_show_the_dimensions(predicted):
    dims, only = predicted["dims"], predicted["only"]
    figure = timeline_figure(dims.files[0], dims.labels, "m", dims.files[0].dimension_series(DIMENSIONS))
    panel = figure.axes[-1]
    assert len(figure.axes) == 4 and panel.get_ylabel() == "dimensions"
    assert [line.get_label() for line in panel.get_lines()] == DIMENSIONS
    np.testing.assert_array_equal(panel.get_lines()[2].get_ydata(), [w.dimensions[2] for w in dims.files[0].windows])
    alone = timeline_figure(only.files[0], only.labels, "m", only.files[0].dimension_series(DIMENSIONS))
    assert len(alone.axes) == 1 and alone.axes[0].get_ylabel() == "dimensions"
    assert f"dominance {only.files[0].dimensions[2]:.2f}" in alone._suptitle.get_text()


def test_the_app_shows_the_whole_file_dimensions(predictors):
    from exhubert_hf.app import analyse

    for name in ("dims", "only"):
        item = predictors[name].predict_file(SHORT).files[0]
        summary, probabilities, arousal, _, _ = analyse(predictors[name], "m", str(SHORT))
        assert summary.endswith(", ".join(f"{n} **{value:.2f}**" for n, value in zip(DIMENSIONS, item.dimensions)))
        assert (probabilities is None) == (name == "only") and (arousal is None) == (name == "only")


def test_embeddings_do_not_depend_on_the_heads(predictors):
    plain, only = (predictors[name].embed_files([LONG, SHORT]) for name in ("plain", "only"))
    assert plain.vectors.shape == (2, 32)
    np.testing.assert_array_equal(plain.vectors, only.vectors)

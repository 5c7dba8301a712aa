"""Emotion timelines: `exhubert predict --plot DIR` draws a 60 s recording's course (PNG size, panels, window
centres, the class colours in the pixels), a summary for several files, unique names, no overwriting without
--overwrite, and the hook for continuous dimensions."""

from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import DATA, run_cli
from matplotlib.colors import to_hex
from PIL import Image

from exhubert_hf import EXHUBERT_LABELS
from exhubert_hf.data.synthetic import make_speakers, synthesize_clip
from exhubert_hf.errors import UsageError
from exhubert_hf.inference import EmotionPredictor, FilePrediction, WindowPrediction
from exhubert_hf.inference.timeline import CLASS_COLOURS, SUMMARY_NAME, timeline_figure, timeline_names

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EMODB = DATA / "emodb" / "wav"
needs_emodb = pytest.mark.skipif(not EMODB.is_dir(), reason=f"EMO-DB not found at {EMODB}")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """60 s of synthetic speech whose class changes every 5 s."""
    speaker, rng = make_speakers("timeline", 1, seed=0)[0], np.random.default_rng(0)
    signal = np.concatenate([synthesize_clip(number % 6, speaker, rng, duration=5.0) for number in range(12)])
    path = tmp_path_factory.mktemp("recording") / "course.wav"
    soundfile.write(path, signal, 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def predictor(model_folder):
    return EmotionPredictor(model_folder, show_progress=False)


def colour_present(image: np.ndarray, hex_colour: str, tolerance: int = 4) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(image[..., :3].astype(int) - rgb).max(axis=-1) <= tolerance).any())


def test_a_60_s_timeline_png_shows_the_classes_and_the_marginals(model_folder, recording, tmp_path, monkeypatch, predictor):
    plots = tmp_path / "plots"
    assert run_cli(monkeypatch, "predict", recording, "--model", model_folder, "--plot", plots, "--no-progress") == 0
    assert sorted(path.name for path in plots.iterdir()) == ["course.wav.png"]  # one file: no summary
    png = plots / "course.wav.png"
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape == (803, 1100, 3)  # 10 x 7.3 inches at 110 dpi: classes, arousal and valence panels
    assert 20_000 < png.stat().st_size < 400_000
    for colour in CLASS_COLOURS.values():  # every class's area shows (a random model gives each some probability)
        assert colour_present(image, colour), colour

    figure = timeline_figure(predictor.predict_file(recording).files[0], predictor.labels, str(model_folder))
    classes, arousal, valence = figure.axes
    assert classes.get_xlim() == (0.0, 60.0) and classes.get_ylim() == (0.0, 1.0)
    assert [axes.get_ylabel() for axes in figure.axes] == ["class probability", "arousal", "valence"]
    assert valence.get_xlabel().startswith("time [s]")
    areas = classes.collections
    assert len(areas) == 6 and len(valence.collections) == 3
    x = areas[0].get_paths()[0].vertices[:, 0]
    assert (x.min(), x.max()) == (1.5, 58.5)  # 20 windows of 3 s, drawn at their centres
    assert [text.get_text() for text in classes.get_legend().get_texts()][-1].replace("\n", " ") == EXHUBERT_LABELS[0]
    title = figure.texts[0].get_text()
    assert "course.wav" in title and str(model_folder) in title and "20 windows of 3 s" in title
    # the axes drawn in the PNG: the classes panel's bottom spine is a dark line across its width
    left, bottom, right, top = (round(value) for value in classes.get_window_extent().extents)
    row = image[image.shape[0] - bottom - 1 : image.shape[0] - bottom + 2, left + 5 : right - 5]
    assert (row.min(axis=0).max(axis=-1) < 80).all()


@needs_emodb
def test_a_folder_gets_a_timeline_per_file_and_a_summary(model_folder, recording, tmp_path, monkeypatch, predictor):
    folder = tmp_path / "in"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    for name, target in (("03a01Fa.wav", "a/x.wav"), ("03a01Wa.wav", "b/x.wav"), ("03a01Nc.wav", "b/y.wav")):
        (folder / target).write_bytes((EMODB / name).read_bytes())
    plots = tmp_path / "plots"
    assert run_cli(monkeypatch, "predict", folder, "--model", model_folder, "--plot", plots, "--no-progress") == 0
    assert sorted(path.relative_to(plots).as_posix() for path in plots.rglob("*.png")) == [
        "a/x.wav.png", "b/x.wav.png", "b/y.wav.png", SUMMARY_NAME]  # fmt: skip
    assert Image.open(plots / SUMMARY_NAME).size[0] == 1100

    before = (plots / SUMMARY_NAME).read_bytes()
    assert run_cli(monkeypatch, "predict", folder / "a", "--model", model_folder, "--plot", plots) == 2  # exists
    assert (plots / SUMMARY_NAME).read_bytes() == before
    assert run_cli(monkeypatch, "predict", folder / "a", "--model", model_folder, "--plot", plots, "--overwrite", "--no-progress") == 0
    assert sorted(path.name for path in plots.iterdir()) == ["x.wav.png"]


def test_summary_bars_are_top_class_shares(predictor, recording):
    from exhubert_hf.inference.timeline import summary_figure

    predictions = predictor.predict_files([recording, recording.parent / "missing.wav"])
    figure = summary_figure(predictions, "tiny")
    bars = figure.axes[0].patches
    assert len(bars) == 6 * 2  # six classes x (all files, the one good file)
    widths = np.array([bar.get_width() for bar in bars]).reshape(6, 2)
    np.testing.assert_allclose(widths.sum(axis=0), 1.0)
    windows = predictions.files[0].windows
    tops = np.bincount([int(np.argmax(window.probabilities)) for window in windows], minlength=6)
    np.testing.assert_allclose(widths[:, 1], tops / len(windows))  # equal windows: the share of windows


def test_dimensions_get_a_panel_of_their_own():
    windows = [WindowPrediction(index, index * 2.0, index * 2.0 + 2, np.full(6, 1 / 6)) for index in range(4)]
    item = FilePrediction("x.wav", 8.0, windows)
    figure = timeline_figure(item, list(EXHUBERT_LABELS), "m", dimensions={"valence": [0.1, 0.2, 0.3, 0.4]})
    assert len(figure.axes) == 4 and figure.axes[3].get_ylabel() == "dimensions"
    np.testing.assert_allclose(figure.axes[3].lines[0].get_ydata(), [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(UsageError, match="3 values for 4 windows"):
        timeline_figure(item, list(EXHUBERT_LABELS), "m", dimensions={"valence": [0.1, 0.2, 0.3]})
    other = timeline_figure(item, ["a", "b", "c", "d", "e", "f"], "m")  # not the six classes: no marginals
    assert len(other.axes) == 1


def test_reference_segments_are_a_band_in_the_class_colours():
    windows = [WindowPrediction(index, index * 2.0, index * 2.0 + 2, np.full(6, 1 / 6)) for index in range(4)]
    item = FilePrediction("x.wav", 8.0, windows)
    reference = [(0.0, 3.0, EXHUBERT_LABELS[3]), (3.0, 8.0, EXHUBERT_LABELS[5])]
    figure = timeline_figure(item, list(EXHUBERT_LABELS), "m", reference=reference)
    band = figure.axes[0]
    assert len(figure.axes) == 4 and band.get_ylabel() == "reference"
    spans = [(patch.get_x(), patch.get_x() + patch.get_width(), to_hex(patch.get_facecolor())) for patch in band.patches]
    assert spans == [(0.0, 3.0, CLASS_COLOURS[EXHUBERT_LABELS[3]]), (3.0, 8.0, CLASS_COLOURS[EXHUBERT_LABELS[5]])]
    with pytest.raises(UsageError, match="not the model's labels"):
        timeline_figure(item, list(EXHUBERT_LABELS), "m", reference=[(0.0, 1.0, "anger")])


def test_timeline_names_are_unique():
    names = timeline_names(["/r/a/x.wav", "/r/b/x.wav", "/r/x.flac", "/r/summary"])
    assert names == {"/r/a/x.wav": "a/x.wav.png", "/r/b/x.wav": "b/x.wav.png", "/r/x.flac": "x.flac.png",
                     "/r/summary": "summary-1.png"}  # fmt: skip
    assert timeline_names([str(Path("one.wav").resolve())]) == {str(Path("one.wav").resolve()): "one.wav.png"}

"""`predict` on a folder of broken and unusual files: the broken ones are reported by path and reason,
the others predicted, exit status 1; nothing to do gives exit status 2; a one-hour file is processed in
bounded memory."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from audio_matrix import bad_files, tone, write_good_files
from conftest import DATA, run_cli

from exhubert_hf import EXHUBERT_LABELS
from exhubert_hf.inference import EmotionPredictor

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EMODB = DATA / "emodb" / "wav"
GOOD_EMODB = ["03a01Fa.wav", "03a01Nc.wav", "08b02Wa.wav"]


def build_mixed_folder(folder: Path) -> tuple[dict, list, dict]:
    """Bad files (name -> expected words in the reason), good files (names relative to `folder`) and the
    durations of the generated good ones: the shared bad-input matrix plus random bytes, a nested folder
    with spaces and non-ASCII characters, and real EMO-DB clips."""
    folder.mkdir(parents=True, exist_ok=True)
    durations = write_good_files(folder)
    bad = {name: reason for name, reason in bad_files(folder).items() if (folder / name).is_file()}
    (folder / "random bytes.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    bad["random bytes.wav"] = "not a readable audio file"
    (folder / "späces ünd ñames").mkdir()
    soundfile.write(folder / "späces ünd ñames" / "äudio 声.wav", tone(16000, seconds=1.25), 16000)
    durations["späces ünd ñames/äudio 声.wav"] = 1.25
    good = list(durations)
    for name in GOOD_EMODB:
        if (EMODB / name).is_file():
            (folder / name).write_bytes((EMODB / name).read_bytes())
            good.append(name)
    return bad, good, durations


def test_bad_files_are_reported_and_the_others_predicted(model_folder, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "mixed"
    bad, good, expected_durations = build_mixed_folder(folder)
    output = tmp_path / "predictions.csv"
    status = run_cli(monkeypatch, "predict", folder, "--model", model_folder, "--output", output, "--no-progress")
    assert status == 1
    stderr = capsys.readouterr().err
    assert f"{len(bad)} of {len(bad) + len(good)} files failed" in stderr
    for name, reason in bad.items():
        line = next(line for line in stderr.splitlines() if line.strip().startswith(str(folder / name)))
        assert reason in line
    frame = pd.read_csv(output)
    frame[["error", "top_class"]] = frame[["error", "top_class"]].fillna("")
    files = frame[frame.level == "file"].set_index("file")
    assert set(files.index) == {str(folder / name) for name in [*bad, *good]}
    for name, reason in bad.items():
        row = files.loc[str(folder / name)]
        assert reason in row.error and row[list(EXHUBERT_LABELS)].isna().all() and row.top_class == ""
        assert not (frame[frame.file == str(folder / name)].level == "window").any()
    predicted = files.loc[[str(folder / name) for name in good]]
    assert (predicted.error == "").all()
    probabilities = predicted[list(EXHUBERT_LABELS)].to_numpy(float)
    assert np.isfinite(probabilities).all() and np.abs(probabilities.sum(axis=1) - 1).max() <= 1e-5
    durations = predicted.end.to_dict()
    assert durations[str(folder / "one sample.wav")] == pytest.approx(1 / 16000)
    assert durations[str(folder / "10 ms.wav")] == pytest.approx(0.01)
    for name, duration in expected_durations.items():
        assert durations[str(folder / name)] == pytest.approx(duration, abs=1e-3), name


def test_the_api_never_raises_for_bad_files(model_folder, tmp_path):
    bad, good, _ = build_mixed_folder(tmp_path / "mixed")
    paths = [tmp_path / "mixed" / name for name in [*bad, *good]] + [tmp_path / "does not exist.wav", tmp_path]
    frame = EmotionPredictor(model_folder, show_progress=False).predict_files(paths).to_frame()
    errors = frame[frame.level == "file"].set_index("file").error
    assert errors[str(tmp_path / "does not exist.wav")] == "no such file"
    assert errors[str(tmp_path)] == "not a file"
    assert (errors != "").sum() == len(bad) + 2
    embeddings = EmotionPredictor(model_folder, show_progress=False).embed_files(paths)
    assert len(embeddings.files) == len(good) and set(embeddings.failed) == set(errors[errors != ""].index)
    assert np.isfinite(embeddings.vectors).all()


def test_nothing_to_do_is_exit_status_2(model_folder, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty folder").mkdir()
    (tmp_path / "empty folder" / "notes.txt").write_text("not audio")
    assert run_cli(monkeypatch, "predict", tmp_path / "empty folder", "--model", model_folder, "--no-progress") == 2
    err = capsys.readouterr().err
    assert "no audio files" in err and str(tmp_path / "empty folder") in err
    assert run_cli(monkeypatch, "predict", tmp_path / "*.wav", "--model", model_folder, "--no-progress") == 2
    assert "no files match" in capsys.readouterr().err
    empty_manifest = tmp_path / "manifest.txt"
    empty_manifest.write_text("# nothing\n")
    assert run_cli(monkeypatch, "embed", empty_manifest, "--model", model_folder, "-o", tmp_path / "e.npy", "--no-progress") == 2
    assert "lists no files" in capsys.readouterr().err


def test_a_missing_model_is_exit_status_2(tmp_path, monkeypatch, capsys):
    soundfile.write(tmp_path / "a.wav", tone(16000), 16000)
    status = run_cli(monkeypatch, "predict", tmp_path / "a.wav", "--model", tmp_path / "no-model-here", "--no-progress")
    assert status == 2
    assert "no-model-here: folder not found" in capsys.readouterr().err
    (tmp_path / "not-a-model").mkdir()
    assert run_cli(monkeypatch, "predict", tmp_path / "a.wav", "--model", tmp_path / "not-a-model", "--no-progress") == 2


def test_usage_errors_are_exit_status_2(model_folder, tmp_path, monkeypatch, capsys):
    soundfile.write(tmp_path / "a.wav", tone(16000), 16000)
    assert run_cli(monkeypatch, "predict", tmp_path / "a.wav", "--model", model_folder, "--window", "0") == 2
    assert run_cli(monkeypatch, "embed", tmp_path / "a.wav", "--model", model_folder, "-o", tmp_path / "e.csv") == 2
    assert ".npy or .parquet" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        run_cli(monkeypatch, "predict", "--model", model_folder)  # no PATH
    assert exit_info.value.code == 2


HOUR_CHECK = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from exhubert_hf.inference import EmotionPredictor
    folder, path = sys.argv[1], sys.argv[2]
    predictor = EmotionPredictor(folder, window=3.0, batch_size=8, show_progress=False)
    # warm-up: a minute of audio in memory (full batches, the allocator's pools filled)
    predictor.predict_signal(np.random.default_rng(0).standard_normal(16000 * 60).astype(np.float32), 16000).to_frame()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    frame = predictor.predict_file(path).to_frame()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    windows = frame[frame.level == "window"]
    print(json.dumps({
        "increase_bytes": (after - before) * 1024, "windows": len(windows), "end": float(frame.end.iloc[0]),
        "errors": int((frame.error != "").sum()), "last_start": float(windows.start.iloc[-1]),
    }))
    """
)


def test_a_one_hour_file_is_predicted_in_bounded_memory(model_folder, tmp_path):
    """One hour of 16 kHz int16 (115 MB on disk, 230 MB decoded as float32), 3 s windows: the peak RSS of
    the predicting process grows by less than a quarter of the decoded size (about 30 MB in practice:
    60 s blocks and at most ~262 s of windows waiting for the model)."""
    path = tmp_path / "one hour.wav"
    generator = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as audio:
        for _ in range(60):
            minute = 0.3 * np.sin(np.arange(16000 * 60) * 0.08) + 0.05 * generator.standard_normal(16000 * 60)
            audio.write(minute.astype(np.float32))
    assert path.stat().st_size > 115_000_000
    result = subprocess.run(
        [sys.executable, "-c", HOUR_CHECK, str(model_folder), str(path)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["errors"] == 0
    assert measured["windows"] == 1200 and measured["end"] == pytest.approx(3600.0)
    assert measured["last_start"] == pytest.approx(3597.0)
    decoded_bytes = 3600 * 16000 * 4
    assert measured["increase_bytes"] < decoded_bytes / 4, measured

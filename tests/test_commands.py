"""The exit statuses and error lines of every sub-command: an expected error is one line on stderr and exit
status 2 (no traceback, nothing written); a batch where some inputs fail exits 1 and reports each of them."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
from conftest import DATA, run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EMODB = DATA / "emodb" / "wav"
needs_emodb = pytest.mark.skipif(not EMODB.is_dir(), reason=f"no EMO-DB under {DATA}")


def tone(seconds=1.0):
    return (0.3 * np.sin(np.arange(int(16000 * seconds)) * 2 * np.pi * 220 / 16000)).astype(np.float32)


@pytest.fixture
def inputs(tmp_path):
    """A good clip, a bad one and a mixed folder, in tmp_path."""
    soundfile.write(tmp_path / "good.wav", tone(), 16000)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(tmp_path / "good.wav", mixed / "good.wav")
    shutil.copy(tmp_path / "bad.wav", mixed / "bad.wav")
    (tmp_path / "empty").mkdir()
    (tmp_path / "folder.onnx").mkdir()
    (tmp_path / "existing.onnx").write_bytes(b"keep me")
    return tmp_path


# (sub-command arguments, words the error line must contain); "{model}" and "{tmp}" are filled in.
EXPECTED_ERRORS = [
    (["demo", "--data-root", "{tmp}/no-corpora-here"], "not an existing folder"),
    (["train", "--config", "no-such-config"], "no such file and no bundled config"),
    (["train", "--config", "{tmp}/broken.yaml"], "not valid YAML"),
    (["train", "--config", "stage1_emoset", "--corpora", "vivae={tmp}"], "stage 1 would train on vivae"),
    (["table2", "--output", "{tmp}/grid"], "give the target corpora"),
    (["table2", "jl_corpus={tmp}", "--output", "{tmp}/grid"], "start from the stage-1 model"),
    (["table2", "jl_corpus={tmp}", "--output", "{tmp}/grid", "--columns", "huge"], "unknown Table 2 column"),
    (["table2", "--smoke", "jl_corpus={tmp}", "--output", "{tmp}/grid"], "makes its own synthetic targets"),
    (["prepare", "emodbx={tmp}"], "unknown corpus"),
    (["prepare", "emodb={tmp}", "--own-splits", "esd"], "not among the corpora given"),
    (["prepare", "emodb={tmp}/missing"], "not an existing folder"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--window", "nan"], "window must be a positive, finite number"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--window", "1e400"], "window must be a positive, finite number"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--window", "inf"], "window must be a positive, finite number"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--hop", "-1"], "hop must be a positive, finite number"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--max-batch-seconds", "0"], "max_batch_seconds must be a positive"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--device", "nonsense"], "unknown device"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--device", "meta"], "the meta device holds no data"),
    pytest.param(
        ["predict", "{tmp}/good.wav", "--model", "{model}", "--device", "cuda"], "CUDA is not available",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here"),
    ),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--batch-size", "x"], "--batch-size must be a whole number"),
    (["predict", "{tmp}/good.wav", "--model", "{tmp}/no-model"], "folder not found"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "-o", "{tmp}"], "exists"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "-o", "{tmp}/empty"], "is a folder"),
    (["predict", "{tmp}/bad.wav", "--model", "{model}"], "none of the 1 files could be used"),
    (["embed", "{tmp}/good.wav", "--model", "{model}", "-o", "{tmp}/e.npy", "--layer", "99"], "layer 99 does not exist"),
    (["embed", "{tmp}/good.wav", "--model", "{model}", "-o", "{tmp}/e.csv"], "must end in .npy or .parquet"),
    (["embed", "{tmp}/good.wav", "--model", "{model}", "-o", "{tmp}/e.npy", "--device", "meta"], "the meta device holds no data"),
    (["push", "org/name", "{tmp}/no-folder", "--dry-run"], "not a folder"),
    (["push", "{tmp}", "org/name", "--dry-run"], "cannot be pushed"),  # FOLDER REPO_ID: the folder is checked
    (["export-model", "{tmp}/no-folder", "{tmp}/out"], "not a folder"),
    (["pull", "not a valid repo id!"], "Repo id"),
    (["pull", "org/name", "--revision", ""], "the revision is empty"),
    (["model-card", "{tmp}/no-folder"], "is not a folder"),
    (["convert-official", "{tmp}/no-folder", "{tmp}/out"], "folder not found"),
    (["export", "{tmp}/no-model", "{tmp}/model.onnx"], "folder not found"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--plot", "{tmp}/good.wav"], "exists"),
    (["predict", "-", "--model", "{model}"], "read with --stream"),
    (["predict", "{tmp}/good.wav", "--model", "{model}", "--stream"], "give - as the only PATH"),
    (["predict", "-", "--stream", "--model", "{model}", "--format", "json"], "one line per window"),
    (["predict", "-", "--stream", "--model", "{model}", "--plot", "{tmp}/plots"], "--plot cannot be used with --stream"),
    (["app", "--model", "{model}", "--port", "70000"], "--port must be 0..65535"),
    (["export", "{tmp}/good.wav", "{tmp}/model.onnx"], "is a file, not a model folder"),
    (["export", "{tmp}/mixed", "{tmp}/model.onnx"], "cannot load the unknown model"),
    (["export", "{model}", "{tmp}/model.txt"], "must be a .onnx file name"),
    (["export", "{model}", "{tmp}/folder.onnx"], "is a folder"),
    (["export", "{model}", "{tmp}/existing.onnx"], "exists; pass --overwrite"),
]


def _case_id(case) -> str:
    arguments = case.values[0] if hasattr(case, "values") else case[0]
    return " ".join(arguments[:1] + arguments[-2:])


@pytest.mark.parametrize("arguments, words", EXPECTED_ERRORS, ids=[_case_id(case) for case in EXPECTED_ERRORS])
def test_an_expected_error_is_one_line_and_exit_status_2(arguments, words, inputs, model_folder, monkeypatch, capsys):
    (inputs / "broken.yaml").write_text("learning_rate: [1, \n")
    before = sorted(path.name for path in inputs.iterdir())
    filled = [argument.format(model=model_folder, tmp=inputs) for argument in arguments]
    status = run_cli(monkeypatch, *filled, *(["--no-progress"] if filled[0] in ("predict", "embed", "prepare") else []))
    error = capsys.readouterr().err
    lines = [line for line in error.splitlines() if line.startswith(f"exhubert {filled[0]}: error:")]
    assert status == 2, error
    assert len(lines) == 1 and words in lines[0], error
    assert "Traceback" not in error
    assert sorted(path.name for path in inputs.iterdir()) == before  # nothing written


@needs_emodb
def test_a_partly_failed_batch_exits_1_and_names_each_failure(inputs, model_folder, monkeypatch, capsys, tmp_path):
    for arguments in (
        ["predict", inputs / "mixed", "--model", model_folder, "-o", tmp_path / "p.csv"],
        ["embed", inputs / "mixed", "--model", model_folder, "-o", tmp_path / "e.npy"],
    ):
        assert run_cli(monkeypatch, *arguments, "--no-progress") == 1
        assert f"{inputs / 'mixed' / 'bad.wav'}: not a readable audio file" in capsys.readouterr().err
    corpus = tmp_path / "emodb"
    (corpus / "wav").mkdir(parents=True)
    for path in sorted(EMODB.glob("*.wav"))[:40]:
        shutil.copy(path, corpus / "wav" / path.name)
    (corpus / "wav" / "03a01Wz.wav").write_bytes(b"broken")
    assert run_cli(monkeypatch, "prepare", f"emodb={corpus}", "--cache-dir", tmp_path / "cache", "--no-progress") == 1
    assert "03a01Wz.wav: not a readable audio file" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    command = [sys.executable, "-m", "exhubert_hf", "--debug", "prepare", f"emodbx={tmp_path}"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr and "CorpusSpecError" in result.stderr


def test_python_m_runs_the_same_command_line():
    result = subprocess.run([sys.executable, "-m", "exhubert_hf", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("demo", "train", "table2", "prepare", "predict", "embed", "push", "pull", "export-model", "model-card", "convert-official", "export", "app"):
        assert command in result.stdout

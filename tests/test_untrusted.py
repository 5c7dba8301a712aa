"""Files from strangers, as an attacker would build them in a temporary folder (issue 14, items 1-3).

1. Model folders must not run code: every hostile module writes a marker file when imported, and the marker
   proves that predict, embed, export, push --dry-run and train (stage 2 from the folder) ran none of it; the
   one command given --trust-remote-code for a foreign model type does run it (the marker works).
2. push refuses pickles (by content, whatever the name) and secrets (any file, size, encoding), naming the file
   and the reason; symbolic links leaving the folder are refused.
3. Weights that do not fit (a headless classifier, a stray tensor, a truncated file, another hidden_size, pickle
   weights only) are one error line and exit status 2, for predict and push alike.
"""

import bz2
import gzip
import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import soundfile
import torch
from conftest import run_cli, save_tiny_model
from safetensors.torch import load_file, save_file

from exhubert_hf import ExHubertForSequenceClassification, ExHubertModel
from exhubert_hf.data.synthetic import generate_corpus
from exhubert_hf.hub.model_card import write_model_card
from exhubert_hf.hub.push import FolderRefused, check_folder
from exhubert_hf.hub.scan import pickle_kind, secrets_in
from exhubert_hf.train.arguments import parse_training_arguments
from exhubert_hf.train.run import run_finetuning

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fake_token(prefix="hf_", length=34) -> str:
    # Assembled at run time so that no token-shaped string sits in the repository.
    return prefix + ("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" * 2)[:length]


def marker_code(marker: Path, what: str) -> str:
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text({what!r})\n"


class WritesMarker:
    """Unpickling this runs `Path(marker).write_text("pickle")`."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return Path.write_text, (self.marker, "pickle")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    write_model_card(folder, repo_id="org/tiny")
    return folder


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "MARKER"


@pytest.fixture
def hostile_exhubert(tiny, tmp_path, marker):
    """An `exhubert` folder whose remote-code files, and a module its preprocessor config names, write the marker."""
    folder = Path(shutil.copytree(tiny, tmp_path / "hostile"))
    for name in ("modeling_exhubert.py", "configuration_exhubert.py"):
        (folder / name).write_text(marker_code(marker, name) + (folder / name).read_text())
    (folder / "evil.py").write_text(marker_code(marker, "evil.py"))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"]["AutoFeatureExtractor"] = "evil.Extractor"
    (folder / "config.json").write_text(json.dumps(config))
    preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**preprocessor, "auto_map": {"AutoFeatureExtractor": "evil.Extractor"}}))
    return folder


@pytest.fixture
def foreign_model(tiny, tmp_path, marker):
    """A folder of a model type this package does not know, whose auto_map module writes the marker."""
    folder = tmp_path / "foreign"
    folder.mkdir()
    shutil.copy(tiny / "model.safetensors", folder)
    shutil.copy(tiny / "preprocessor_config.json", folder)
    config = json.loads((tiny / "config.json").read_text())
    config.update(model_type="evilnet", auto_map={"AutoConfig": "evil_model.EvilConfig", "AutoModelForAudioClassification": "evil_model.EvilModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil_model.py").write_text(
        marker_code(marker, "evil_model.py")
        + "from transformers import PretrainedConfig, PreTrainedModel\n\n\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evilnet'\n\n\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n"
    )
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    manifest = generate_corpus(root, "synth", num_speakers=3, clips_per_class=1, split_speakers=(1, 1, 1), duration=0.6)
    return f"manifest:synth={manifest}", root / "cache"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "clip.wav"
    soundfile.write(path, (0.3 * np.sin(np.arange(16000) / 7)).astype(np.float32), 16000)
    return path


def train_stage2(model, corpus, output_dir):
    entry, cache = corpus
    arguments = [
        "--model_name_or_path", str(model), "--stage", "stage2", "--corpora", entry, "--cache_dir", str(cache),
        "--output_dir", str(output_dir), "--max_steps", "1", "--per_device_train_batch_size", "2",
        "--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none", "--use_cpu", "true",
        "--dataloader_pin_memory", "false", "--disable_tqdm", "true",
    ]  # fmt: skip
    return run_finetuning(*parse_training_arguments(arguments), quiet=True)


def error_lines(capsys, command) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"exhubert {command}: error:")]


# ---------------------------------------------------------------------------------------------------------------------
# 1. No code from model folders


@pytest.mark.parametrize("command", ["predict", "predict --trust-remote-code", "embed", "export", "push --dry-run"])
def test_no_command_runs_code_from_an_exhubert_folder(command, hostile_exhubert, marker, clip, tmp_path, monkeypatch, capsys):
    from exhubert_hf.inference import export

    # The ONNX conversion itself is tested in test_export.py; here what matters is how the folder is loaded.
    monkeypatch.setattr(export, "export_onnx", lambda model, path, **kwargs: Path(path).write_bytes(b"onnx") and Path(path))
    words = command.split()
    arguments = {
        "predict": [clip, "--model", hostile_exhubert, "--no-progress", *words[1:]],
        "embed": [clip, "--model", hostile_exhubert, "--no-progress", "-o", tmp_path / "e.npy"],
        "export": [hostile_exhubert, tmp_path / "model.onnx"],
        "push": ["org/x", hostile_exhubert, "--dry-run"],
    }[words[0]]
    status = run_cli(monkeypatch, words[0], *arguments)
    assert not marker.exists(), f"{command} ran {marker.read_text()} from the model folder"
    if words[0] == "push":
        error = capsys.readouterr().err
        assert status == 2 and "auto_map must be exactly this package's" in error and "preprocessor_config.json: names code" in error
    else:
        assert status == 0, capsys.readouterr().err  # loaded with this package's classes


def test_training_from_a_hostile_exhubert_folder_runs_none_of_its_code(hostile_exhubert, marker, corpus, tmp_path):
    summary = train_stage2(hostile_exhubert, corpus, tmp_path / "run")
    assert isinstance(summary["trainer"].model, ExHubertForSequenceClassification)
    assert not marker.exists(), f"training ran {marker.read_text()} from the model folder"


@pytest.mark.parametrize("command", ["predict", "embed", "export", "push --dry-run", "train"])
def test_a_foreign_model_type_is_refused_without_trust_remote_code(command, foreign_model, marker, clip, corpus, tmp_path, monkeypatch, capsys):
    name = command.split()[0]
    if name == "train":
        with pytest.raises(Exception, match="evilnet"):
            train_stage2(foreign_model, corpus, tmp_path / "run")
    else:
        arguments = {
            "predict": [clip, "--model", foreign_model, "--no-progress"],
            "embed": [clip, "--model", foreign_model, "--no-progress", "-o", tmp_path / "e.npy"],
            "export": [foreign_model, tmp_path / "model.onnx"],
            "push": ["org/x", foreign_model, "--dry-run"],
        }[name]
        assert run_cli(monkeypatch, name, *arguments) == 2
        error = capsys.readouterr().err
        assert ("--trust-remote-code" in error) if name != "push" else ("model_type 'evilnet'" in error), error
    assert not marker.exists(), f"{command} ran {marker.read_text()} from the model folder"


def test_the_marker_proves_code_runs_when_the_user_trusts_the_folder(foreign_model, marker, clip, monkeypatch, capsys):
    run_cli(monkeypatch, "predict", clip, "--model", foreign_model, "--no-progress", "--trust-remote-code")
    capsys.readouterr()
    assert marker.read_text() == "evil_model.py"


# ---------------------------------------------------------------------------------------------------------------------
# 2. Pickles and secrets, by content


def torch_zip() -> bytes:
    buffer = io.BytesIO()
    torch.save({"step": torch.zeros(2)}, buffer)
    return buffer.getvalue()


def object_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def joblib_dump(tmp_path, **options) -> bytes:
    joblib.dump({"model": [1, 2]}, tmp_path / "dump", **options)
    return (tmp_path / "dump").read_bytes()


def safetensors_with_metadata(tmp_path) -> bytes:
    save_file({"w": torch.zeros(4)}, tmp_path / "x.safetensors", metadata={"note": f"token {fake_token()}"})
    return (tmp_path / "x.safetensors").read_bytes()


# (file name, its content (bytes, or a function of tmp_path), what the refusal must say)
ATTACKS = [
    ("notes.md", b"key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "a private key"),
    ("setup.sh", f"export GITHUB_TOKEN={fake_token('ghp_', 36)}\n".encode(), "a GitHub token"),
    ("aws.txt", b"[default]\naws_access_key_id = AKIA" + b"Q2WE3RT4YU5IO6PA" + b"\n", "an AWS access key id"),
    ("kaggle.json", b'{"username": "me", "key": "0123456789abcdef0123456789abcdef"}', "named like a file that holds credentials"),
    (".envrc", b"export X=1\n", "named like a file that holds credentials"),
    ("prod.env", b"X=1\n", "named like a file that holds credentials"),
    ("extra.safetensors", safetensors_with_metadata, "a Hugging Face access token"),
    ("train.log", b"loss 0.1\n" * 200_000 + f"HF_TOKEN={fake_token()}\n".encode(), "a Hugging Face access token"),
    ("blob.dat", b"\x00\x01binary\x00" + fake_token().encode(), "a Hugging Face access token"),
    ("notes_utf16.txt", f"my token: {fake_token()}".encode("utf-16"), "a Hugging Face access token"),
    ("checkpoint.pth.tar", lambda _: torch_zip(), "a zip archive holding a pickle (archive/data.pkl"),
    ("model.joblib", lambda tmp: joblib_dump(tmp, compress=3), "zlib data holding a pickle"),
    ("model_plain.joblib", lambda tmp: joblib_dump(tmp), "a pickle (protocol"),
    ("data.pkl.gz", gzip.compress(pickle.dumps({"a": 1})), "gzip data holding a pickle"),
    ("data.pkl.bz2", bz2.compress(pickle.dumps({"a": 1})), "bzip2 data holding a pickle"),
    ("session.dill", pickle.dumps({"a": 1}, protocol=2), "a pickle (protocol 2)"),
    ("features.npy", lambda _: object_npy(), "a NumPy array of Python objects"),
    ("readme_not.txt", pickle.dumps({"a": 1}, protocol=5), "a pickle (protocol 5)"),
    ("legacy.txt", pickle.dumps(WritesMarker("/nonexistent/marker"), protocol=0), "a pickle (protocol 0 or 1)"),
]


@pytest.mark.parametrize("name, content, reason", ATTACKS, ids=[name for name, _, _ in ATTACKS])
def test_push_refuses_pickles_and_secrets_by_content_naming_the_file(name, content, reason, tiny, tmp_path, monkeypatch, capsys):
    folder = Path(shutil.copytree(tiny, tmp_path / "model"))
    data = content(tmp_path) if callable(content) else content
    (folder / name).write_bytes(data)
    assert run_cli(monkeypatch, "push", "org/x", folder, "--dry-run") == 2
    error = capsys.readouterr().err
    assert f"{name}: " in error and reason in error.split(f"{name}: ", 1)[1], error
    assert fake_token() not in error and "Q2WE3RT4YU5IO6PA" not in error  # the secret is never repeated


def test_a_link_leaving_the_folder_is_refused_and_one_inside_is_checked(tiny, tmp_path):
    secret = tmp_path / "id_ed25519"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    folder = Path(shutil.copytree(tiny, tmp_path / "model"))
    (folder / "notes.txt").symlink_to(secret)
    with pytest.raises(FolderRefused, match="notes.txt: a symbolic link to a file outside the folder"):
        check_folder(folder, load=False)
    (folder / "notes.txt").unlink()
    (folder / "dangling.txt").symlink_to(tmp_path / "nothing")
    with pytest.raises(FolderRefused, match="dangling.txt: a symbolic link whose target does not exist"):
        check_folder(folder, load=False)
    (folder / "dangling.txt").unlink()
    (folder / "card.md").symlink_to(folder / "README.md")  # inside the folder: uploaded as the file, and scanned
    (folder / "corpora").symlink_to(tmp_path, target_is_directory=True)  # a linked folder is not followed
    assert "card.md" in [path for path, _ in check_folder(folder, load=False)]
    assert not any(path.startswith("corpora/") for path, _ in check_folder(folder, load=False))


def test_ordinary_files_are_not_mistaken_for_pickles_or_secrets(tiny, tmp_path):
    folder = Path(shutil.copytree(tiny, tmp_path / "model"))
    np.save(folder / "embeddings.npy", np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32))
    with zipfile.ZipFile(folder / "examples.zip", "w") as archive:
        archive.writestr("a.txt", "risk-assessment-of-speech-emotion-recognition-systems-in-production\n")
    (folder / "notes.md").write_text("Use `hf_hub_download`, the env var HF_TOKEN, ghp_ prefixes and sk- keys.\n" * 3)
    (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)
    names = [path for path, _ in check_folder(folder)]
    assert {"embeddings.npy", "examples.zip", "notes.md", "plot.png"} <= set(names)
    assert pickle_kind(folder / "model.safetensors") is None and secrets_in(folder / "model.safetensors") == []


def test_a_secret_split_across_read_blocks_is_found(tmp_path, monkeypatch):
    from exhubert_hf.hub import scan

    monkeypatch.setattr(scan, "BLOCK", 64)
    path = tmp_path / "log.txt"
    path.write_bytes(b"x\n" * 59 + f" {fake_token()}\n".encode())  # the token starts 120 bytes in, across a block end
    assert secrets_in(path) == ["a Hugging Face access token (hf_...)"]


# ---------------------------------------------------------------------------------------------------------------------
# 3. Weights that do not fit the model


def without_head(folder):
    state = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in state.items() if not k.startswith(("projector.", "classifier."))}, folder / "model.safetensors", {"format": "pt"})


def with_stray_tensor(folder):
    state = load_file(folder / "model.safetensors")
    save_file({**state, "hubert.encoder.extra.weight": torch.zeros(2)}, folder / "model.safetensors", {"format": "pt"})


def truncated(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def other_hidden_size(folder):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 64}))


def pickle_weights_only(folder, marker=None):
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    payload = {**state, "evil": WritesMarker(marker)} if marker else state
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(payload))


# (damage, what predict says, what push --dry-run says)
DAMAGES = [
    (without_head, "missing keys: classifier.bias, classifier.weight, projector.bias, projector.weight", "does not load"),
    (with_stray_tensor, "unexpected keys: hubert.encoder.extra.weight", "does not load"),
    (truncated, "cannot load the exhubert model", "does not load"),
    (other_hidden_size, "other shapes than config.json says", "does not load"),
    (pickle_weights_only, "no model.safetensors; it has only pytorch_model.bin", "pytorch_model.bin: a pickle"),
    ("malicious pickle weights", "no model.safetensors; it has only pytorch_model.bin", "pytorch_model.bin: a pickle"),
]


@pytest.mark.parametrize("damage, message, refusal", DAMAGES, ids=[getattr(d, "__name__", d) for d, _, _ in DAMAGES])
def test_weights_that_do_not_fit_are_one_line_and_exit_2(damage, message, refusal, tiny, marker, clip, tmp_path, monkeypatch, capsys):
    folder = Path(shutil.copytree(tiny, tmp_path / "model"))
    pickle_weights_only(folder, marker) if isinstance(damage, str) else damage(folder)
    assert run_cli(monkeypatch, "predict", clip, "--model", folder, "--no-progress") == 2
    (line,) = error_lines(capsys, "predict")
    assert message in line and str(folder) in line
    assert run_cli(monkeypatch, "push", "org/x", folder, "--dry-run") == 2
    assert refusal in capsys.readouterr().err
    assert not marker.exists()


def test_from_pretrained_is_strict_except_where_a_new_head_or_the_encoder_is_asked_for(tiny, tmp_path):
    folder = Path(shutil.copytree(tiny, tmp_path / "model"))
    without_head(folder)
    with pytest.raises(ValueError, match="missing keys: classifier.bias"):
        ExHubertForSequenceClassification.from_pretrained(folder)
    fresh = ExHubertForSequenceClassification.from_pretrained(folder, ignore_mismatched_sizes=True)
    assert fresh.classifier.out_features == 6  # the caller asked for a new head
    encoder = ExHubertModel.from_pretrained(tiny)  # the encoder of a classifier's folder leaves the head out
    reference = ExHubertForSequenceClassification.from_pretrained(tiny)
    assert all(torch.equal(tensor, reference.hubert.state_dict()[key]) for key, tensor in encoder.state_dict().items())
    with_stray_tensor(folder := Path(shutil.copytree(tiny, tmp_path / "stray")))
    with pytest.raises(ValueError, match="unexpected keys: .*encoder.extra.weight"):
        ExHubertModel.from_pretrained(folder)

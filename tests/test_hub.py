"""`push` and `pull` without a network: the dry-run file list, refusals (incomplete or unloadable folders, code
that is not this package's), the upload calls with HfApi recorded, an unreachable Hub, and `pull` offline from a
Hub-style cache. The attacks (pickles, secrets, links, folder code) are in test_untrusted.py."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
from huggingface_hub.utils import filter_repo_objects
from transformers import AutoModelForAudioClassification, HubertForSequenceClassification

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.commands import main as exhubert_main
from exhubert_hf.hub.model_card import write_model_card
from exhubert_hf.hub.pull import pull_from_hub
from exhubert_hf.hub.push import FolderRefused, check_folder, push_to_hub
from exhubert_hf.modeling_exhubert import default_feature_extractor
from exhubert_hf.testing import tiny_hubert_config

MODEL_FILES = ["README.md", "config.json", "configuration_exhubert.py", "model.safetensors", "modeling_exhubert.py", "preprocessor_config.json"]
RESULTS = {"split": "test", "per_corpus": {"emodb": {"uar": 0.61, "wa": 0.64, "num_clips": 107}}, "mean": {"uar": 0.61, "wa": 0.64}}


def fake_token() -> str:
    # Assembled at run time so that no token-shaped string sits in the repository.
    return "hf" + "_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def run_cli(monkeypatch, *argv) -> int:
    return exhubert_main([str(arg) for arg in argv])


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "model"
    torch.manual_seed(0)
    model = ExHubertForSequenceClassification.from_hubert(HubertForSequenceClassification(tiny_hubert_config()))
    model.save_pretrained(folder)
    write_model_card(folder, results=RESULTS, repo_id="org/tiny")
    return folder


@pytest.fixture
def model_folder(saved_model, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(saved_model, folder)
    return folder


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    for name in ("create_repo", "create_branch", "upload_folder", "repo_info", "create_commit", "preupload_lfs_files"):
        monkeypatch.setattr(HfApi, name, refuse)


def listed_files(stdout: str) -> dict[str, int]:
    lines = [line.split(None, 1) for line in stdout.splitlines()[1:] if line.strip() and not line.startswith("commit")]
    return {path: int(size) for size, path in lines}


def test_dry_run_lists_exactly_the_files_to_upload(model_folder, monkeypatch, capsys, no_network):
    (model_folder / ".git").mkdir()
    (model_folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (model_folder / "__pycache__").mkdir()
    (model_folder / "__pycache__" / "modeling_exhubert.cpython-311.pyc").write_bytes(b"\0pyc")
    (model_folder / ".cache" / "huggingface").mkdir(parents=True)
    (model_folder / ".cache" / "huggingface" / ".gitignore").write_text("*\n")
    (model_folder / "results.json").write_text(json.dumps(RESULTS))
    (model_folder / "training" / "curves").mkdir(parents=True)
    (model_folder / "training" / "curves" / "loss [1].png").write_bytes(b"\x89PNG\0")
    status = run_cli(monkeypatch, "push", "org/tiny", model_folder, "--dry-run")
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("dry run: would upload 8 files")
    expected = sorted([*MODEL_FILES, "results.json", "training/curves/loss [1].png"])
    files = listed_files(out)
    assert sorted(files) == expected
    assert files == {name: (model_folder / name).stat().st_size for name in expected}


def test_dry_run_with_write_card_lists_the_card_without_writing_it(saved_model, tmp_path, no_network):
    folder = tmp_path / "model"
    shutil.copytree(saved_model, folder, ignore=shutil.ignore_patterns("README.md"))
    with pytest.raises(FolderRefused, match="missing README.md"):
        push_to_hub("org/tiny", folder, dry_run=True)
    result = push_to_hub("org/tiny", folder, dry_run=True, write_card=True, results=RESULTS)
    assert [path for path, _ in result.files] == MODEL_FILES
    assert not (folder / "README.md").exists()


def test_tokenizer_files_are_not_mistaken_for_secrets(model_folder, no_network):
    (model_folder / "special_tokens_map.json").write_text("{}")
    (model_folder / "tokenizer_config.json").write_text("{}")
    assert "special_tokens_map.json" in [path for path, _ in check_folder(model_folder, load=False)]


@pytest.mark.parametrize(
    "damage, message",
    [
        ("preprocessor_config.json", "missing preprocessor_config.json"),
        ("modeling_exhubert.py", "missing modeling_exhubert.py"),
        ("model.safetensors", "missing model.safetensors"),
        ("README.md", "missing README.md (write one with --write-card"),
        ("auto_map", "auto_map must be exactly this package's"),
        ("weights", "does not load"),
        ("index", "shards listed in model.safetensors.index.json are missing: model-00002-of-00002.safetensors"),
    ],
)
def test_incomplete_or_broken_folders_are_refused(model_folder, monkeypatch, capsys, no_network, damage, message):
    if damage == "auto_map":
        config = json.loads((model_folder / "config.json").read_text())
        del config["auto_map"]["AutoModelForAudioClassification"]
        (model_folder / "config.json").write_text(json.dumps(config))
    elif damage == "weights":
        (model_folder / "model.safetensors").write_bytes(b"not safetensors at all")
    elif damage == "index":
        (model_folder / "model.safetensors").rename(model_folder / "model-00001-of-00002.safetensors")
        index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
        (model_folder / "model.safetensors.index.json").write_text(json.dumps(index))
    else:
        (model_folder / damage).unlink()
    assert run_cli(monkeypatch, "push", "org/tiny", model_folder, "--dry-run") == 2
    assert message in capsys.readouterr().err


def test_remote_code_that_does_not_match_the_weights_is_refused(model_folder, no_network):
    modeling = model_folder / "modeling_exhubert.py"
    modeling.write_text(modeling.read_text().replace("self.projector = nn.Linear", "self.extra = nn.Linear(1, 1)\n        self.projector = nn.Linear"))
    with pytest.raises(FolderRefused, match="modeling_exhubert.py differ from this exhubert-hf's own files"):
        check_folder(model_folder)


def test_include_and_exclude_narrow_the_upload_and_what_is_left_out_is_not_checked(model_folder, no_network):
    (model_folder / "notes").mkdir()
    (model_folder / "notes" / "todo.md").write_text(f"token {fake_token()}\n")
    (model_folder / "results.json").write_text(json.dumps(RESULTS))
    with pytest.raises(FolderRefused, match="notes/todo.md: holds what looks like a Hugging Face access token"):
        push_to_hub("org/tiny", model_folder, dry_run=True)
    result = push_to_hub("org/tiny", model_folder, dry_run=True, exclude=["notes/*"])
    assert [path for path, _ in result.files] == sorted([*MODEL_FILES, "results.json"])
    result = push_to_hub("org/tiny", model_folder, dry_run=True, include=["*.json", "*.py", "*.safetensors", "README.md"])
    assert [path for path, _ in result.files] == sorted([*MODEL_FILES, "results.json"])
    with pytest.raises(FolderRefused, match="missing preprocessor_config.json"):
        push_to_hub("org/tiny", model_folder, dry_run=True, exclude=["notes/*", "preprocessor_config.json"])


def test_a_stage1_hubert_folder_is_published_without_remote_code(tmp_path, no_network):
    folder = tmp_path / "hubert"
    torch.manual_seed(0)
    hubert = HubertForSequenceClassification(tiny_hubert_config())
    hubert.save_pretrained(folder)
    default_feature_extractor(hubert.config).save_pretrained(folder)
    write_model_card(folder, results=RESULTS, repo_id="org/tiny")
    result = push_to_hub("org/tiny", folder, dry_run=True)
    assert [path for path, _ in result.files] == ["README.md", "config.json", "model.safetensors", "preprocessor_config.json"]
    assert "trust_remote_code" not in (folder / "README.md").read_text().split("## Usage")[1].split("### command line")[0]
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModelForAudioClassification": "evil.Model"}}))
    (folder / "evil.py").write_text("raise SystemExit('folder code ran')\n")
    with pytest.raises(FolderRefused, match="a HuBERT needs no remote code"):
        push_to_hub("org/tiny", folder, dry_run=True)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("extra auto_map entry", "auto_map must be exactly this package's"),
        ("auto_map in preprocessor_config.json", "preprocessor_config.json: names code to run"),
        ("model_type", "model_type 'wav2vec2'"),
    ],
)
def test_code_the_package_did_not_write_is_refused(model_folder, no_network, damage, message):
    if damage == "auto_map in preprocessor_config.json":
        path = model_folder / "preprocessor_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "auto_map": {"AutoFeatureExtractor": "evil.Extractor"}}))
    else:
        config = json.loads((model_folder / "config.json").read_text())
        if damage == "model_type":
            config["model_type"] = "wav2vec2"
        else:
            config["auto_map"]["AutoModelForCTC"] = "evil.Model"
        (model_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(FolderRefused, match=message):
        check_folder(model_folder)


def test_saved_folders_map_autoconfig_automodel_and_the_classifier(saved_model):
    auto_map = json.loads((saved_model / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_exhubert.ExHubertConfig",
        "AutoModel": "modeling_exhubert.ExHubertModel",
        "AutoModelForAudioClassification": "modeling_exhubert.ExHubertForSequenceClassification",
    }


@pytest.fixture
def unreachable_hub(monkeypatch):
    """A Hub endpoint where nothing listens (the connection is refused at once), offline mode off."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.mark.parametrize("command", ["predict", "push", "pull"])
def test_an_unreachable_hub_is_one_line_at_once(command, model_folder, unreachable_hub, monkeypatch, capsys, tmp_path):
    import time

    import numpy as np
    import soundfile

    soundfile.write(tmp_path / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    arguments = {
        "predict": ["predict", tmp_path / "a.wav", "--model", "someorg/somemodel", "--no-progress"],
        "push": ["push", "org/tiny", model_folder],
        "pull": ["pull", "someorg/somemodel", "--revision", "a" * 40, "--local-dir", tmp_path / "pulled"],
    }[command]
    start = time.perf_counter()
    status = run_cli(monkeypatch, *arguments)
    elapsed = time.perf_counter() - start
    error = capsys.readouterr().err
    assert status == 2 and elapsed < 5.0, (elapsed, error)
    lines = [line for line in error.splitlines() if line.startswith(f"exhubert {command}: error:")]
    assert len(lines) == 1 and "cannot be reached" in lines[0], error
    assert "Traceback" not in error and "Retrying" not in error
    assert not (tmp_path / "pulled").exists()


def test_a_mistyped_local_path_fails_at_once(tmp_path, monkeypatch):
    import time

    from exhubert_hf.errors import ModelLoadError
    from exhubert_hf.loading import load_audio_classifier

    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    for missing in ("runs/stage1", "./runs/mdl", "runs/a/b", str(tmp_path / "nowhere")):
        start = time.perf_counter()
        with pytest.raises(ModelLoadError, match="folder not found"):
            load_audio_classifier(missing)
        with pytest.raises(FileNotFoundError, match="folder not found"):
            ExHubertForSequenceClassification.from_hubert(missing)
        assert time.perf_counter() - start < 2.0


def test_upload_calls_create_repo_branch_and_upload_folder(model_folder, monkeypatch, capsys):
    calls = []

    class Info:
        commit_url = "https://huggingface.co/org/tiny/commit/" + "c" * 40
        oid = "c" * 40

    def recorder(name, result=None):
        def record(self, *args, **kwargs):
            calls.append((name, args, kwargs))
            return result

        return record

    monkeypatch.setattr(HfApi, "create_repo", recorder("create_repo"))
    monkeypatch.setattr(HfApi, "create_branch", recorder("create_branch"))
    monkeypatch.setattr(HfApi, "upload_folder", recorder("upload_folder", Info()))
    (model_folder / "training [x].log").write_text("loss 0.1\n")
    (model_folder / "README.md").unlink()
    status = run_cli(monkeypatch, "push", "org/tiny", model_folder, "--private", "--revision", "dev", "--write-card", "--commit-message", "v1")
    assert status == 0, capsys.readouterr().err
    assert [name for name, _, _ in calls] == ["create_repo", "create_branch", "upload_folder"]
    assert calls[0][1] == ("org/tiny",) and calls[0][2] == {"private": True, "exist_ok": True, "repo_type": "model"}
    assert calls[1][1] == ("org/tiny",) and calls[1][2] == {"branch": "dev", "exist_ok": True, "repo_type": "model"}
    upload = calls[2][2]
    assert upload["repo_id"] == "org/tiny" and Path(upload["folder_path"]) == model_folder
    assert upload["revision"] == "dev" and upload["commit_message"] == "v1" and upload["repo_type"] == "model"
    assert upload["allow_patterns"] == sorted([*MODEL_FILES, "training [[]x].log"])
    # The patterns select exactly the listed files from everything in the folder, as upload_folder filters.
    (model_folder / "training xx.log").write_text("not listed\n")
    everything = sorted(path.name for path in model_folder.iterdir())
    selected = filter_repo_objects(everything, allow_patterns=upload["allow_patterns"], ignore_patterns=DEFAULT_IGNORE_PATTERNS)
    assert list(selected) == sorted([*MODEL_FILES, "training [x].log"])
    assert (model_folder / "README.md").read_text().startswith("---\n")  # --write-card wrote the card
    out = capsys.readouterr().out
    assert "uploaded 7 files" in out and Info.commit_url in out


def test_upload_without_branch_uploads_to_main(model_folder, monkeypatch):
    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, *a, **k: calls.append(("create_repo", k)))
    monkeypatch.setattr(HfApi, "create_branch", lambda self, *a, **k: calls.append(("create_branch", k)))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **k: calls.append(("upload_folder", k)))
    result = push_to_hub("org/tiny", model_folder)
    assert [name for name, _ in calls] == ["create_repo", "upload_folder"]
    assert calls[0][1]["private"] is False and calls[1][1]["revision"] is None
    assert [path for path, _ in result.files] == MODEL_FILES and not result.dry_run


def build_hub_cache(cache: Path, repo_id: str, folder: Path, commit: str, branch="main") -> Path:
    """The layout huggingface_hub downloads into: blobs named by content hash, snapshot files linking to
    them, and refs/<branch> holding the commit."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for source in sorted(path for path in folder.rglob("*") if path.is_file()):
        data = source.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        target = snapshot / source.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(os.path.relpath(blob, target.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / branch).write_text(commit)
    return snapshot


def pull_offline(cache: Path, *arguments) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "exhubert_hf"]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HUB_DISABLE_TELEMETRY": "1"}
    return subprocess.run([*command, "pull", *arguments], capture_output=True, text=True, env=environment)


def parse_pull(stdout: str) -> dict:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def test_pull_works_offline_from_the_hub_cache(saved_model, tmp_path):
    commit = hashlib.sha1(b"tiny exhubert").hexdigest()
    snapshot = build_hub_cache(tmp_path / "hub", "org/tiny", saved_model, commit)

    result = pull_offline(tmp_path / "hub", "org/tiny")
    assert result.returncode == 0, result.stderr
    printed = parse_pull(result.stdout)
    assert printed["commit"] == commit and Path(printed["path"]) == snapshot
    assert "'main' is a branch or tag and can move" in result.stderr

    local_dir = tmp_path / "local copy"
    result = pull_offline(tmp_path / "hub", "org/tiny", "--revision", commit, "--local-dir", str(local_dir))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # a pinned commit
    assert parse_pull(result.stdout)["commit"] == commit
    assert sorted(path.name for path in local_dir.iterdir()) == MODEL_FILES
    assert not any(path.is_symlink() for path in local_dir.iterdir())

    expected = ExHubertForSequenceClassification.from_pretrained(saved_model).state_dict()
    for folder in (snapshot, local_dir):
        loaded = AutoModelForAudioClassification.from_pretrained(folder)
        assert type(loaded) is ExHubertForSequenceClassification
        assert all(torch.equal(tensor, expected[key]) for key, tensor in loaded.state_dict().items())


def test_pull_never_replaces_a_users_files_without_overwrite(saved_model, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    commit = hashlib.sha1(b"tiny exhubert").hexdigest()
    build_hub_cache(tmp_path / "hub", "org/tiny", saved_model, commit)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    local_dir = tmp_path / "mine"
    local_dir.mkdir()
    (local_dir / "config.json").write_text("my own config\n")
    (local_dir / "notes.txt").write_text("keep me\n")
    pull = ["pull", "org/tiny", "--revision", commit, "--cache-dir", tmp_path / "hub", "--local-dir", local_dir]
    assert run_cli(monkeypatch, *pull) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (local_dir / "config.json").read_text() == "my own config\n"
    assert sorted(path.name for path in local_dir.iterdir()) == ["config.json", "notes.txt"]
    assert run_cli(monkeypatch, *pull, "--overwrite") == 0, capsys.readouterr().err
    assert (local_dir / "config.json").read_bytes() == (saved_model / "config.json").read_bytes()
    assert (local_dir / "notes.txt").read_text() == "keep me\n"  # files of other names are kept
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hub", "mine"]  # no staging folder left


def test_pull_of_something_not_cached_fails_offline_with_exit_status_2(tmp_path):
    result = pull_offline(tmp_path / "empty-cache", "org/missing")
    assert result.returncode == 2
    assert "org/missing is not available (HF_HUB_OFFLINE is set" in result.stderr


def test_pull_in_process_with_offline_constants(saved_model, tmp_path, monkeypatch):
    from huggingface_hub import constants

    commit = "d" * 40
    build_hub_cache(tmp_path / "hub", "org/tiny", saved_model, commit, branch="v1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = pull_from_hub("org/tiny", revision="v1", cache_dir=tmp_path / "hub")
    assert result.commit == commit and (result.path / "config.json").is_file()
    assert result.warnings and "'v1' is a branch or tag" in result.warnings[0]
    pinned = pull_from_hub("org/tiny", revision=commit, cache_dir=tmp_path / "hub")
    assert pinned.path == result.path and pinned.warnings == []


def test_pull_online_resolves_the_revision_before_downloading_into_a_local_dir(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from exhubert_hf.hub import pull as hub

    calls = []

    class RepoInfo:
        sha = "e" * 40

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "hub_access", lambda repo_id, revision=None: ())  # the Hub answers the probe
    monkeypatch.setattr(HfApi, "repo_info", lambda self, repo_id, revision=None: calls.append(("repo_info", repo_id, revision)) or RepoInfo())

    def download(repo_id, **kwargs):
        calls.append(("snapshot_download", repo_id, kwargs))
        (Path(kwargs["local_dir"]) / "config.json").write_text("{}")
        return str(kwargs["local_dir"])

    monkeypatch.setattr(hub, "snapshot_download", download)
    result = pull_from_hub("org/tiny", revision="main", local_dir=tmp_path / "out")
    assert calls[0] == ("repo_info", "org/tiny", "main")
    staging = Path(calls[1][2]["local_dir"])  # downloaded beside the target first, then moved into place
    assert calls[1][2]["revision"] == "e" * 40 and staging.parent == tmp_path and staging.name.startswith(".tmp-out-")
    assert result.commit == "e" * 40 and result.path == tmp_path / "out" and result.warnings
    assert [path.name for path in tmp_path.iterdir()] == ["out"] and (tmp_path / "out" / "config.json").is_file()


# ---------------------------------------------------------------------------------------------------------------------
# From a training run to the Hub: `push REPO_ID RUN_DIR` publishes the clean folder that `export-model` writes


REMOTE_CODE_CHECK = """
import json, sys
sys.modules["exhubert_hf"] = None  # the package must not be needed
import torch
from transformers import AutoModel, AutoModelForAudioClassification
folder = sys.argv[1]
audio = torch.load(folder + "/../audio.pt")
classifier = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
encoder = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
assert type(classifier).__module__.startswith("transformers_modules"), type(classifier).__module__
assert type(encoder).__name__ == "ExHubertModel" and type(encoder).__module__.startswith("transformers_modules")
with torch.no_grad():
    print(json.dumps([classifier(audio).logits.tolist(), encoder(audio).last_hidden_state.tolist()]))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny stage-1 run (HuBERT, 4 steps, checkpoints every 2) and a stage-2 run (ExHuBERT) from it."""
    from exhubert_hf.data.synthetic import generate_corpus
    from exhubert_hf.train.arguments import parse_training_arguments
    from exhubert_hf.train.run import run_finetuning

    root = tmp_path_factory.mktemp("runs")
    manifest = generate_corpus(root, "synth", num_speakers=3, clips_per_class=1, split_speakers=(1, 1, 1), duration=0.6)
    common = [
        "--corpora", f"manifest:synth={manifest}", "--cache_dir", str(root / "cache"), "--per_device_train_batch_size", "2",
        "--eval_strategy", "steps", "--save_strategy", "steps", "--eval_steps", "2", "--save_steps", "2",
        "--load_best_model_at_end", "true", "--metric_for_best_model", "uar", "--report_to", "tensorboard",
        "--use_cpu", "true", "--dataloader_pin_memory", "false", "--disable_tqdm", "true", "--logging_steps", "2",
    ]  # fmt: skip
    stage1, stage2 = root / "stage1", root / "stage2"
    for arguments in (
        ["--config", "demo", "--tiny", "true", "--output_dir", str(stage1), "--max_steps", "4", *common],
        ["--config", "demo_stage2", "--model_name_or_path", str(stage1), "--output_dir", str(stage2), "--max_steps", "2", *common],
    ):
        run_finetuning(*parse_training_arguments(arguments), quiet=True).pop("trainer")
    return stage1, stage2


PUBLISHED = {
    "stage1": ["README.md", "config.json", "figures/confusion_synth.png", "figures/validation_uar.png", "model.safetensors", "preprocessor_config.json"],
}
PUBLISHED["stage2"] = sorted([*PUBLISHED["stage1"], "configuration_exhubert.py", "modeling_exhubert.py"])


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_push_of_a_training_run_lists_only_the_clean_model_folder(stage, runs, monkeypatch, capsys, no_network):
    run_dir = runs[0] if stage == "stage1" else runs[1]
    assert {"training_args.bin", "trainer_state.json", "run_info.json", "runs"} <= {path.name for path in run_dir.iterdir()}
    assert any(path.name.startswith("checkpoint-") for path in run_dir.iterdir())
    for arguments in (("org/x", run_dir), (run_dir, "org/x")):  # `hf upload`'s order, and the issue's RUN_DIR REPO_ID
        assert run_cli(monkeypatch, "push", *arguments, "--dry-run") == 0
        captured = capsys.readouterr()
        assert sorted(listed_files(captured.out)) == PUBLISHED[stage]
        assert "is a training run" in captured.err
    assert run_cli(monkeypatch, "export-model", run_dir, run_dir.parent / f"{stage}-clean", "--repo-id", "org/x") == 0
    clean = run_dir.parent / f"{stage}-clean"
    assert sorted(path.relative_to(clean).as_posix() for path in clean.rglob("*") if path.is_file()) == PUBLISHED[stage]
    card = (clean / "README.md").read_text()
    metadata = ModelCard(card).data.to_dict()
    results = json.loads((run_dir / "results.json").read_text())
    (entry,) = metadata["model-index"]
    assert [result["dataset"]["name"] for result in entry["results"]] == list(results["per_corpus"])
    assert entry["results"][0]["metrics"][0]["value"] == results["per_corpus"]["synth"]["uar"]
    assert "base_model" not in metadata  # a tiny random start and a local stage 1: no Hub id to name
    assert "![Validation UAR per corpus during training](figures/validation_uar.png)" in card
    assert str(run_dir) not in card and str(run_dir) not in (clean / "config.json").read_text()
    if stage == "stage1":
        assert "trust_remote_code" not in card.split("### command line")[0] and "auto_map" not in (clean / "config.json").read_text()
    expected = AutoModelForAudioClassification.from_pretrained(run_dir).state_dict()
    published = AutoModelForAudioClassification.from_pretrained(clean).state_dict()
    assert published.keys() == expected.keys() and all(torch.equal(published[key], expected[key]) for key in expected)


def test_the_exported_run_loads_with_both_auto_classes_where_the_package_is_not_installed(runs, tmp_path):
    from exhubert_hf import ExHubertModel
    from exhubert_hf.hub.model_folder import export_model_folder

    export_model_folder(runs[1], tmp_path / "clean")
    audio = torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))
    torch.save(audio, tmp_path / "audio.pt")
    result = subprocess.run([sys.executable, "-c", REMOTE_CODE_CHECK, str(tmp_path / "clean")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    logits, hidden = map(torch.tensor, json.loads(result.stdout.strip().splitlines()[-1]))
    with torch.no_grad():
        expected_logits = ExHubertForSequenceClassification.from_pretrained(tmp_path / "clean").eval()(audio).logits
        expected_hidden = ExHubertModel.from_pretrained(tmp_path / "clean").eval()(audio).last_hidden_state
    assert (logits - expected_logits).abs().max() <= 1e-6 and (hidden - expected_hidden).abs().max() <= 1e-6


def test_a_run_whose_final_model_is_not_its_best_publishes_the_best_checkpoint_without_the_test_results(runs, saved_model, tmp_path):
    from exhubert_hf.hub.model_folder import select_run_model

    run_dir = Path(shutil.copytree(runs[1], tmp_path / "run"))
    (best,) = [path for path in run_dir.iterdir() if path.name.startswith("checkpoint-")]
    selected = select_run_model(run_dir)
    assert selected.weights_dir == run_dir and selected.results is not None and selected.note is None
    for name in ("model.safetensors", "config.json"):  # the final model differs from the best one
        shutil.copy(saved_model / name, run_dir / name)
    selected = select_run_model(run_dir)
    assert selected.weights_dir == best and selected.results is None
    assert f"{best.name} (by validation, trainer_state.json) is published" in selected.note
    assert [path.name for path in selected.figures] == ["validation_uar.png"]

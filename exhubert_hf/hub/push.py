"""Publishing a model folder on the Hugging Face Hub (`exhubert push`).

`push_to_hub` checks the folder before anything leaves the machine, and refuses it (`FolderRefused`, naming
every problem) when
    - it is incomplete: config.json (model_type exhubert, with an `auto_map` whose remote-code files are in
      the folder: configuration_exhubert.py, modeling_exhubert.py), model.safetensors (or sharded
      safetensors with their index), preprocessor_config.json and a README.md model card (or `write_card`
      to generate one);
    - it does not load with this package's classes (offline), or its remote-code files are not exactly this
      package's (what `trust_remote_code=True` users would run); nothing from the folder is imported;
    - it holds pickle files (*.bin, *.pt, *.pth, *.pkl, *.pickle, *.ckpt: loading them can run code), e.g.
      a Trainer's training_args.bin or optimizer.pt;
    - something looks like a secret: .env files, .netrc, SSH keys, *.pem / *.key, credentials*, token files,
      .huggingface/.ssh/.aws folders, or a Hugging Face access token (hf_...) inside a small text file.
Version-control and cache folders (.git, .cache/huggingface, __pycache__) are never uploaded. The upload sends
exactly the listed files (`upload_folder` with those paths as `allow_patterns`), after `create_repo(exist_ok=True)`
and, with a branch, `create_branch(exist_ok=True)`. A dry run lists the files with sizes and touches no network.
The token comes from `hf auth login` or HF_TOKEN; there is no token option, so that it never lands in a shell
history.
"""

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from huggingface_hub import HfApi, ModelCard
from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
from huggingface_hub.utils import filter_repo_objects

from ..errors import InputError, ModelLoadError
from ..loading import load_audio_classifier

DEFAULT_COMMIT_MESSAGE = "Upload ExHuBERT model"
REMOTE_CODE_FILES = ("configuration_exhubert.py", "modeling_exhubert.py")
REQUIRED_FILES = ("config.json", *REMOTE_CODE_FILES, "preprocessor_config.json", "README.md")
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
IGNORE_PATTERNS = [*DEFAULT_IGNORE_PATTERNS, "__pycache__", "__pycache__/*", "*/__pycache__", "**/__pycache__/**", "*.pyc", ".DS_Store", "*/.DS_Store"]

_SECRET_NAMES = {".env", ".netrc", "_netrc", ".git-credentials", ".pypirc", ".npmrc", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "stored_tokens"}
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".keystore")
_SECRET_FOLDERS = {".huggingface", ".ssh", ".aws", ".gnupg", ".docker"}
_TOKENIZER_FILES = {"special_tokens_map.json", "added_tokens.json", "tokenizer.json", "tokenizer_config.json"}
_TOKEN_NAME = re.compile(r"(^|[._-])tokens?($|[._-])")
HF_TOKEN_PATTERN = re.compile(rb"hf_[A-Za-z0-9]{30,}")
TEXT_SCAN_LIMIT = 1 << 20  # bytes; larger files (weights) are not scanned
class FolderRefused(InputError):
    """The folder must not be uploaded as it is; `problems` lists every reason."""

    def __init__(self, folder, problems: list[str]):
        self.folder = str(folder)
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"{folder} cannot be pushed: {problems[0]}")
        else:
            super().__init__(f"{folder} cannot be pushed:\n" + "\n".join(f"  - {problem}" for problem in problems))


@dataclass
class PushResult:
    repo_id: str
    branch: str | None
    files: list[tuple[str, int]]  # (path in the repo, size in bytes), exactly what is (or would be) uploaded
    dry_run: bool
    commit_url: str | None = None
    commit: str | None = None
    wrote_card: bool = False

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def list_upload_files(folder) -> list[tuple[str, int]]:
    """(relative posix path, size) of every file that an upload of `folder` would send, sorted."""
    folder = Path(folder)
    paths = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return [(path, (folder / path).stat().st_size) for path in filter_repo_objects(paths, ignore_patterns=IGNORE_PATTERNS)]


def check_folder(folder, require_card: bool = True, load: bool = True) -> list[tuple[str, int]]:
    """The files to upload; raises `FolderRefused` with every problem found (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FolderRefused(folder, ["not a folder"])
    files = list_upload_files(folder)
    names = {path for path, _ in files}
    problems = []

    pickles = [path for path in names if path.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        problems.append(
            f"pickle files (loading them can run arbitrary code): {', '.join(sorted(pickles))}; save the model with "
            "save_pretrained (safetensors) and remove training leftovers such as training_args.bin or optimizer.pt"
        )
    secrets = [path for path in names if _looks_like_secret_file(path)]
    if secrets:
        problems.append(f"files that look like secrets or credentials: {', '.join(sorted(secrets))}")
    tokens = [path for path, size in files if size <= TEXT_SCAN_LIMIT and _contains_hf_token(folder / path)]
    if tokens:
        problems.append(f"Hugging Face access token (hf_...) found in: {', '.join(sorted(tokens))}; remove it and revoke the token")

    required = [name for name in REQUIRED_FILES if name not in names and not (name == "README.md" and not require_card)]
    for name in required:
        hint = " (write one with --write-card / `exhubert model-card`)" if name == "README.md" else ""
        problems.append(f"missing {name}{hint}")
    problems.extend(_weights_problems(folder, names))
    config = None
    if "config.json" in names:
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except ValueError as error:
            problems.append(f"config.json is not valid JSON ({error})")
    if config is not None:
        if config.get("model_type") != "exhubert":
            problems.append(f"config.json has model_type {config.get('model_type')!r}, expected 'exhubert'")
        auto_map = config.get("auto_map") or {}
        for auto_class in ("AutoConfig", "AutoModelForAudioClassification"):
            if auto_class not in auto_map:
                problems.append(f"config.json auto_map has no {auto_class} entry (save the model with save_pretrained)")
        for reference in auto_map.values():
            module_file = str(reference).split("--")[-1].split(".")[0] + ".py"
            if module_file not in names:
                problems.append(f"config.json auto_map refers to {module_file}, which is not in the folder")
    if require_card and "README.md" in names:
        try:
            ModelCard.load(folder / "README.md")
        except Exception as error:  # the Hub would show a broken card
            problems.append(f"README.md front matter does not parse ({error})")
    if not problems and load:
        problems.extend(_load_problems(folder))
    if problems:
        raise FolderRefused(folder, problems)
    return files


def _looks_like_secret_file(path: str) -> bool:
    parts = path.lower().split("/")
    name = parts[-1]
    if any(part in _SECRET_FOLDERS for part in parts[:-1]):
        return True
    if name in _TOKENIZER_FILES:
        return False
    return (
        name in _SECRET_NAMES
        or name.startswith(".env.")
        or name.endswith(_SECRET_SUFFIXES)
        or name.startswith("credentials")
        or bool(_TOKEN_NAME.search(name))
    )


def _contains_hf_token(path: Path) -> bool:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return False  # binary (safetensors and the like)
    return HF_TOKEN_PATTERN.search(data) is not None


def _weights_problems(folder: Path, names: set[str]) -> list[str]:
    if WEIGHTS_FILE in names:
        return []
    if WEIGHTS_INDEX_FILE in names:
        try:
            weight_map = json.loads((folder / WEIGHTS_INDEX_FILE).read_text(encoding="utf-8"))["weight_map"]
        except (ValueError, KeyError) as error:
            return [f"{WEIGHTS_INDEX_FILE} is not a safetensors index ({error})"]
        missing = sorted(set(weight_map.values()) - names)
        return [f"safetensors shards listed in {WEIGHTS_INDEX_FILE} are missing: {', '.join(missing)}"] if missing else []
    return [f"missing {WEIGHTS_FILE} (or sharded safetensors with {WEIGHTS_INDEX_FILE})"]


def _load_problems(folder: Path) -> list[str]:
    """Loads the folder offline with this package's classes, and checks that its remote-code files are exactly
    this package's (what `trust_remote_code=True` users get). Nothing from the folder is imported."""
    from ..modeling_exhubert import ExHubertForSequenceClassification

    try:
        model = load_audio_classifier(folder)
    except ModelLoadError as error:
        return [f"the model does not load from the folder: {error}"]
    if not isinstance(model, ExHubertForSequenceClassification):
        return [f"the folder loads as {type(model).__name__}, not ExHubertForSequenceClassification"]
    package = resources.files("exhubert_hf")
    stale = [name for name in REMOTE_CODE_FILES if (folder / name).read_bytes() != package.joinpath(name).read_bytes()]
    if stale:
        return [
            f"{', '.join(stale)} differ from this exhubert-hf's own files, so trust_remote_code users would run other "
            "code than was checked; save the model again with save_pretrained (or `exhubert export-model`)"
        ]
    return []


def _exact_pattern(path: str) -> str:
    """An fnmatch pattern matching exactly `path`."""
    return re.sub(r"([*?\[])", r"[\1]", path)


def push_to_hub(
    folder,
    repo_id: str,
    private: bool = False,
    branch: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    write_card: bool = False,
    results=None,
) -> PushResult:
    """Checks `folder` (raises `FolderRefused`) and uploads exactly its listed files to `repo_id` (on
    `branch`, created from main if needed). `write_card` writes README.md first (from `results`, the
    results.json dict or path; with `dry_run` the card is only rendered, to list its size). `dry_run`
    touches no network and writes nothing."""
    from huggingface_hub.utils import validate_repo_id

    from .model_card import CARD_FILE, render_model_card

    validate_repo_id(repo_id)
    folder = Path(folder)
    card = render_model_card(folder, results=results, repo_id=repo_id) if write_card and folder.is_dir() else None
    if card is not None and not dry_run:
        (folder / CARD_FILE).write_text(card, encoding="utf-8")
    files = check_folder(folder, require_card=card is None)
    if card is not None and dry_run:
        files = sorted([*[item for item in files if item[0] != CARD_FILE], (CARD_FILE, len(card.encode("utf-8")))])
    result = PushResult(repo_id, branch, files, dry_run, wrote_card=card is not None and not dry_run)
    if dry_run:
        return result
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if branch:
        api.create_branch(repo_id, branch=branch, exist_ok=True, repo_type="model")
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type="model",
        revision=branch,
        commit_message=commit_message,
        allow_patterns=[_exact_pattern(path) for path, _ in files],
    )
    result.commit_url = getattr(info, "commit_url", None)
    result.commit = getattr(info, "oid", None)
    return result


__all__ = [
    "FolderRefused",
    "PushResult",
    "check_folder",
    "list_upload_files",
    "push_to_hub",
]

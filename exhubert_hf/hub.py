"""Publishing a model folder on the Hugging Face Hub (`push`) and fetching one back (`pull`).

    exhubert push MODEL_FOLDER ORG/NAME [--private] [--branch B] [--dry-run] [--write-card [--results R]]
    exhubert pull ORG/NAME [--revision 40-HEX-COMMIT] [--local-dir DIR] [--cache-dir DIR]

push checks the folder before anything leaves the machine, and refuses it, naming every problem, when
    - it is incomplete: config.json (model_type exhubert, with an `auto_map` whose remote-code files are in
      the folder: configuration_exhubert.py, modeling_exhubert.py), model.safetensors (or sharded
      safetensors with their index), preprocessor_config.json and a README.md model card (or --write-card
      to generate one);
    - it does not load: the config and model through this package's classes, and the remote-code classes
      of `auto_map` must build the same parameters (all offline);
    - it holds pickle files (*.bin, *.pt, *.pth, *.pkl, *.pickle, *.ckpt: loading them can run code), e.g.
      a Trainer's training_args.bin or optimizer.pt;
    - something looks like a secret: .env files, .netrc, SSH keys, *.pem / *.key, credentials*, token files,
      .huggingface/.ssh/.aws folders, or a Hugging Face access token (hf_...) inside a small text file.
    Version-control and cache folders (.git, .cache/huggingface, __pycache__) are never uploaded. The upload
    sends exactly the listed files (`upload_folder` with those paths as `allow_patterns`), after
    `create_repo(exist_ok=True)` and, with --branch, `create_branch(exist_ok=True)`. --dry-run prints the
    list with sizes and touches no network. The token comes from `hf auth login` or HF_TOKEN; there is
    no token option, so that it never lands in a shell history.

pull downloads a snapshot (`snapshot_download`) into the Hub cache, or copies it to --local-dir, and
    prints the resolved commit. With HF_HUB_OFFLINE=1 it uses the local cache only. Pin a full 40-hex
    commit: a branch or tag (or no revision, i.e. `main`) can move, and pull warns about it.

Exit status: push 0 uploaded (or listed, with --dry-run), 1 the Hub refused or could not be reached, 2 the
folder was refused or a usage error; pull 0 fetched, 1 not found / not cached while offline, 2 usage error.
"""

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, ModelCard, constants, snapshot_download
from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
from huggingface_hub.utils import filter_repo_objects

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
_COMMIT = re.compile(r"[0-9a-f]{40}")


class FolderRefused(ValueError):
    """The folder must not be uploaded as it is; `problems` lists every reason."""

    def __init__(self, folder, problems: list[str]):
        self.folder = str(folder)
        self.problems = problems
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


@dataclass
class PullResult:
    repo_id: str
    revision: str | None
    commit: str | None
    path: Path
    warnings: list[str] = field(default_factory=list)


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
        problems.extend(_load_problems(folder, config))
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


def _load_problems(folder: Path, config: dict) -> list[str]:
    """Loads the folder offline: config and weights with this package's classes, and the remote-code classes
    (what `trust_remote_code=True` users get) must build the same parameter names."""
    import torch
    from transformers import AutoConfig, AutoModelForAudioClassification
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    from . import ExHubertForSequenceClassification

    try:
        AutoConfig.from_pretrained(folder, local_files_only=True)
        model = AutoModelForAudioClassification.from_pretrained(folder, local_files_only=True)
    except Exception as error:
        return [f"the model does not load from the folder: {type(error).__name__}: {error}"]
    if not isinstance(model, ExHubertForSequenceClassification):
        return [f"the folder loads as {type(model).__name__}, not ExHubertForSequenceClassification"]
    try:
        auto_map = config["auto_map"]
        remote_config_class = get_class_from_dynamic_module(auto_map["AutoConfig"], folder, local_files_only=True)
        remote_model_class = get_class_from_dynamic_module(auto_map["AutoModelForAudioClassification"], folder, local_files_only=True)
        with torch.device("meta"):
            remote_model = remote_model_class(remote_config_class.from_pretrained(folder))
    except Exception as error:
        return [f"the remote code (auto_map) does not load: {type(error).__name__}: {error}"]
    remote_keys, keys = set(remote_model.state_dict()), set(model.state_dict())
    if remote_keys != keys:
        difference = sorted(remote_keys ^ keys)
        return [f"the remote code builds other parameters than the weights hold: {', '.join(difference[:6])}"]
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


def is_commit_hash(revision: str | None) -> bool:
    return revision is not None and _COMMIT.fullmatch(revision) is not None


def pull_from_hub(
    repo_id: str,
    revision: str | None = None,
    local_dir=None,
    cache_dir=None,
    token: str | None = None,
) -> PullResult:
    """Fetches a snapshot of `repo_id` at `revision` (default main). Without `local_dir` the files stay in
    the Hub cache (the returned path is the snapshot folder, named by its commit); with it they are
    downloaded (or, offline, copied from the cache) into `local_dir`. Honours HF_HUB_OFFLINE."""
    warnings = []
    if not is_commit_hash(revision):
        warnings.append(
            f"revision {revision or 'main'!r} is a branch or tag and can move; pin the commit for reproducible "
            "results (--revision <40-hex commit>)"
        )
    offline = constants.HF_HUB_OFFLINE
    if local_dir is None or offline:
        snapshot = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, token=token))
        commit = snapshot.name if is_commit_hash(snapshot.name) else None
        path = snapshot
        if local_dir is not None:
            path = Path(local_dir)
            shutil.copytree(snapshot, path, dirs_exist_ok=True)  # follows the cache's symlinks
    else:
        commit = revision if is_commit_hash(revision) else HfApi(token=token).repo_info(repo_id, revision=revision).sha
        path = Path(snapshot_download(repo_id, revision=commit, local_dir=local_dir, cache_dir=cache_dir, token=token))
    return PullResult(repo_id, revision, commit, path, warnings)


def add_parser(subparsers) -> None:
    push = subparsers.add_parser(
        "push",
        help="check a model folder and upload it to the Hugging Face Hub",
        description=(
            "Check FOLDER (complete, loads, no pickle files, no secrets) and upload exactly its files to REPO_ID. "
            "Uses the token of `hf auth login` or HF_TOKEN. Exit status: 0 uploaded or listed, 1 Hub error, "
            "2 folder refused or usage error."
        ),
    )
    push.add_argument("folder", metavar="FOLDER", help="model folder written by save_pretrained")
    push.add_argument("repo_id", metavar="REPO_ID", help="Hub repository, ORG/NAME")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--branch", help="upload to this branch (created from main if missing)")
    push.add_argument("--dry-run", action="store_true", help="list the files that would be uploaded; no network")
    push.add_argument("--commit-message", default=DEFAULT_COMMIT_MESSAGE, help="commit message")
    push.add_argument("--write-card", action="store_true", help="write (replace) README.md, the model card, before uploading")
    push.add_argument("--results", help="results.json for the card's evaluation section (with --write-card)")
    push.set_defaults(func=_run_push)

    pull = subparsers.add_parser(
        "pull",
        help="download a model snapshot from the Hugging Face Hub",
        description=(
            "Download REPO_ID at REVISION into the Hub cache or --local-dir and print the resolved commit. Honours "
            "HF_HUB_OFFLINE=1 (cache only). Exit status: 0 fetched, 1 not available, 2 usage error."
        ),
    )
    pull.add_argument("repo_id", metavar="REPO_ID", help="Hub repository, ORG/NAME")
    pull.add_argument("--revision", help="full 40-hex commit (recommended), branch or tag; default main")
    pull.add_argument("--local-dir", help="copy the files into this folder instead of using them from the cache")
    pull.add_argument("--cache-dir", help="Hub cache folder (default: HF_HUB_CACHE)")
    pull.set_defaults(func=_run_pull)


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def _run_push(args: argparse.Namespace) -> int:
    from huggingface_hub.errors import HFValidationError, HfHubHTTPError

    if args.results and not args.write_card:
        print("exhubert push: error: --results is used with --write-card", file=sys.stderr)
        return 2
    try:
        result = push_to_hub(
            args.folder,
            args.repo_id,
            private=args.private,
            branch=args.branch,
            dry_run=args.dry_run,
            commit_message=args.commit_message,
            write_card=args.write_card,
            results=args.results,
        )
    except FolderRefused as error:
        print(f"exhubert push: error: {error}", file=sys.stderr)
        return 2
    except (HFValidationError, ValueError) as error:
        print(f"exhubert push: error: {error}", file=sys.stderr)
        return 2
    except (HfHubHTTPError, OSError) as error:
        print(f"exhubert push: error: the upload failed: {error}", file=sys.stderr)
        return 1
    target = f"{result.repo_id}" + (f" (branch {result.branch})" if result.branch else "")
    if result.dry_run:
        print(f"dry run: would upload {len(result.files)} files ({_size(result.total_bytes)}) to {target}:")
    else:
        print(f"uploaded {len(result.files)} files ({_size(result.total_bytes)}) to {target}:")
    for path, size in result.files:
        print(f"{size:>14}  {path}")
    if result.commit_url:
        print(f"commit: {result.commit_url}")
    return 0


def _run_pull(args: argparse.Namespace) -> int:
    from huggingface_hub.errors import HFValidationError, HfHubHTTPError, LocalEntryNotFoundError

    try:
        result = pull_from_hub(args.repo_id, revision=args.revision, local_dir=args.local_dir, cache_dir=args.cache_dir)
    except HFValidationError as error:
        print(f"exhubert pull: error: {error}", file=sys.stderr)
        return 2
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as error:
        offline = " (HF_HUB_OFFLINE is set: only the local cache is used)" if constants.HF_HUB_OFFLINE else ""
        print(f"exhubert pull: error: {args.repo_id} is not available{offline}: {error}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"exhubert pull: warning: {warning}", file=sys.stderr)
    print(f"repo: {result.repo_id}")
    print(f"commit: {result.commit or 'unknown'}")
    print(f"path: {result.path}")
    return 0


__all__ = [
    "FolderRefused",
    "PullResult",
    "PushResult",
    "check_folder",
    "is_commit_hash",
    "list_upload_files",
    "pull_from_hub",
    "push_to_hub",
]

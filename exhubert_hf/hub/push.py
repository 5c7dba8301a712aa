"""Publishing a model on the Hugging Face Hub (`exhubert push REPO_ID FOLDER`, argument order and flags as in
`hf upload`).

FOLDER is a model folder or a training run's output folder. A run is first turned into a clean model folder in
a temporary folder (`exhubert_hf.hub.model_folder`: the best model's weights, config, remote code,
preprocessor_config.json, a model card from the run's results and starting model, the run's plots), and that is
what is checked and uploaded; checkpoints, optimizer states, training_args.bin and TensorBoard files never are.

`check_folder` decides what may leave the machine. It refuses the folder (`FolderRefused`, naming every file and
reason) when
    - a file is a symbolic link leaving the folder (an upload would publish its target, e.g. a private key);
    - a file holds a pickle (found by content, whatever its name: `exhubert_hf.hub.scan`) or something that
      looks like a secret (token and key formats, in any file of any size or encoding), or is named like
      credentials (.env, prod.env, .envrc, kaggle.json, SSH keys, .aws/, ...);
    - it is incomplete: config.json (model_type exhubert or hubert), safetensors weights (or shards with their
      index), preprocessor_config.json, a README.md model card (or `write_card`); an ExHuBERT also its
      remote-code files, with an `auto_map` naming exactly them;
    - a JSON file names code to run (an `auto_map` other than the ExHuBERT one; a HuBERT needs none), the
      remote-code files are not exactly this package's (what `trust_remote_code=True` users would run), or the
      model does not load with this package's (or transformers' HuBERT) classes, strictly: every tensor must fit.
Nothing from the folder is imported or run to check it. Version-control and cache folders (.git,
.cache/huggingface, __pycache__) are never uploaded; `include` / `exclude` patterns (fnmatch, as `hf upload`'s
--include / --exclude) narrow the upload, and only what is uploaded is checked. The upload sends exactly the listed
files (`upload_folder` with those paths as `allow_patterns`), after `create_repo(exist_ok=True)` and, with a
revision, `create_branch(exist_ok=True)`. A dry run lists the files with sizes and touches no network. The token
comes from `hf auth login` or HF_TOKEN; there is no token option, so that it never lands in a shell history.
"""

import json
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from huggingface_hub import HfApi, ModelCard
from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
from huggingface_hub.utils import filter_repo_objects, validate_repo_id

from ..errors import InputError, ModelLoadError, UsageError
from ..fileio import write_text_atomic
from ..loading import load_audio_classifier, unreachable_hub_as_error
from ..modeling_exhubert import AUTO_MAP
from .model_card import CARD_FILE, render_model_card
from .model_folder import is_training_run, select_run_model, write_clean_folder
from .scan import scan_file, secret_name_reason, walk_files

DEFAULT_COMMIT_MESSAGE = "Upload ExHuBERT model"
REMOTE_CODE_FILES = ("configuration_exhubert.py", "modeling_exhubert.py")
COMMON_FILES = ("config.json", "preprocessor_config.json", CARD_FILE)
REQUIRED_FILES = {"exhubert": (*COMMON_FILES, *REMOTE_CODE_FILES), "hubert": COMMON_FILES}
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
IGNORE_PATTERNS = [*DEFAULT_IGNORE_PATTERNS, "__pycache__", "__pycache__/*", "*/__pycache__", "**/__pycache__/**", "*.pyc", ".DS_Store", "*/.DS_Store"]


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
    revision: str | None
    files: list[tuple[str, int]]  # (path in the repo, size in bytes), exactly what is (or would be) uploaded
    dry_run: bool
    commit_url: str | None = None
    commit: str | None = None
    wrote_card: bool = False
    from_run: bool = False  # FOLDER was a training run, published as its clean model folder
    note: str | None = None  # e.g. which checkpoint of a run was published, and why

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def list_upload_files(folder, include=None, exclude=None) -> list[tuple[str, int]]:
    """(relative posix path, size) of every file that an upload of `folder` would send, sorted."""
    folder = Path(folder)
    return [(path, (folder / path).stat().st_size) for path in _selected(folder, include, exclude) if (folder / path).exists()]


def _selected(folder: Path, include, exclude) -> list[str]:
    paths = [path for path, _, _ in walk_files(folder)]
    return sorted(filter_repo_objects(paths, allow_patterns=include, ignore_patterns=[*IGNORE_PATTERNS, *(exclude or [])]))


def check_folder(folder, require_card: bool = True, load: bool = True, include=None, exclude=None) -> list[tuple[str, int]]:
    """The files to upload; raises `FolderRefused` with every problem found (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FolderRefused(folder, ["not a folder"])
    selected = set(_selected(folder, include, exclude))
    problems = []
    for path, absolute, link in walk_files(folder):
        if path not in selected:
            continue
        reasons = [link] if link else [secret_name_reason(path), *scan_file(absolute)]
        problems.extend(f"{path}: {reason}" for reason in reasons if reason)
    files = list_upload_files(folder, include, exclude)
    names = {path for path, _ in files}

    config = _json_problems(folder, names, problems)
    model_type = config.get("model_type") if config is not None else None
    if config is not None and model_type not in REQUIRED_FILES:
        problems.append(f"config.json has model_type {model_type!r}; push publishes ExHuBERT ('exhubert') and HuBERT ('hubert') models")
    required = REQUIRED_FILES.get(model_type, COMMON_FILES)
    for name in required:
        if name not in names and not (name == CARD_FILE and not require_card):
            hint = " (write one with --write-card / `exhubert model-card`)" if name == CARD_FILE else ""
            problems.append(f"missing {name}{hint}")
    problems.extend(_weights_problems(folder, names))
    if config is not None:
        problems.extend(_auto_map_problems(config.get("auto_map"), model_type))
    if require_card and CARD_FILE in names:
        try:
            ModelCard.load(folder / CARD_FILE)
        except Exception as error:  # the Hub would show a broken card
            problems.append(f"README.md front matter does not parse ({error})")
    if not problems and load:
        problems.extend(_load_problems(folder, model_type))
    if problems:
        raise FolderRefused(folder, problems)
    return files


def _json_problems(folder: Path, names: set[str], problems: list[str]) -> dict | None:
    """config.json as data (None when missing or broken); every other top-level JSON file naming code to run
    (`auto_map`: AutoFeatureExtractor, AutoProcessor, ...) is a problem."""
    config = None
    for name in sorted(name for name in names if "/" not in name and name.endswith(".json")):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            if name in ("config.json", "preprocessor_config.json"):
                problems.append(f"{name} is not valid JSON ({error})")
            continue
        if name == "config.json":
            config = data if isinstance(data, dict) else {}
        elif isinstance(data, dict) and "auto_map" in data:
            problems.append(f"{name}: names code to run (auto_map {data['auto_map']}); this package's models need none there")
    return config


def _auto_map_problems(auto_map, model_type) -> list[str]:
    if model_type == "hubert":
        return [f"config.json: a HuBERT needs no remote code, but auto_map names some ({auto_map})"] if auto_map else []
    if model_type != "exhubert" or auto_map == AUTO_MAP:
        return []
    return [
        f"config.json auto_map must be exactly this package's {AUTO_MAP}, got {auto_map}; save the model again with "
        "save_pretrained (or `exhubert export-model`)"
    ]


def _weights_problems(folder: Path, names: set[str]) -> list[str]:
    if WEIGHTS_FILE in names:
        return []
    if WEIGHTS_INDEX_FILE in names:
        try:
            weight_map = json.loads((folder / WEIGHTS_INDEX_FILE).read_text(encoding="utf-8"))["weight_map"]
        except (ValueError, KeyError, TypeError) as error:
            return [f"{WEIGHTS_INDEX_FILE} is not a safetensors index ({error})"]
        missing = sorted(set(weight_map.values()) - names)
        return [f"safetensors shards listed in {WEIGHTS_INDEX_FILE} are missing: {', '.join(missing)}"] if missing else []
    return [f"missing {WEIGHTS_FILE} (or sharded safetensors with {WEIGHTS_INDEX_FILE})"]


def _load_problems(folder: Path, model_type: str) -> list[str]:
    """Loads the folder offline with this package's (or transformers' HuBERT) classes, strictly, and checks that
    an ExHuBERT's remote-code files are exactly this package's (what `trust_remote_code=True` users get).
    Nothing from the folder is imported."""
    try:
        load_audio_classifier(folder)
    except ModelLoadError as error:
        return [f"the model does not load from the folder: {error}"]
    if model_type != "exhubert":
        return []
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
    repo_id: str,
    folder,
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    write_card: bool = False,
    results=None,
    include=None,
    exclude=None,
) -> PushResult:
    """Checks `folder` (raises `FolderRefused`) and uploads exactly its listed files to `repo_id` (on branch
    `revision`, created from main if needed). A training run's output folder is published as its clean model
    folder (see the module docstring). `write_card` writes README.md into a model folder first (from `results`,
    the results.json dict or path; with `dry_run` the card is only rendered, to list its size). `dry_run`
    touches no network and writes nothing into `folder`."""
    validate_repo_id(repo_id)
    folder = Path(folder)
    if not folder.is_dir():
        raise FolderRefused(folder, ["not a folder"])
    if is_training_run(folder):
        if write_card or results is not None:
            raise UsageError(
                f"{folder} is a training run: its card is written from its own results.json and run_info.json "
                "(--write-card and --results are for a plain model folder)"
            )
        model = select_run_model(folder)
        with tempfile.TemporaryDirectory(prefix="exhubert-push-") as staging:
            clean = write_clean_folder(model, Path(staging) / "model", repo_id)
            result = _check_and_upload(repo_id, clean, private, revision, dry_run, token, commit_message, include, exclude)
        result.from_run, result.note = True, model.note
        return result
    card = render_model_card(folder, results=results, repo_id=repo_id) if write_card else None
    if card is not None and not dry_run:
        write_text_atomic(folder / CARD_FILE, card, overwrite=True)
    result = _check_and_upload(
        repo_id, folder, private, revision, dry_run, token, commit_message, include, exclude, card_pending=card if dry_run else None
    )
    result.wrote_card = card is not None and not dry_run
    return result


def _check_and_upload(
    repo_id, folder: Path, private, revision, dry_run, token, commit_message, include, exclude, card_pending=None
) -> PushResult:
    files = check_folder(folder, require_card=card_pending is None, include=include, exclude=exclude)
    if card_pending is not None:
        files = sorted([*[item for item in files if item[0] != CARD_FILE], (CARD_FILE, len(card_pending.encode("utf-8")))])
    result = PushResult(repo_id, revision, files, dry_run)
    if dry_run:
        return result
    api = HfApi(token=token)
    with unreachable_hub_as_error(repo_id):
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type="model",
            revision=revision,
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

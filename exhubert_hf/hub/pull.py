"""Fetching a model from the Hugging Face Hub (`exhubert pull`).

`pull_from_hub` downloads a snapshot (`snapshot_download`) into the Hub cache, or into `local_dir`, and reports
the resolved commit. With HF_HUB_OFFLINE=1 it uses the local cache only. Pin a full 40-hex commit: a branch or tag
(or no revision, i.e. `main`) can move, and the result carries a warning about it.

A `local_dir` that holds anything is refused unless `overwrite` (the user's own config.json or README.md there is
never replaced by surprise). The snapshot is first downloaded into a temporary folder beside `local_dir` and moved
into place only once complete: an interrupted pull leaves `local_dir` as it was; with `overwrite`, files of the same
names are replaced one by one (each atomically) and the folder's other files are kept.
"""

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import validate_repo_id

from ..errors import ExHubertError, ModelLoadError, OutputExistsError, UsageError, error_summary
from ..fileio import check_writable, publish_folder, staging_path
from ..loading import hub_access, unreachable_hub_as_error

_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass
class PullResult:
    repo_id: str
    revision: str | None
    commit: str | None
    path: Path
    warnings: list[str] = field(default_factory=list)


def is_commit_hash(revision: str | None) -> bool:
    return revision is not None and _COMMIT.fullmatch(revision) is not None


def pull_from_hub(
    repo_id: str,
    revision: str | None = None,
    local_dir=None,
    cache_dir=None,
    token: str | None = None,
    overwrite: bool = False,
) -> PullResult:
    """Fetches a snapshot of `repo_id` at `revision` (default main). Without `local_dir` the files stay in
    the Hub cache (the returned path is the snapshot folder, named by its commit); with it they are
    downloaded (or, offline, copied from the cache) into `local_dir`, which must be empty unless `overwrite`.
    Honours HF_HUB_OFFLINE. Raises `ModelLoadError` when the model is not available, `HubUnreachableError`
    when the Hub cannot be reached."""
    validate_repo_id(repo_id)
    if revision is not None and not revision.strip():
        raise UsageError("the revision is empty; give a 40-hex commit (recommended), a branch or a tag")
    target = None
    if local_dir is not None:
        target = check_writable(local_dir, overwrite)
        if target.exists() and not target.is_dir():
            raise OutputExistsError(f"{target} is a file; give a folder for --local-dir")
    warnings = []
    if not is_commit_hash(revision):
        warnings.append(
            f"revision {revision or 'main'!r} is a branch or tag and can move; pin the commit for reproducible "
            "results (--revision <40-hex commit>)"
        )
    # One probe without retries first: an unreachable Hub is reported at once, or the cache is used if it has the model.
    offline = constants.HF_HUB_OFFLINE or dict(hub_access(repo_id, revision)).get("local_files_only", False)
    try:
        with unreachable_hub_as_error(repo_id):
            if target is None or offline:
                snapshot = Path(
                    snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, token=token, local_files_only=offline)
                )
                commit = snapshot.name if is_commit_hash(snapshot.name) else None
                if target is None:
                    return PullResult(repo_id, revision, commit, snapshot, warnings)
                _place(target, lambda staging: shutil.copytree(snapshot, staging, dirs_exist_ok=True))  # follows the cache's links
            else:
                commit = revision if is_commit_hash(revision) else HfApi(token=token).repo_info(repo_id, revision=revision).sha
                _place(target, lambda staging: snapshot_download(repo_id, revision=commit, local_dir=staging, cache_dir=cache_dir, token=token))
    except ExHubertError:
        raise
    except (OSError, ValueError, HfHubHTTPError) as error:  # not on the Hub, not cached while offline, no access
        only_cache = " (HF_HUB_OFFLINE is set: only the local cache is used)" if constants.HF_HUB_OFFLINE else ""
        raise ModelLoadError(f"{repo_id} is not available{only_cache}: {error_summary(error)}") from error
    return PullResult(repo_id, revision, commit, target, warnings)


def _place(target: Path, fill) -> None:
    """`fill(staging)` writes the files into a temporary folder beside `target`; then they become `target` (a
    missing or empty one), or replace the files of the same names in it (`overwrite`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(target)
    try:
        staging.mkdir()
        fill(staging)
        if not target.exists() or not any(target.iterdir()):
            publish_folder(staging, target)
            return
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                destination = target / path.relative_to(staging)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


__all__ = ["PullResult", "is_commit_hash", "pull_from_hub"]

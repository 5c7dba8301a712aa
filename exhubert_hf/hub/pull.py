"""Fetching a model from the Hugging Face Hub (`exhubert pull`).

`pull_from_hub` downloads a snapshot (`snapshot_download`) into the Hub cache, or copies it to `local_dir`, and
reports the resolved commit. With HF_HUB_OFFLINE=1 it uses the local cache only. Pin a full 40-hex commit: a
branch or tag (or no revision, i.e. `main`) can move, and the result carries a warning about it.
"""

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, constants, snapshot_download

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


__all__ = ["PullResult", "is_commit_hash", "pull_from_hub"]

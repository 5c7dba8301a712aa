"""Writing files and folders so that a reader never sees half of one and nothing the user had is lost.

Everything is written under a temporary name beside its target (same folder, so same file system) and renamed
into place only when complete: a crash, a full disk or Ctrl-C leaves the old target as it was. A replaced
folder is first renamed aside and deleted only after the new one is in place.
"""

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputExistsError

STAGING_PREFIX = ".tmp-"


def staging_path(target: Path) -> Path:
    """A fresh temporary name beside `target` (hidden; carries the process id so leftovers can be traced)."""
    return target.parent / f"{STAGING_PREFIX}{target.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def check_writable(target, overwrite: bool) -> Path:
    """`target` as a Path; raises `OutputExistsError` when it exists (a non-empty folder, or a file) and
    `overwrite` is false, and when it is a folder where a file is wanted or the other way round."""
    target = Path(target).expanduser()
    if target.exists() and not overwrite:
        if not target.is_dir() or any(target.iterdir()):
            raise OutputExistsError(f"{target} exists; pass --overwrite (overwrite=True) to replace it")
    return target


@contextmanager
def atomic_file(target, overwrite: bool = False, mode: str = "w", **open_kwargs):
    """`with atomic_file(path) as handle:` writes a temporary file beside `path` and renames it to `path` when
    the block ends without an error (else deletes it). An existing `path` is replaced only with `overwrite`."""
    target = check_writable(target, overwrite)
    if target.is_dir():
        raise OutputExistsError(f"{target} is a folder; give a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(target)
    try:
        with open(staging, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, target)
    finally:
        if staging.exists():
            staging.unlink()


def write_text_atomic(target, text: str, overwrite: bool = False) -> Path:
    with atomic_file(target, overwrite, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return Path(target)


@contextmanager
def staged_folder(target, overwrite: bool = False):
    """`with staged_folder(out) as folder:` yields an empty temporary folder beside `out`; when the block ends
    without an error it becomes `out` (an existing `out` is replaced only with `overwrite`), else it is
    deleted."""
    target = check_writable(target, overwrite)
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"{target} is a file; give a folder name")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(target)
    staging.mkdir()
    try:
        yield staging
        publish_folder(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def publish_folder(staging: Path, target: Path, durable: bool = False) -> None:
    """Make the complete folder `staging` become `target`. An existing `target` is renamed aside first and
    deleted once `staging` is in place, so `target` is never half-written and never missing for long.
    `durable` flushes every file and the folders to disk first (checkpoints: survive a power cut)."""
    if durable:
        fsync_tree(staging)
    old = None
    if target.exists():
        old = target.parent / f"{STAGING_PREFIX}old-{target.name}-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    os.replace(staging, target)
    if durable:
        fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(str(folder), os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


__all__ = [
    "STAGING_PREFIX",
    "atomic_file",
    "check_writable",
    "fsync_dir",
    "fsync_tree",
    "publish_folder",
    "staged_folder",
    "staging_path",
    "write_text_atomic",
]

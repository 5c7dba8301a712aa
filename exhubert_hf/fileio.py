"""Writing files and folders so that a reader never sees half of one and nothing the user had is lost.

Everything is written under a temporary name beside its target (same folder, so same file system) and renamed
into place only when complete: a crash, a full disk or Ctrl-C leaves the old target as it was. A replaced
folder is first renamed aside and deleted only after the new one is in place.

A process killed half-way leaves its temporary folder behind. Each one made by `owned_staging` (and each folder
that `publish_folder` renames aside) carries a lock file, `<folder>.lock`, that its process holds while it runs
(`filelock`: an flock, which the kernel, or the NFS lock service, releases when the process dies, in any PID
namespace and on any host sharing the folder). `remove_abandoned` deletes exactly the folders whose lock it can
take, so it never judges another process by its id, which means nothing in another container or on another host.
"""

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import OutputExistsError

STAGING_PREFIX = ".tmp-"
LOCK_SUFFIX = ".lock"
# What staging_path makes: .tmp-NAME-PID-HEX8 (and .tmp-old-NAME-PID-HEX8 for a folder renamed aside)
_STAGING_NAME = re.compile(rf"^{re.escape(STAGING_PREFIX)}(?P<old>old-)?(?P<target>.+)-\d+-[0-9a-f]{{8}}$")


def staging_path(target: Path, kind: str = "") -> Path:
    """A fresh temporary name beside `target` (hidden; carries the process id so leftovers can be traced by a
    person; `remove_abandoned` goes by the lock, never by the id). `kind="old-"` names a folder renamed aside."""
    return target.parent / f"{STAGING_PREFIX}{kind}{target.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def file_lock(path, timeout: float = -1) -> FileLock:
    """A `filelock.FileLock` on `path`, whose file is created here first: a folder where it cannot be created
    raises OSError at once (filelock would retry until its timeout, forever by default)."""
    Path(path).touch()
    return FileLock(str(path), timeout=timeout)


@contextmanager
def owned_staging(target: Path, kind: str = ""):
    """`with owned_staging(target) as folder:` a new empty temporary folder beside `target` whose lock file this
    process holds until the block ends; then the folder (unless it was renamed into place meanwhile) and its lock
    file are deleted. The lock is taken before the folder exists, so no other process sees it unowned. A folder
    where nothing can be written raises OSError naming `target`."""
    staging = staging_path(Path(target), kind)
    lock_path = Path(f"{staging}{LOCK_SUFFIX}")
    try:
        lock = file_lock(lock_path)
        lock.acquire()
        try:
            staging.mkdir()
        except BaseException:
            lock_path.unlink(missing_ok=True)
            lock.release()
            raise
    except OSError as error:
        raise OSError(error.errno, f"cannot write {target} ({error.strerror or error})") from error
    try:
        yield staging
    finally:
        try:
            if staging.is_dir():
                shutil.rmtree(staging, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
        finally:
            lock.release()


def remove_abandoned(folder, target_name: str | None = None) -> list[Path]:
    """Delete the temporary folders in `folder` (only those of `target_name` if given) that `owned_staging` or
    `publish_folder` left behind in a process that is gone: those whose lock file no live process holds. Returns
    the folders deleted. Folders without a lock file (not ours, or written by older versions) are left alone."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for lock_path in sorted(folder.glob(f"{STAGING_PREFIX}*{LOCK_SUFFIX}")):
        staging = lock_path.with_name(lock_path.name[: -len(LOCK_SUFFIX)])
        match = _STAGING_NAME.match(staging.name)
        if match is None or (target_name is not None and match["target"] != target_name):
            continue
        try:
            lock = file_lock(lock_path, timeout=0)
            lock.acquire()
        except Timeout:  # its owner is alive
            continue
        except OSError:  # not ours to delete (a read-only folder, say)
            continue
        try:
            if staging.is_dir() and not staging.is_symlink():
                shutil.rmtree(staging, ignore_errors=True)
                removed.append(staging)
            lock_path.unlink(missing_ok=True)
        finally:
            lock.release()
    return removed


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
    deleted. Temporary folders that killed earlier runs left beside `out` are deleted first (`remove_abandoned`).
    The folder is made at once, so an `out` that cannot be written fails before any work is done."""
    target = check_writable(target, overwrite)
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"{target} is a file; give a folder name")
    if not target.name or target.name in (".", ".."):
        raise OutputExistsError(f"{target} names no folder of its own; give a new folder name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(error.errno, f"cannot write {target} ({error.strerror or error})") from error
    remove_abandoned(target.parent, target.name)
    with owned_staging(target) as staging:
        yield staging
        publish_folder(staging, target)


def publish_folder(staging: Path, target: Path, durable: bool = False) -> None:
    """Make the complete folder `staging` become `target`. An existing `target` is renamed aside first and
    deleted once `staging` is in place, so `target` is never half-written and never missing for long.
    `durable` flushes every file and the folders to disk first (checkpoints: survive a power cut)."""
    if durable:
        fsync_tree(staging)
    if not target.exists():
        os.replace(staging, target)
    else:  # the old folder goes aside under an owned name: if this process dies, `remove_abandoned` deletes it
        with owned_staging(target, kind="old-") as old:
            os.replace(target, old)
            try:
                os.replace(staging, target)
            except BaseException:
                os.replace(old, target)  # the old folder back in place
                raise
    if durable:
        fsync_dir(target.parent)


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
    "LOCK_SUFFIX",
    "STAGING_PREFIX",
    "atomic_file",
    "check_writable",
    "fsync_dir",
    "file_lock",
    "fsync_tree",
    "owned_staging",
    "publish_folder",
    "remove_abandoned",
    "staged_folder",
    "staging_path",
    "write_text_atomic",
]

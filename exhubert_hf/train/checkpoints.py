"""The crash-safe checkpoint protocol of `RoundRobinTrainer`.

transformers writes `checkpoint-N` in place, so a crash leaves a half-written folder with the final name. Here a
checkpoint is written to `.tmp-checkpoint-N`, completed with `checkpoint-complete.json` listing every file and its
size, flushed to disk and only then renamed to `checkpoint-N` (`publish_checkpoint`). Resuming
(`resolve_resume_checkpoint`) takes the newest checkpoint whose listing checks out; a folder killed half-way never
gets the name `checkpoint-N`, and a `checkpoint-N` without the listing (or with a truncated file) is skipped.
Rotation (`rotate_checkpoints`) deletes only complete checkpoints, never the newest or the best.
"""

import json
import logging
import re
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..errors import InputError
from ..fileio import STAGING_PREFIX, publish_folder

logger = logging.getLogger(__name__)

CHECKPOINT_COMPLETE = "checkpoint-complete.json"
SAMPLER_STATE = "round_robin_sampler.json"
TRAINER_STATE = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


class IncompleteCheckpointError(InputError):
    """A checkpoint folder that was not completely written (or was changed afterwards)."""


def staging_folder(run_dir: Path, step: int) -> Path:
    """Where every process writes its part of checkpoint `step` (one fixed name, so all processes agree)."""
    return Path(run_dir) / f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-{step}"


def remove_stale_staging_folders(run_dir) -> None:
    """Delete checkpoints whose writing was interrupted (they were never renamed to checkpoint-N)."""
    run_dir = Path(run_dir)
    if run_dir.is_dir():
        for path in run_dir.glob(f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-*"):
            if path.is_dir():
                logger.warning("removing %s, a checkpoint whose writing was interrupted", path)
                shutil.rmtree(path, ignore_errors=True)


def checkpoint_problem(folder) -> str | None:
    """Why `folder` is not a complete checkpoint written by `RoundRobinTrainer`, or None when it is: its
    `checkpoint-complete.json` must exist and every file it lists must exist with the listed size."""
    folder = Path(folder)
    if not folder.is_dir():
        return "no such folder"
    marker = folder / CHECKPOINT_COMPLETE
    if not marker.is_file():
        return f"no {CHECKPOINT_COMPLETE} (the checkpoint was not completely written)"
    try:
        listing = json.loads(marker.read_text())
        files = dict(listing["files"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unreadable {CHECKPOINT_COMPLETE} ({error})"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} were written"
    return None


def complete_checkpoints(output_dir) -> list[Path]:
    """The complete `checkpoint-N` folders in `output_dir`, oldest step first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = []
    for path in output_dir.iterdir():
        match = _CHECKPOINT_NAME.match(path.name)
        if match is None or not path.is_dir():
            continue
        problem = checkpoint_problem(path)
        if problem is None:
            found.append((int(match.group(1)), path))
        else:
            logger.warning("ignoring %s: %s", path, problem)
    return [path for _, path in sorted(found)]


def last_complete_checkpoint(output_dir) -> Path | None:
    """The newest complete checkpoint in `output_dir` (None if there is none)."""
    checkpoints = complete_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def _validate_foreign_checkpoint(folder: Path, needs_optimizer: bool) -> None:
    """Checks a checkpoint without a completeness listing (e.g. written by the stock Trainer) as far as possible."""
    problems = []
    state = folder / TRAINER_STATE
    try:
        json.loads(state.read_text())
    except (OSError, ValueError) as error:
        problems.append(f"{TRAINER_STATE} unreadable ({error})")
    weights = [folder / name for name in _WEIGHT_FILES if (folder / name).is_file()]
    if not weights:
        problems.append("no model weights")
    elif weights[0].name == "model.safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(weights[0]), framework="pt") as handle:
                for key in handle.keys():
                    handle.get_slice(key)
        except Exception as error:  # truncated or corrupt
            problems.append(f"model.safetensors unreadable ({error})")
    if needs_optimizer:
        for name in ("optimizer.pt", "scheduler.pt"):
            if not (folder / name).is_file() or (folder / name).stat().st_size == 0:
                problems.append(f"{name} missing")
    if problems:
        raise IncompleteCheckpointError(f"{folder} is not a usable checkpoint: {'; '.join(problems)}")
    logger.warning("%s has no %s; it looks complete, resuming from it", folder, CHECKPOINT_COMPLETE)


def publish_checkpoint(staging_dir: Path, final_dir: Path, step: int) -> None:
    """List every file of the complete `staging_dir` with its size in `checkpoint-complete.json`, flush it all to
    disk and rename it to `final_dir` (replacing an older folder of that name, e.g. of an interrupted run)."""
    files = {
        str(path.relative_to(staging_dir)): path.stat().st_size
        for path in sorted(staging_dir.rglob("*"))
        if path.is_file()
    }
    marker = staging_dir / CHECKPOINT_COMPLETE
    marker.write_text(json.dumps({"global_step": step, "files": files}, indent=1) + "\n")
    publish_folder(staging_dir, final_dir, durable=True)


def rotate_checkpoints(run_dir: Path, limit: int | None, newest: Path, best: str | None) -> None:
    """Keeps at most `limit` complete checkpoints: the one just written and the best one always, then the most
    recent steps. Folders that are not complete checkpoints are not ours to delete and are left alone."""
    if not limit or limit <= 0:
        return
    checkpoints = complete_checkpoints(run_dir)
    protected = {newest.resolve()}
    if best is not None and Path(best).exists():
        protected.add(Path(best).resolve())
    excess = len(checkpoints) - max(limit, len(protected))
    for path in checkpoints:  # oldest first
        if excess <= 0:
            break
        if path.resolve() in protected:
            continue
        logger.info("deleting older checkpoint %s (save_total_limit=%s)", path, limit)
        shutil.rmtree(path, ignore_errors=True)
        excess -= 1


def resolve_resume_checkpoint(resume_from_checkpoint, output_dir, save_only_model: bool = False) -> str | None:
    """Turns a `resume_from_checkpoint` value into a complete checkpoint folder, or None to start fresh.

    None/False/"" -> None; True/"true" -> newest complete checkpoint in `output_dir` (ValueError if none);
    "last"/"auto" -> the same, None if there is none; a path -> that folder, which must be complete
    (`IncompleteCheckpointError` otherwise)."""
    value = resume_from_checkpoint
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("", "false", "no", "none")):
        return None
    if value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "last", "auto", "latest")):
        strict = value is True or value.strip().lower() in ("true", "yes")
        last = last_complete_checkpoint(output_dir)
        if last is None:
            if strict:
                raise InputError(f"no complete checkpoint in {output_dir} to resume from (resume_from_checkpoint=last starts fresh instead)")
            logger.info("no complete checkpoint in %s: training from the start", output_dir)
            return None
        logger.info("resuming from %s", last)
        return str(last)
    folder = Path(value)
    if not folder.is_dir():
        raise InputError(f"resume_from_checkpoint: {folder} is not a folder")
    if (folder / CHECKPOINT_COMPLETE).exists():
        problem = checkpoint_problem(folder)
        if problem is not None:
            raise IncompleteCheckpointError(f"{folder} is not a complete checkpoint: {problem}")
    else:
        _validate_foreign_checkpoint(folder, needs_optimizer=not save_only_model)
    return str(folder)


__all__ = [
    "CHECKPOINT_COMPLETE",
    "SAMPLER_STATE",
    "IncompleteCheckpointError",
    "checkpoint_problem",
    "complete_checkpoints",
    "last_complete_checkpoint",
    "publish_checkpoint",
    "remove_stale_staging_folders",
    "resolve_resume_checkpoint",
    "rotate_checkpoints",
    "staging_folder",
]

"""`RoundRobinTrainer`: the transformers `Trainer` for ExHuBERT's multi-corpus fine-tuning.

What it changes, and why:

* **Round-robin batches.** Every training step draws its whole global batch from one corpus and the corpora
  take turns (`RoundRobinBatchSampler`, built from the train split's `corpus` column). Under distributed
  training each process gets its own contiguous chunk of the same step's global batch: the sampler is built
  rank-aware (`num_replicas=world_size`, `rank=process_index`) and the `BatchSamplerShard` that
  `accelerator.prepare` wraps around every batch sampler is made a pass-through (it would otherwise hand
  consecutive steps, i.e. different corpora, to different processes), as transformers does for its own
  rank-aware `BatchRebalanceSampler`. Needs `max_steps > 0`. With `gradient_accumulation_steps=k` an
  optimizer step accumulates k consecutive round-robin batches (k corpora in turn).
* **Correct loss scale.** HuBERT's forward accepts `**kwargs` but returns the batch-mean loss, which makes the
  stock Trainer skip the division by `gradient_accumulation_steps` and multiply the loss by the number of
  processes; here gradients (and what gradient clipping sees) are those of the mean over the global batch,
  as in one process with the whole batch.
* **Exact resume.** The batches of step `s` are a pure function of `(seed, s)`, the collator is
  deterministic, and the random state (dropout, layer drop, SpecAugment) is re-seeded from `(seed, step)` at
  every optimizer step, independent of the RNG files in the checkpoint (or their absence when the number of
  processes changed) and of what ran before (evaluation, data loading), so a run resumed from a checkpoint
  ends with the weights of an uninterrupted run. The saved sampler state is checked on resume: a changed
  dataset, seed or global batch is an error instead of silently different batches.
* **Crash-safe checkpoints.** transformers writes `checkpoint-N` in place. Here it is written to
  `.tmp-checkpoint-N`, flushed to disk, completed with a `checkpoint-complete.json` listing every file and its
  size, and only then renamed to `checkpoint-N`. Resuming (`resume_from_checkpoint=True` or `"last"`) takes the
  newest checkpoint whose listing checks out; a folder killed half-way never gets the name `checkpoint-N`,
  and a `checkpoint-N` without the listing (or with a truncated file) is skipped.
* **Per-corpus evaluation.** With `eval_dataset={corpus: dataset}` the metrics are `eval_<corpus>_uar`,
  `eval_<corpus>_wa`, ... plus their means `eval_uar`, `eval_wa`, `eval_loss`, logged as one entry, so
  `metric_for_best_model="uar"` selects checkpoints by the mean UAR over corpora.
* **Loadable folders.** Every checkpoint and the final model hold config, weights and
  `preprocessor_config.json` (the feature extractor is the Trainer's `processing_class`), and for ExHuBERT the
  remote-code files, so `AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True)` and
  `pipeline("audio-classification", folder, trust_remote_code=True)` work on them.

The second half of this module is the fine-tuning pipeline behind `training/finetune.py` and the offline demo:
argument dataclasses, config loading (paper defaults < YAML/JSON config < command line), model building for
the stages, data preparation and the end-of-run evaluation, results files and plots.

Debugging aid: with the environment variable `EXHUBERT_TRAIN_DEBUG_DIR` set, every process appends the dataset
indices and corpora of each training batch it loads to `batches-rank<r>.jsonl` there, and writes a SHA-256 of
its final weights to `weights-rank<r>.txt` (the distributed tests check both).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from accelerate.data_loader import BatchSamplerShard, DataLoaderDispatcher
from torch.utils.data import DataLoader
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, SaveStrategy, seed_worker

from .collator import AudioCollator
from .modeling_exhubert import default_feature_extractor
from .sampler import RoundRobinBatchSampler

logger = logging.getLogger(__name__)

CHECKPOINT_COMPLETE = "checkpoint-complete.json"
SAMPLER_STATE = "round_robin_sampler.json"
STAGING_PREFIX = ".tmp-"
DEBUG_DIR_ENV = "EXHUBERT_TRAIN_DEBUG_DIR"
TRAINER_STATE = "trainer_state.json"
_CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


class IncompleteCheckpointError(ValueError):
    """A checkpoint folder that was not completely written (or was changed afterwards)."""


# ---------------------------------------------------------------------------------------------------------------------
# Checkpoint completeness


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


def checkpoint_is_complete(folder) -> bool:
    return checkpoint_problem(folder) is None


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


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(str(folder), os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# ---------------------------------------------------------------------------------------------------------------------
# Determinism


def seed_for_step(seed: int, step: int) -> None:
    """Seeds Python, NumPy and torch (all devices) from `(seed, step)`: dropout, layer drop and SpecAugment
    masks of a step do not depend on what ran before it (resume, evaluation, data loading)."""
    state = np.random.SeedSequence([int(seed) & ((1 << 64) - 1), int(step), 0x45784855]).generate_state(2)
    random.seed(int(state[0]))
    np.random.seed(int(state[0]))
    torch.manual_seed(int(state[1]))


def state_dict_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class _BatchLoggingDataset(torch.utils.data.Dataset):
    """Wraps a dataset; appends the indices of every batch fetched (and their corpora) to a JSON-lines file."""

    def __init__(self, dataset, corpora, path: Path, rank: int):
        self.dataset = dataset
        self.corpora = list(corpora)
        self.path = path
        self.rank = rank
        self.calls = 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index]

    def __getitems__(self, indices):
        indices = [int(index) for index in indices]
        with open(self.path, "a") as handle:
            record = {"rank": self.rank, "batch": self.calls, "indices": indices}
            record["corpora"] = sorted({self.corpora[index] for index in indices})
            handle.write(json.dumps(record) + "\n")
        self.calls += 1
        rows = self.dataset.__getitems__(indices)
        return rows


# ---------------------------------------------------------------------------------------------------------------------
# The trainer


class RoundRobinTrainer(Trainer):
    """`Trainer` with round-robin multi-corpus batches, exact resume, crash-safe checkpoints and per-corpus
    evaluation (see the module docstring).

    `train_dataset` is a prepared split (`exhubert_hf.schema`: `audio`, `label`, `corpus`, ...);
    `eval_dataset` a prepared split or a dict `{corpus: split}`. When `data_collator` is not given it is an
    `AudioCollator` over `processing_class` (default: `default_feature_extractor(model.config)`), cropping clips
    to their first `max_seconds`. `compute_metrics` defaults to UAR and WA (`exhubert_hf.evaluation`).
    """

    def __init__(
        self,
        model=None,
        args=None,
        data_collator=None,
        train_dataset=None,
        eval_dataset=None,
        processing_class=None,
        *,
        max_seconds: float | None = None,
        compute_metrics=None,
        **kwargs,
    ):
        if processing_class is None and model is not None:
            processing_class = default_feature_extractor(model.config)
        if data_collator is None and processing_class is not None:
            num_labels = getattr(getattr(model, "config", None), "num_labels", 6)
            data_collator = AudioCollator(processing_class, max_seconds=max_seconds, num_labels=num_labels)
        if compute_metrics is None:
            from .evaluation import compute_metrics as uar_and_wa

            compute_metrics = uar_and_wa
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=compute_metrics,
            **kwargs,
        )
        # HuBERT's and ExHuBERT's forward take **kwargs but return the batch-mean loss, ignoring
        # num_items_in_batch: the Trainer would then skip the division by gradient_accumulation_steps and
        # multiply the loss by the number of processes, scaling gradients (and gradient clipping) by both.
        self.model_accepts_loss_kwargs = False
        self.round_robin_sampler: RoundRobinBatchSampler | None = None
        self._seeded_step: int | None = None
        self._resumed_from: str | None = None

    # ---- data ----------------------------------------------------------------------------------------------------

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        for column in ("audio", "label", "path"):  # what AudioCollator reads ("path" names bad rows in errors)
            if column not in self._signature_columns:
                self._signature_columns.append(column)

    def _remove_unused_columns(self, dataset, description=None):
        """As the Trainer (keeping `audio`, `label`, `path`), and the audio read as NumPy arrays: about ten times
        faster than as Python lists of floats."""
        dataset = super()._remove_unused_columns(dataset, description=description)
        column_names = getattr(dataset, "column_names", None) or ()
        if "audio" in column_names and hasattr(dataset, "with_format") and dataset.format.get("type") is None:
            dataset = dataset.with_format("numpy", columns=["audio"], output_all_columns=True)
        return dataset

    def _sampler_seed(self) -> int:
        return self.args.data_seed if self.args.data_seed is not None else self.args.seed

    def _build_round_robin_sampler(self, corpora) -> RoundRobinBatchSampler:
        args = self.args
        if args.max_steps is None or args.max_steps <= 0:
            raise ValueError(
                "round-robin training counts steps, not epochs: set max_steps (the paper: 3000 for stage 1, "
                "10000 for stage 2)"
            )
        return RoundRobinBatchSampler.from_corpus_column(
            corpora,
            self._train_batch_size,
            seed=self._sampler_seed(),
            num_replicas=max(1, args.world_size),
            rank=args.process_index if args.world_size > 1 else 0,
            num_steps=args.max_steps * args.gradient_accumulation_steps,
        )

    def get_train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            raise ValueError("Trainer: training requires a train_dataset.")
        dataset = self.train_dataset
        column_names = getattr(dataset, "column_names", None)
        if column_names is None or "corpus" not in column_names:
            raise ValueError("the training dataset needs a 'corpus' column (a prepared split, see exhubert_hf.schema)")
        corpora = dataset["corpus"]
        corpora = list(corpora) if not isinstance(corpora, list) else corpora
        sampler = self._build_round_robin_sampler(corpora)
        self._check_sampler_matches_checkpoint(sampler)
        self.round_robin_sampler = sampler
        logger.info("round-robin sampler: %r", sampler)

        dataset = self._remove_unused_columns(dataset, description="Training")
        debug_dir = os.environ.get(DEBUG_DIR_ENV)
        if debug_dir:
            Path(debug_dir).mkdir(parents=True, exist_ok=True)
            rank = self.args.process_index
            dataset = _BatchLoggingDataset(dataset, corpora, Path(debug_dir) / f"batches-rank{rank}.jsonl", rank)
        args = self.args
        loader_kwargs = {
            "batch_sampler": sampler,
            "collate_fn": self.data_collator,
            "num_workers": args.dataloader_num_workers,
            "pin_memory": args.dataloader_pin_memory,
            "persistent_workers": args.dataloader_persistent_workers and args.dataloader_num_workers > 0,
            "worker_init_fn": partial(seed_worker, num_workers=args.dataloader_num_workers, rank=args.process_index),
        }
        if args.dataloader_num_workers > 0:
            if args.dataloader_prefetch_factor is not None:
                loader_kwargs["prefetch_factor"] = args.dataloader_prefetch_factor
            if args.dataloader_multiprocessing_context is not None:
                loader_kwargs["multiprocessing_context"] = args.dataloader_multiprocessing_context
        loader = self.accelerator.prepare(DataLoader(dataset, **loader_kwargs))
        if isinstance(loader, DataLoaderDispatcher):
            raise ValueError(
                "accelerate's dispatch_batches mode (one process loads, all get slices) cannot keep a step to one "
                "corpus with a rank-aware sampler; leave accelerator_config.dispatch_batches unset"
            )
        _make_shard_passthrough(loader, sampler)
        return loader

    def _check_sampler_matches_checkpoint(self, sampler: RoundRobinBatchSampler) -> None:
        """On resume, the saved sampler state must describe the same corpora and global batch; otherwise the
        resumed run would silently see other batches than the interrupted one."""
        if self._resumed_from is None:
            return
        state_file = Path(self._resumed_from) / SAMPLER_STATE
        if not state_file.is_file():
            logger.warning("%s has no %s; cannot check that the data is unchanged", self._resumed_from, SAMPLER_STATE)
            return
        state = json.loads(state_file.read_text())
        saved_seed = state.get("seed", sampler.seed)
        if saved_seed != sampler.seed:
            raise ValueError(
                f"the checkpoint was trained with data seed {saved_seed}, this run uses {sampler.seed}: "
                "resume with the same seed / data_seed"
            )
        num_steps = sampler.num_steps
        sampler.load_state_dict(state)  # raises ValueError naming what changed
        sampler.num_steps = num_steps  # training may be extended (a larger max_steps) on resume
        sampler.set_start_step(0)  # the Trainer skips the steps already done itself

    # ---- training ------------------------------------------------------------------------------------------------

    def train(self, resume_from_checkpoint=None, trial=None, ignore_keys_for_eval=None, **kwargs):
        """As `Trainer.train`. `resume_from_checkpoint`: True = the newest *complete* checkpoint in output_dir (an
        error if there is none), "last" = the same but start from scratch if there is none, a path = that
        checkpoint (refused if incompletely written)."""
        resume = resolve_resume_checkpoint(resume_from_checkpoint, self.args.output_dir, self.args.save_only_model)
        self._resumed_from = resume
        self._remove_stale_staging_folders()
        output = super().train(
            resume_from_checkpoint=resume, trial=trial, ignore_keys_for_eval=ignore_keys_for_eval, **kwargs
        )
        debug_dir = os.environ.get(DEBUG_DIR_ENV)
        if debug_dir:
            model = self.accelerator.unwrap_model(self.model)
            path = Path(debug_dir) / f"weights-rank{self.args.process_index}.txt"
            path.write_text(state_dict_sha256(model) + "\n")
        return output

    def training_step(self, model, inputs, num_items_in_batch=None):
        step = self.state.global_step
        if step != self._seeded_step:
            seed_for_step(self.args.seed, step)
            self._seeded_step = step
        return super().training_step(model, inputs, num_items_in_batch)

    # ---- evaluation ----------------------------------------------------------------------------------------------

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        """As `Trainer.evaluate`; for a dict of datasets also the means over them of UAR, WA and loss
        (`eval_uar`, `eval_wa`, `eval_loss`), logged as one entry and passed to the callbacks."""
        datasets = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(datasets, Mapping):
            return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        metrics = super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        means = {}
        for key in ("uar", "wa", "loss"):
            values = [metrics.get(f"{metric_key_prefix}_{name}_{key}") for name in datasets]
            values = [value for value in values if value is not None]
            if values:
                means[f"{metric_key_prefix}_{key}"] = float(np.mean(values))
        if means:
            self.log(dict(means))
            metrics.update(means)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ---- checkpoints ---------------------------------------------------------------------------------------------

    def _remove_stale_staging_folders(self) -> None:
        if not self.args.should_save:
            return
        output_dir = Path(self.args.output_dir)
        if output_dir.is_dir():
            for path in output_dir.glob(f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-*"):
                if path.is_dir():
                    logger.warning("removing %s, a checkpoint whose writing was interrupted", path)
                    shutil.rmtree(path, ignore_errors=True)

    def _save_checkpoint(self, model, trial) -> None:
        """Trainer._save_checkpoint, writing to a staging folder that is renamed to `checkpoint-N` only when
        complete (flushed to disk and listed in `checkpoint-complete.json`)."""
        args = self.args
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        if self.hp_search_backend is None and trial is None:
            self.store_flos()
        run_dir = Path(self._get_output_dir(trial=trial))
        final_dir = run_dir / name
        staging_dir = run_dir / f"{STAGING_PREFIX}{name}"
        if args.should_save:
            if staging_dir.exists():
                shutil.rmtree(staging_dir)
            staging_dir.mkdir(parents=True)
        self.accelerator.wait_for_everyone()

        self.save_model(str(staging_dir), _internal_call=True)

        if args.save_strategy in (SaveStrategy.STEPS, SaveStrategy.EPOCH, SaveStrategy.BEST) and self.state.best_global_step:
            best_dir = run_dir / f"{PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}"
            if self.state.best_global_step == self.state.global_step or best_dir.exists():
                self.state.best_model_checkpoint = str(best_dir)

        if not args.save_only_model:
            self._save_optimizer_and_scheduler(str(staging_dir))
            self._save_scaler(str(staging_dir))
            self._save_rng_state(str(staging_dir))

        if args.should_save:
            for callback in [cb for cb in self.callback_handler.callbacks + [self.control] if _is_exportable(cb)]:
                callback_name = callback.__class__.__name__
                callback_state = callback.state()
                if isinstance(self.state.stateful_callbacks.get(callback_name), list):
                    self.state.stateful_callbacks[callback_name].append(callback_state)
                else:
                    self.state.stateful_callbacks[callback_name] = callback_state
            self.state.save_to_json(str(staging_dir / TRAINER_STATE))
            if self.round_robin_sampler is not None:
                steps_done = self.state.global_step * args.gradient_accumulation_steps
                sampler_state = self.round_robin_sampler.state_dict(step=steps_done)
                (staging_dir / SAMPLER_STATE).write_text(json.dumps(sampler_state, indent=2) + "\n")

        self.accelerator.wait_for_everyone()  # every process has written its files (e.g. rng_state_<rank>.pth)
        if args.should_save:
            _publish_checkpoint(staging_dir, final_dir, self.state.global_step)
        self.accelerator.wait_for_everyone()

        if args.push_to_hub:
            self._push_from_checkpoint(str(final_dir))
        if args.should_save:
            _rotate_checkpoints(run_dir, args.save_total_limit, final_dir, self.state.best_model_checkpoint)


def _is_exportable(callback) -> bool:
    from transformers.trainer_callback import ExportableState

    return isinstance(callback, ExportableState)


def _publish_checkpoint(staging_dir: Path, final_dir: Path, step: int) -> None:
    files = {
        str(path.relative_to(staging_dir)): path.stat().st_size
        for path in sorted(staging_dir.rglob("*"))
        if path.is_file()
    }
    marker = staging_dir / CHECKPOINT_COMPLETE
    marker.write_text(json.dumps({"global_step": step, "files": files}, indent=1) + "\n")
    _fsync_tree(staging_dir)
    trash = None
    if final_dir.exists():  # e.g. an earlier, interrupted run that got this far: replace it
        trash = final_dir.with_name(f"{STAGING_PREFIX}old-{final_dir.name}")
        if trash.exists():
            shutil.rmtree(trash)
        os.replace(final_dir, trash)
    os.replace(staging_dir, final_dir)
    _fsync_dir(final_dir.parent)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _rotate_checkpoints(run_dir: Path, limit: int | None, newest: Path, best: str | None) -> None:
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


def _make_shard_passthrough(loader, sampler) -> None:
    """`accelerator.prepare` wraps the batch sampler in a `BatchSamplerShard` that would hand consecutive batches
    to different processes; our sampler already yields this process's part of every step, so the wrapper must
    pass every batch through unchanged."""
    shard = getattr(loader, "batch_sampler", None)
    if isinstance(shard, BatchSamplerShard):
        if shard.batch_sampler is not sampler:
            raise RuntimeError("unexpected batch sampler layout after accelerator.prepare")
        shard.num_processes = 1
        shard.process_index = 0
        shard.split_batches = False
        shard.even_batches = False
        shard.batch_size = None  # every batch is yielded as it comes, whatever its length
    elif shard is not sampler and getattr(loader, "sampler", None) is not sampler:
        raise RuntimeError(f"unexpected data loader layout after accelerator.prepare: {type(shard).__name__}")


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
                raise ValueError(f"No valid checkpoint found in output directory ({output_dir})")
            logger.info("no complete checkpoint in %s: training from the start", output_dir)
            return None
        logger.info("resuming from %s", last)
        return str(last)
    folder = Path(value)
    if not folder.is_dir():
        raise FileNotFoundError(f"resume_from_checkpoint: {folder} is not a folder")
    if (folder / CHECKPOINT_COMPLETE).exists():
        problem = checkpoint_problem(folder)
        if problem is not None:
            raise IncompleteCheckpointError(f"{folder} is not a complete checkpoint: {problem}")
    else:
        _validate_foreign_checkpoint(folder, needs_optimizer=not save_only_model)
    return str(folder)


__all__ = [
    "CHECKPOINT_COMPLETE",
    "DEBUG_DIR_ENV",
    "IncompleteCheckpointError",
    "RoundRobinTrainer",
    "checkpoint_is_complete",
    "checkpoint_problem",
    "complete_checkpoints",
    "last_complete_checkpoint",
    "resolve_resume_checkpoint",
    "seed_for_step",
    "state_dict_sha256",
]


# =====================================================================================================================
# The fine-tuning pipeline behind `training/finetune.py` (and the offline demo)
# =====================================================================================================================

STAGES = ("stage1", "stage2", "expand-only")

# The paper's optimisation settings (Amiriparian et al., Interspeech 2024): AdamW, lr 1e-5, betas (0.9, 0.999),
# eps 1e-8, 3000 steps in stage 1 (10000 in stage 2: see training/configs/stage2_exhubert.yaml), no class
# re-weighting; the rest are this project's defaults. A config file and then the command line override them.
PAPER_DEFAULTS = {
    "optim": "adamw_torch",
    "learning_rate": 1e-5,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "weight_decay": 0.0,
    "lr_scheduler_type": "constant",
    "max_steps": 3000,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "eval_strategy": "steps",
    "eval_steps": 250,
    "save_strategy": "steps",
    "save_steps": 250,
    "save_total_limit": 2,
    "load_best_model_at_end": True,
    "metric_for_best_model": "uar",
    "greater_is_better": True,
    "logging_steps": 50,
    "report_to": "none",
    "output_dir": "runs/exhubert",
}


@dataclass
class ModelArguments:
    """Which model to fine-tune, and how."""

    model_name_or_path: str = field(
        default="facebook/hubert-large-ll60k",
        metadata={"help": "HuBERT or ExHuBERT: a Hub id or a local folder (e.g. a stage-1 output_dir)."},
    )
    stage: str = field(
        default="stage1",
        metadata={
            "help": "stage1: fine-tune the model as it is (a HuBERT: no expansion) round-robin over the corpora; "
            "stage2: block-expand a HuBERT (num_copies per layer) and fine-tune (an ExHuBERT is fine-tuned as is); "
            "expand-only: write the expanded model to output_dir, no training.",
            "choices": list(STAGES),
        },
    )
    num_copies: int = field(default=1, metadata={"help": "Copies per layer in block expansion (2: the paper's XLarge)."})
    freeze_original_layers: bool = field(
        default=True, metadata={"help": "After expansion, train only the copies, gates and head (the paper's setting)."}
    )
    freeze_feature_encoder: bool = field(default=True, metadata={"help": "No gradient for the CNN feature encoder."})
    original_layer_gates: bool = field(
        default=False, metadata={"help": "Give the original layers identity-initialised gates too (published layout)."}
    )
    tiny: bool = field(
        default=False,
        metadata={"help": "Build a tiny random HuBERT instead of loading model_name_or_path (tests, offline demo)."},
    )
    model_revision: str | None = field(default=None, metadata={"help": "Hub revision (commit) of the model."})
    config_overrides: str | None = field(
        default=None,
        metadata={"help": 'JSON object of config fields to change, e.g. \'{"layerdrop": 0.0, "mask_time_prob": 0.0}\'.'},
    )
    attn_implementation: str | None = field(default=None, metadata={"help": "eager, sdpa or flash_attention_2."})


@dataclass
class DataArguments:
    """Which corpora to train and evaluate on."""

    corpora: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Corpora as NAME=ROOT: a registry name and its folder (emodb=/data/emodb) or "
            "manifest:NAME=FILE for a CSV/JSONL manifest; prepared (and cached) with exhubert_hf.prepare."
        },
    )
    prepared_dataset: str | None = field(
        default=None, metadata={"help": "A dataset written by `exhubert prepare --output` (instead of corpora)."}
    )
    train_corpora: list[str] = field(
        default_factory=list,
        metadata={"help": "Use only these corpora of the dataset (e.g. the stage-2 target). Default: all."},
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Prepare cache (default ~/.cache/exhubert/prepared)."})
    max_seconds: float | None = field(
        default=None, metadata={"help": "Crop every clip to its first max_seconds (memory bound; default: no crop)."}
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of the speaker-independent / random splits."})
    preprocessing_num_workers: int = field(default=1, metadata={"help": "Processes decoding audio in prepare."})


def build_argument_parser():
    from transformers import HfArgumentParser, TrainingArguments

    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    parser.description = (
        "Fine-tune HuBERT / ExHuBERT for six-class speech emotion recognition with round-robin batches over "
        "corpora. Settings come from the paper's defaults, then --config FILE (YAML or JSON), then the "
        "command line."
    )
    parser.add_argument("--config", default=None, help="YAML or JSON file of arguments (the flags below, as keys).")
    parser.set_defaults(**PAPER_DEFAULTS)
    return parser


def load_config_file(path) -> dict:
    """A YAML (.yaml/.yml) or JSON config file as a dict of argument values."""
    import yaml

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file holds a mapping of argument names to values")
    return data


def _config_defaults(parser, config: dict, source: str) -> dict:
    """Config values as parser defaults: names checked, strings converted like command-line values (so `1e-5`,
    which YAML reads as a string, becomes a float), mappings of corpora turned into NAME=ROOT entries, other
    mappings (e.g. lr_scheduler_kwargs, config_overrides) into JSON where the argument takes a string."""
    actions = {action.dest: action for action in parser._actions if action.dest != "help"}
    unknown = sorted(set(config) - set(actions))
    if unknown:
        raise ValueError(f"{source}: unknown argument(s) {', '.join(unknown)}; see --help for the names")
    defaults = {}
    for name, value in config.items():
        action = actions[name]
        if name in ("corpora",) and isinstance(value, dict):
            value = [f"{corpus}={root}" for corpus, root in value.items()]
        elif isinstance(value, dict):
            value = json.dumps(value)
        convert = action.type if callable(action.type) else None
        if action.nargs in ("+", "*") and value is not None:
            values = value if isinstance(value, list) else [value]
            value = [convert(item) if convert and isinstance(item, str) else item for item in values]
        elif isinstance(value, str) and convert is not None:
            value = convert(value)
        if action.choices is not None and value is not None:
            values = value if isinstance(value, list) else [value]
            bad = [item for item in values if item not in action.choices]
            if bad:
                raise ValueError(f"{source}: {name}={bad[0]!r} is not one of {list(action.choices)}")
        defaults[name] = value
    return defaults


def parse_finetune_args(argv=None):
    """(ModelArguments, DataArguments, TrainingArguments) from the paper's defaults, then `--config FILE`, then
    the other command-line flags. A lone YAML/JSON path as the only argument is read as the config."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(argv)
    config = known.config
    if config is None and len(rest) == 1 and rest[0].lower().endswith((".yaml", ".yml", ".json")):
        config, rest = rest[0], []
    parser = build_argument_parser()
    if _launched_distributed() and not _has_accelerator():
        # `accelerate launch --multi_gpu` / torchrun on a machine without GPUs: gloo on CPU, not N lone processes
        parser.set_defaults(use_cpu=True)
    if config is not None:
        parser.set_defaults(**_config_defaults(parser, load_config_file(config), str(config)))
    outputs = parser.parse_args_into_dataclasses(args=rest)
    model_args, data_args, training_args = outputs[:3]
    if model_args.stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {model_args.stage!r}")
    return model_args, data_args, training_args


def _launched_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def _has_accelerator() -> bool:
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def load_training_data(data_args: DataArguments, training_args=None, show_progress: bool = True):
    """The prepared DatasetDict (train/validation/test) of `data_args`, restricted to `train_corpora`."""
    from datasets import load_from_disk

    if data_args.prepared_dataset:
        dataset = load_from_disk(data_args.prepared_dataset)
    elif data_args.corpora:
        from contextlib import nullcontext

        from .prepare import parse_corpus_entries, prepare_corpora

        corpora = parse_corpus_entries(data_args.corpora)
        first = training_args.main_process_first(desc="prepare corpora") if training_args is not None else nullcontext()
        is_main = training_args is None or training_args.process_index == 0
        with first:
            prepared = prepare_corpora(
                corpora,
                cache_dir=data_args.cache_dir,
                seed=data_args.split_seed,
                show_progress=is_main and show_progress,
                num_proc=data_args.preprocessing_num_workers,
            )
        if is_main:
            print(prepared.summary())
            if prepared.skipped:
                print(f"{len(prepared.skipped)} unreadable file(s) skipped, e.g. {prepared.skipped[0].path}: {prepared.skipped[0].reason}")
        dataset = prepared.dataset
    else:
        raise ValueError("no data: give corpora (NAME=ROOT entries) or prepared_dataset")
    if data_args.train_corpora:
        wanted = set(data_args.train_corpora)
        present = set().union(*(set(split["corpus"]) for split in dataset.values()))
        missing = sorted(wanted - present)
        if missing:
            raise ValueError(f"train_corpora {missing} are not in the dataset (it has {sorted(present)})")
        dataset = dataset.__class__({name: select_corpora(split, wanted) for name, split in dataset.items()})
    return dataset


def select_corpora(split, corpora) -> "datasets.Dataset":  # noqa: F821
    column = np.asarray(split["corpus"], dtype=object)
    return split.select(np.flatnonzero(np.isin(column, list(corpora))).tolist())


def split_by_corpus(split) -> dict:
    """{corpus: the rows of `split` from that corpus}, corpora sorted; corpora without rows are left out."""
    if split is None or len(split) == 0:
        return {}
    column = np.asarray(split["corpus"], dtype=object)
    return {name: split.select(np.flatnonzero(column == name).tolist()) for name in sorted(set(column.tolist()))}


def _config_overrides(model_args: ModelArguments) -> dict:
    overrides = model_args.config_overrides
    if overrides is None or overrides == "":
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    value = json.loads(overrides)
    if not isinstance(value, dict):
        raise ValueError(f"config_overrides must be a JSON object, got {overrides!r}")
    return value


def build_model(model_args: ModelArguments, seed: int = 0):
    """(model, feature extractor) for the stage: stage1 the model as it is (a HuBERT gets a six-class head),
    stage2 / expand-only the block expansion of a HuBERT (an ExHuBERT is used as it is); freezing as asked."""
    from transformers import AutoConfig, HubertForSequenceClassification, Wav2Vec2FeatureExtractor

    from .configuration_exhubert import EXHUBERT_LABELS
    from .modeling_exhubert import ExHubertForSequenceClassification

    id2label = dict(enumerate(EXHUBERT_LABELS))
    label2id = {label: index for index, label in id2label.items()}
    overrides = _config_overrides(model_args)
    load_kwargs = {}
    if model_args.attn_implementation:
        load_kwargs["attn_implementation"] = model_args.attn_implementation
    feature_extractor = None
    if model_args.tiny:
        from .testing import tiny_hubert_config

        torch.manual_seed(seed)
        config = tiny_hubert_config(**overrides)
        config.id2label, config.label2id = id2label, label2id
        model = HubertForSequenceClassification(config)
    else:
        path = model_args.model_name_or_path
        config = AutoConfig.from_pretrained(path, revision=model_args.model_revision, trust_remote_code=True)
        try:
            feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(path, revision=model_args.model_revision)
        except (OSError, ValueError):
            feature_extractor = None
        if config.model_type == "exhubert":
            model = ExHubertForSequenceClassification.from_pretrained(
                path, revision=model_args.model_revision, **overrides, **load_kwargs
            )
        elif config.model_type == "hubert":
            model = HubertForSequenceClassification.from_pretrained(
                path,
                revision=model_args.model_revision,
                num_labels=len(id2label),
                id2label=id2label,
                label2id=label2id,
                ignore_mismatched_sizes=True,
                **overrides,
                **load_kwargs,
            )
        else:
            raise ValueError(f"{path} holds a {config.model_type!r} model; ExHuBERT fine-tuning needs a HuBERT or ExHuBERT")
    is_exhubert = isinstance(model, ExHubertForSequenceClassification)
    if model_args.stage in ("stage2", "expand-only") and not is_exhubert:
        model = ExHubertForSequenceClassification.from_hubert(
            model,
            num_copies=model_args.num_copies,
            freeze_original_layers=model_args.freeze_original_layers,
            freeze_feature_encoder=model_args.freeze_feature_encoder,
            original_layer_gates=model_args.original_layer_gates,
        )
    elif is_exhubert:
        if model_args.freeze_original_layers:
            model.freeze_original_layers()
        else:
            model.unfreeze_original_layers()
        if model_args.freeze_feature_encoder:
            model.freeze_feature_encoder()
    elif model_args.freeze_feature_encoder:
        model.freeze_feature_encoder()
    model.train()
    if feature_extractor is None:
        feature_extractor = default_feature_extractor(model.config)
    return model, feature_extractor


def uar_history(log_history, corpora) -> dict[str, list[tuple[int, float]]]:
    """{corpus: [(step, validation UAR), ...]} from a Trainer's `state.log_history`."""
    history = {corpus: [] for corpus in corpora}
    for entry in log_history:
        for corpus in corpora:
            value = entry.get(f"eval_{corpus}_uar")
            if value is not None and "step" in entry:
                history[corpus].append((int(entry["step"]), float(value)))
    return {corpus: points for corpus, points in history.items() if points}


def evaluate_test_sets(trainer: RoundRobinTrainer, test_sets: Mapping) -> dict[str, dict]:
    """{corpus: {"uar", "wa", "num_clips", "labels", "predictions"}} on each test set (all processes take part)."""
    from .evaluation import corpus_metrics

    results = {}
    for corpus, dataset in test_sets.items():
        output = trainer.predict(dataset, metric_key_prefix=f"test_{corpus}")
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        predictions = np.asarray(logits).argmax(axis=-1)
        labels = np.asarray(output.label_ids)
        results[corpus] = dict(corpus_metrics(labels, predictions), labels=labels, predictions=predictions)
    return results


def run_finetuning(model_args: ModelArguments, data_args: DataArguments, training_args, callbacks=None, quiet: bool = False) -> dict:
    """The whole run: data, model, round-robin training (resuming if asked), final model in output_dir, test
    results per corpus (results.json/md/csv), validation-UAR curves and confusion matrices. Returns
    `{"output_dir", "results" (results.json's content, or None), "plots": [...], "model_dir", "trainer"}`.
    `quiet` drops the Trainer's printed logs and progress bars (the `callbacks` still see everything)."""
    from transformers.trainer_utils import set_seed

    from .evaluation import plot_confusion_matrix, plot_uar_curves, write_results

    if _launched_distributed() and training_args.world_size <= 1:
        raise RuntimeError(
            f"launched as one of {os.environ['WORLD_SIZE']} processes, but training is not distributed (no GPU? pass "
            "--use_cpu true for CPU training with gloo): every process would train alone on the same output_dir"
        )
    output_dir = Path(training_args.output_dir)
    is_main = training_args.process_index == 0
    set_seed(training_args.seed)
    model, feature_extractor = build_model(model_args, seed=training_args.seed)
    if model_args.stage == "expand-only":
        if is_main:
            model.save_pretrained(output_dir)
            feature_extractor.save_pretrained(output_dir)
            model.print_trainable_parameters()
        return {"output_dir": str(output_dir), "results": None, "plots": [], "model_dir": str(output_dir)}

    dataset = load_training_data(data_args, training_args, show_progress=not quiet)
    validation_sets = split_by_corpus(dataset.get("validation"))
    test_sets = split_by_corpus(dataset.get("test"))
    if not validation_sets and training_args.eval_strategy != "no":
        logger.warning("no validation clips: evaluation during training and best-model selection are off")
        training_args = dataclasses.replace(training_args, eval_strategy="no", load_best_model_at_end=False)
    trainer = RoundRobinTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset["train"],
        eval_dataset=validation_sets or None,
        processing_class=feature_extractor,
        max_seconds=data_args.max_seconds,
        callbacks=callbacks,
    )
    if quiet:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()  # the final (with load_best_model_at_end: the best) model, loadable from output_dir
    trainer.save_state()

    results, plots = None, []
    test_results = evaluate_test_sets(trainer, test_sets) if test_sets else {}
    if is_main:
        name = Path(model_args.model_name_or_path).name if not model_args.tiny else "tiny HuBERT"
        model_name = f"{model_args.stage} ({name})"
        if test_results:
            results = write_results(test_results, output_dir, split="test", model_name=model_name)
            for corpus, values in test_results.items():
                path = output_dir / f"confusion_{_file_safe(corpus)}.png"
                plot_confusion_matrix(values["labels"], values["predictions"], path, title=f"{corpus} (test)")
                plots.append(str(path))
        history = uar_history(trainer.state.log_history, list(validation_sets))
        if history:
            path = plot_uar_curves(history, output_dir / "validation_uar.png", title=f"Validation UAR, {model_name}")
            plots.insert(0, str(path))
    trainer.accelerator.wait_for_everyone()
    return {"output_dir": str(output_dir), "results": results, "plots": plots, "model_dir": str(output_dir), "trainer": trainer}


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def format_results(summary: dict) -> str:
    results = summary.get("results")
    lines = []
    if results:
        for corpus, values in results["per_corpus"].items():
            lines.append(f"  {corpus:<20} UAR {100 * values['uar']:5.1f} %   WA {100 * values['wa']:5.1f} %   ({values['num_clips']} clips)")
        lines.append(f"  {'mean':<20} UAR {100 * results['mean']['uar']:5.1f} %   WA {100 * results['mean']['wa']:5.1f} %")
    lines.append(f"model: {summary['model_dir']}")
    lines += [f"plot: {path}" for path in summary.get("plots", [])]
    return "\n".join(lines)


def main(argv=None) -> int:
    """`python training/finetune.py --config FILE [--flag value ...]` (also under `accelerate launch`)."""
    model_args, data_args, training_args = parse_finetune_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    import transformers

    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    summary = run_finetuning(model_args, data_args, training_args)
    if training_args.process_index == 0:
        print(format_results(summary))
    return 0

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
* **Crash-safe checkpoints.** Written to a staging folder and renamed to `checkpoint-N` only when complete;
  resuming takes the newest complete one (`exhubert_hf.train.checkpoints`).
* **Per-corpus evaluation.** With `eval_dataset={corpus: dataset}` the metrics are `eval_<corpus>_uar`,
  `eval_<corpus>_wa`, ... plus their means `eval_uar`, `eval_wa`, `eval_loss`, logged as one entry, so
  `metric_for_best_model="uar"` selects checkpoints by the mean UAR over corpora.
* **Dimensions.** For a model with `config.dimensions` the collator passes each clip's ratings on as
  `dimension_targets`, which the Trainer's `label_names` include, so the metrics also hold `ccc_<dimension>`,
  `pearson_<dimension>` and `ccc` (their mean) per corpus and, over the corpora that have them, their means
  (`eval_ccc`: `metric_for_best_model="ccc"` selects by it, e.g. for a model without classes, `num_labels=0`).
* **Plots.** A `TrainingPlotsCallback` (`exhubert_hf.train.callbacks`) redraws `validation_uar.png` at every
  evaluation and draws a confusion matrix at every `predict`; `plot_title` heads them, `plots=False` leaves it out.
* **DDP without needless work.** Unless `ddp_find_unused_parameters` is set, DDP looks for unused parameters only when
  some can go unused (`parameters_can_go_unused`): frozen parameters are not DDP's concern, layer drop and an unused
  SpecAugment embedding are.
* **Loadable folders.** Every checkpoint and the final model hold config, weights and
  `preprocessor_config.json` (the feature extractor is the Trainer's `processing_class`), and for ExHuBERT the
  remote-code files, so `AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True)` and
  `pipeline("audio-classification", folder, trust_remote_code=True)` work on them.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import logging
import random
import shutil
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np
import torch
from accelerate.data_loader import BatchSamplerShard, DataLoaderDispatcher
from torch.utils.data import DataLoader
from transformers import Trainer
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, SaveStrategy, seed_worker

from ..data.collator import HUBERT_RECEPTIVE_FIELD, AudioCollator
from ..data.sampler import RoundRobinBatchSampler
from ..errors import UsageError
from ..modeling_exhubert import default_feature_extractor
from ..preprocessing import receptive_field
from . import debug
from .callbacks import TrainingPlotsCallback
from .checkpoints import (
    SAMPLER_STATE,
    TRAINER_STATE,
    publish_checkpoint,
    remove_stale_staging_folders,
    resolve_resume_checkpoint,
    rotate_checkpoints,
    staging_folder,
)

logger = logging.getLogger(__name__)

MAX_STEPS_NEEDED = "round-robin training counts steps, not epochs: set max_steps (the paper: 3000 for stage 1, 10000 for stage 2)"

# The steps of `Trainer._save_checkpoint` (transformers 5.24) that `RoundRobinTrainer._save_checkpoint` mirrors,
# in order. `saved_checkpoint_steps()` reads them from the installed transformers; tests/test_drift.py fails
# when the two differ, so that a change there is noticed instead of silently not mirrored.
MIRRORED_SAVE_CHECKPOINT_STEPS = (
    "store_flos",
    "_get_output_dir",
    "save_model",
    "_save_optimizer_and_scheduler",
    "_save_scaler",
    "_save_rng_state",
    "save_to_json",
    "_push_from_checkpoint",
    "rotate_checkpoints",
)


def saved_checkpoint_steps(trainer_class: type = Trainer) -> tuple[str, ...]:
    """The methods and functions that `trainer_class._save_checkpoint` calls and that are checkpoint steps
    (those above, and any `_save*`), in source order."""
    tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(trainer_class._save_checkpoint)))
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if name in MIRRORED_SAVE_CHECKPOINT_STEPS or name.startswith("_save"):
                calls.append((node.lineno, node.col_offset, name))
    return tuple(name for *_, name in sorted(calls))


def seed_for_step(seed: int, step: int) -> None:
    """Seeds Python, NumPy and torch (all devices) from `(seed, step)`: dropout, layer drop and SpecAugment
    masks of a step do not depend on what ran before it (resume, evaluation, data loading)."""
    state = np.random.SeedSequence([int(seed) & ((1 << 64) - 1), int(step), 0x45784855]).generate_state(2)
    random.seed(int(state[0]))
    np.random.seed(int(state[0]))
    torch.manual_seed(int(state[1]))


class RoundRobinTrainer(Trainer):
    """`Trainer` with round-robin multi-corpus batches, exact resume, crash-safe checkpoints and per-corpus
    evaluation (see the module docstring).

    `train_dataset` is a prepared split (`exhubert_hf.schema`: `audio`, `label`, `corpus`, ...);
    `eval_dataset` a prepared split or a dict `{corpus: split}`. When `data_collator` is not given it is an
    `AudioCollator` over `processing_class` (default: `default_feature_extractor(model.config)`), cropping clips
    to their first `max_seconds` and passing on the model's dimensions. `compute_metrics` defaults to UAR and WA, and
    CCC and Pearson's r per dimension (`exhubert_hf.train.evaluation`). The plots (module docstring) are headed by
    `plot_title`; `plots=False` draws none.
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
        plot_title: str | None = None,
        plots: bool = True,
        callbacks=None,
        **kwargs,
    ):
        config = getattr(model, "config", None)
        self.dimensions, self.classes = model_outputs(config)
        if processing_class is None and model is not None:
            processing_class = default_feature_extractor(model.config)
        if data_collator is None and processing_class is not None:
            data_collator = AudioCollator(
                processing_class,
                max_seconds=max_seconds,
                num_labels=getattr(config, "num_labels", 6),
                min_samples=receptive_field(config) if config is not None else HUBERT_RECEPTIVE_FIELD,
                dimensions=self.dimensions,
            )
        if compute_metrics is None:
            from .evaluation import compute_metrics as uar_and_wa

            compute_metrics = partial(uar_and_wa, dimensions=self.dimensions, classes=self.classes)
        if args is not None and args.label_names is None:  # the targets of the metrics: classes and/or dimensions
            label_names = ["labels"] * self.classes + ["dimension_targets"] * bool(self.dimensions)
            args = dataclasses.replace(args, label_names=label_names)
        self.plots_callback = None
        if plots:
            outputs = dict(dimensions=self.dimensions, classes=self.classes)
            self.plots_callback = TrainingPlotsCallback(plot_title, compute_metrics=compute_metrics, **outputs)
        if self.plots_callback is not None:
            compute_metrics = self.plots_callback.compute_metrics
            callbacks = [*(callbacks or ()), self.plots_callback]
        checkpointing = getattr(args, "activation_checkpointing", False) or getattr(model, "is_activation_checkpointing", False)
        if args is not None and model is not None and args.ddp_find_unused_parameters is None and not checkpointing:
            # (with activation checkpointing transformers' own rule holds: it never looks for unused parameters)
            args = dataclasses.replace(args, ddp_find_unused_parameters=parameters_can_go_unused(model))
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
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
        # what AudioCollator reads ("path" names bad rows in errors)
        for column in ("audio", "label", "path", *self.dimensions):
            if column not in self._signature_columns:
                self._signature_columns.append(column)

    def _remove_unused_columns(self, dataset, description=None):
        """As the Trainer (keeping `audio`, `label`, `path` and the model's dimensions), and the audio read as NumPy
        arrays: about ten times
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
            raise UsageError(MAX_STEPS_NEEDED)
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
        dataset = debug.log_batches(dataset, corpora, self.args.process_index)
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
        if self.args.should_save:
            remove_stale_staging_folders(self.args.output_dir)
        output = super().train(
            resume_from_checkpoint=resume, trial=trial, ignore_keys_for_eval=ignore_keys_for_eval, **kwargs
        )
        debug.record_final_weights(self.accelerator.unwrap_model(self.model), self.args.process_index)
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
        (`eval_uar`, `eval_wa`, `eval_loss`) and, for a model with dimensions, of CCC and Pearson's r (`eval_ccc`,
        `eval_ccc_<dimension>`, ...; over the datasets that have them), logged as one entry and passed to the
        callbacks."""
        datasets = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(datasets, Mapping):
            return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        metrics = super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        means = {}
        per_dimension = [f"{kind}_{name}" for name in self.dimensions for kind in ("ccc", "pearson")]
        for key in ("uar", "wa", "loss", *(["ccc", *per_dimension] if self.dimensions else [])):
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

    def _save_checkpoint(self, model, trial) -> None:
        """Trainer._save_checkpoint (the steps of MIRRORED_SAVE_CHECKPOINT_STEPS), writing to a staging folder
        that is renamed to `checkpoint-N` only when complete (`exhubert_hf.train.checkpoints`)."""
        args = self.args
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        if self.hp_search_backend is None and trial is None:
            self.store_flos()
        run_dir = Path(self._get_output_dir(trial=trial))
        final_dir = run_dir / name
        staging_dir = staging_folder(run_dir, self.state.global_step)
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
            for callback in [cb for cb in self.callback_handler.callbacks + [self.control] if isinstance(cb, ExportableState)]:
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
            publish_checkpoint(staging_dir, final_dir, self.state.global_step)
        self.accelerator.wait_for_everyone()

        if args.push_to_hub:
            self._push_from_checkpoint(str(final_dir))
        if args.should_save:
            rotate_checkpoints(run_dir, args.save_total_limit, final_dir, self.state.best_model_checkpoint)


def model_outputs(config) -> tuple[tuple[str, ...], bool]:
    """What a model with `config` predicts: its dimensions (`config.dimensions`, () for none) and whether it has
    classes (`num_labels` > 0)."""
    return tuple(getattr(config, "dimensions", None) or ()), getattr(config, "num_labels", 1) > 0


def parameters_can_go_unused(model) -> bool:
    """Whether a training step can leave some trainable parameter without a gradient, which DDP must then look for
    (`find_unused_parameters`; looking when none can be unused costs a graph traversal per step and a warning on
    every process). Frozen parameters never count. Unused can be: the encoder layers under layer drop, and the
    SpecAugment embedding when no time masking uses it."""
    config = model.config
    if getattr(config, "layerdrop", 0.0) > 0 and any(
        parameter.requires_grad for name, parameter in model.named_parameters() if ".layers." in name
    ):
        return True
    embedding = getattr(getattr(model, "hubert", model), "masked_spec_embed", None)
    masks_time = getattr(config, "apply_spec_augment", True) and getattr(config, "mask_time_prob", 0.0) > 0
    return embedding is not None and embedding.requires_grad and not masks_time


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


__all__ = [
    "MAX_STEPS_NEEDED",
    "MIRRORED_SAVE_CHECKPOINT_STEPS",
    "RoundRobinTrainer",
    "model_outputs",
    "parameters_can_go_unused",
    "saved_checkpoint_steps",
    "seed_for_step",
]

"""A whole fine-tuning run, as `exhubert train` / `training/finetune.py` do it: data, model, round-robin
training (resuming if asked), the final model in output_dir, test results per corpus and the plots.
"""

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from datasets import load_from_disk
from tqdm.auto import tqdm
from transformers import HubertForSequenceClassification, Wav2Vec2FeatureExtractor
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.trainer_utils import set_seed
from transformers.utils import logging as transformers_logging

from ..configuration_exhubert import EXHUBERT_LABELS, ExHubertConfig
from ..data.plan import parse_corpus_entries
from ..data.prepare import prepare_corpora
from ..errors import ModelLoadError, UsageError
from ..loading import check_loading_info, read_model_config
from ..modeling_exhubert import ExHubertForSequenceClassification, default_feature_extractor
from ..testing import tiny_hubert_config
from .arguments import ConfigError, DataArguments, ModelArguments, config_overrides_dict, launched_distributed
from .checks import check_run, clear_previous_run, unsupported_model_type
from .evaluation import corpus_metrics, dimension_metrics, evaluation_outputs, write_results
from .frozen_layers import set_frozen_layer_memory
from .run_info import write_run_info
from .trainer import RoundRobinTrainer

logger = logging.getLogger(__name__)


def load_training_data(data_args: DataArguments, training_args=None, show_progress: bool = True):
    """The prepared DatasetDict (train/validation/test) of `data_args`, restricted to `train_corpora`."""

    if data_args.prepared_dataset:
        dataset = load_from_disk(data_args.prepared_dataset)
    elif data_args.corpora:
        from contextlib import nullcontext

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
                own_splits=data_args.own_splits,
            )
        if is_main:
            print(prepared.summary())
            if prepared.skipped:
                print(f"{len(prepared.skipped)} unreadable file(s) skipped, e.g. {prepared.skipped[0].path}: {prepared.skipped[0].reason}")
        dataset = prepared.dataset
    else:
        raise ConfigError("no data: give corpora (NAME=ROOT entries) or prepared_dataset")
    if data_args.train_corpora:
        wanted = set(data_args.train_corpora)
        present = set().union(*(set(split["corpus"]) for split in dataset.values()))
        missing = sorted(wanted - present)
        if missing:
            raise ConfigError(f"train_corpora {missing} are not in the dataset (it has {sorted(present)})")
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


def expansion_settings(model_args: ModelArguments, overrides: dict | None = None) -> dict:
    """The block-expansion arguments of a run (`ExHubertForSequenceClassification.from_hubert`), with its head's
    (`head_settings`). Expansion turns layer drop off (as the official code does) unless `config_overrides` sets
    `layerdrop` explicitly."""
    settings = dict(
        num_copies_per_layer=model_args.num_copies_per_layer,
        freeze_original_layers=model_args.freeze_original_layers,
        freeze_feature_encoder=model_args.freeze_feature_encoder,
        original_layer_gates=model_args.original_layer_gates,
        **head_settings(model_args),
    )
    if overrides and "layerdrop" in overrides:
        settings["layerdrop"] = overrides["layerdrop"]
    return settings


def head_settings(model_args: ModelArguments) -> dict:
    """The config fields the run's `dimensions`, `dimension_loss_weight` and `dimensions_only` ask for (none without
    dimensions: the model keeps the head it has)."""
    if not model_args.dimensions:
        return {}
    settings = dict(dimensions=list(model_args.dimensions), dimension_loss_weight=model_args.dimension_loss_weight)
    return settings | ({"num_labels": 0} if model_args.dimensions_only else {})


def build_model(model_args: ModelArguments, seed: int = 0):
    """(model, feature extractor) for the stage: stage1 the model as it is (a HuBERT gets a six-class head),
    stage2 / expand-only the block expansion of a HuBERT (an ExHuBERT is used as it is); freezing as asked."""
    id2label = dict(enumerate(EXHUBERT_LABELS))
    label2id = {label: index for index, label in id2label.items()}
    overrides = config_overrides_dict(model_args.config_overrides)
    load_kwargs = {}
    if model_args.attn_implementation:
        load_kwargs["attn_implementation"] = model_args.attn_implementation
    feature_extractor = None
    if model_args.tiny:
        torch.manual_seed(seed)
        config = tiny_hubert_config(**overrides)
        config.id2label, config.label2id = id2label, label2id
        model = HubertForSequenceClassification(config)
    else:
        path = model_args.model_name_or_path
        model_type = read_model_config(path, model_args.model_revision).get("model_type")  # read as data: no code runs
        try:
            feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(path, revision=model_args.model_revision)
        except (OSError, ValueError):
            feature_extractor = None
        if model_type == "exhubert":
            model = _exhubert_with_head(path, model_args, overrides, **load_kwargs)
        elif model_type == "hubert":
            model = _hubert_with_six_class_head(path, model_args.model_revision, id2label, **overrides, **load_kwargs)
        else:
            raise ModelLoadError(unsupported_model_type(path, model_type))
    is_exhubert = isinstance(model, ExHubertForSequenceClassification)
    if model_args.stage in ("stage2", "expand-only") and not is_exhubert:
        model = ExHubertForSequenceClassification.from_hubert(model, **expansion_settings(model_args, overrides))
    elif is_exhubert:
        if model_args.freeze_original_layers:
            model.freeze_original_layers()
        else:
            model.unfreeze_original_layers()
        if model_args.freeze_feature_encoder:
            model.freeze_feature_encoder()
    elif model_args.freeze_feature_encoder:
        model.freeze_feature_encoder()
    if isinstance(model, ExHubertForSequenceClassification):
        set_frozen_layer_memory(model, model_args.frozen_layer_memory)
    model.train()
    if feature_extractor is None:
        feature_extractor = default_feature_extractor(model.config)
    return model, feature_extractor


def _exhubert_with_head(path, model_args: ModelArguments, overrides: dict, **load_kwargs):
    """An ExHuBERT from `path` with the head the run asks for (`head_settings`): its own, or new dimensions (and, for
    `dimensions_only`, no classes), initialised for fine-tuning. The config is built first: `from_pretrained`'s own
    keyword arguments would apply `num_labels=0` before the dimensions that make it valid."""
    revision = model_args.model_revision
    head = head_settings(model_args)
    config = ExHubertConfig.from_pretrained(path, revision=revision, **overrides)
    if head:
        new_head = config.dimensions != head["dimensions"] or head.get("num_labels", config.num_labels) != config.num_labels
        settings = config.to_dict() | head
        if head.get("num_labels") == 0:
            for key in ("id2label", "label2id"):
                settings.pop(key, None)
        config = ExHubertConfig.from_dict(settings)
        if new_head:
            load_kwargs["ignore_mismatched_sizes"] = True  # the new tensors are the head's: checked by from_pretrained
            logger.info("%s: a new head for %s is initialised for fine-tuning", path, ", ".join(head["dimensions"]))
    return ExHubertForSequenceClassification.from_pretrained(path, revision=revision, config=config, **load_kwargs)


# Stage 1 gives a HuBERT a new six-class head; a CTC checkpoint's head (lm_head) is left behind; SpecAugment's embedding
# is missing from some checkpoints and starts anew. Any other missing, unexpected or misshapen tensor is an error.
_EXPECTED_LOADING_DIFFERENCES = {
    "missing_keys": ("projector.", "classifier.", "hubert.masked_spec_embed"),
    "unexpected_keys": ("lm_head.",),
    "mismatched_keys": ("projector.", "classifier."),
}


def _hubert_with_six_class_head(path, revision, id2label, **kwargs):
    """`HubertForSequenceClassification.from_pretrained` with the six ExHuBERT classes. transformers' load report,
    which lists the new head as missing, is replaced by a check that nothing else is."""
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model, info = HubertForSequenceClassification.from_pretrained(
            path,
            revision=revision,
            num_labels=len(id2label),
            id2label=id2label,
            label2id={label: index for index, label in id2label.items()},
            ignore_mismatched_sizes=True,
            output_loading_info=True,
            **kwargs,
        )
    finally:
        transformers_logging.set_verbosity(verbosity)
    unexpected = {
        kind: [key for key in info.get(kind) or () if not str(key[0] if isinstance(key, tuple) else key).startswith(allowed)]
        for kind, allowed in _EXPECTED_LOADING_DIFFERENCES.items()
    }
    check_loading_info(path, unexpected)
    logger.info("%s: a new six-class head (projector, classifier) is initialised for fine-tuning", path)
    return model


def evaluate_test_sets(trainer: RoundRobinTrainer, test_sets: Mapping) -> dict[str, dict]:
    """{corpus: {"uar", "wa", "num_clips", "labels", "predictions"}} on each test set (all processes take part); for a
    model with dimensions also "dimensions" (`evaluation.dimension_metrics`), and for one without classes only
    "num_clips" and "dimensions". One progress bar over the corpora (where the Trainer shows bars), not one per
    corpus."""
    results = {}
    progress = trainer.pop_callback(ProgressCallback)
    try:
        shown = progress is not None and trainer.is_world_process_zero()
        for corpus, dataset in tqdm(test_sets.items(), desc="test", unit="corpus", disable=not shown):
            output = trainer.predict(dataset, metric_key_prefix=f"test_{corpus}")
            given = evaluation_outputs((output.predictions, output.label_ids), trainer.dimensions, trainer.classes)
            results[corpus] = {"num_clips": len(dataset)}
            if trainer.classes:
                results[corpus].update(corpus_metrics(given.labels, given.predictions), labels=given.labels,
                                       predictions=given.predictions)  # fmt: skip
            if trainer.dimensions:
                dimensions = dimension_metrics(given.dimension_targets, given.dimensions, trainer.dimensions)
                results[corpus]["dimensions"] = dimensions
    finally:
        if progress is not None:
            trainer.add_callback(progress)
    return results


def run_title(model_args: ModelArguments, corpora=()) -> str:
    """What the run is, in words, for plot titles and results tables: e.g. "stage 2: block expansion (1 copy per
    layer, originals frozen) of runs/stage1, on crema_d"."""
    model = "a tiny random HuBERT" if model_args.tiny else model_args.model_name_or_path
    if model_args.stage == "stage1":
        what = f"stage 1: fine-tuning of {model}"
    else:
        copies = f"{model_args.num_copies_per_layer} cop{'y' if model_args.num_copies_per_layer == 1 else 'ies'} per layer"
        originals = "originals frozen" if model_args.freeze_original_layers else "originals trained"
        what = f"{'stage 2' if model_args.stage == 'stage2' else 'expand-only'}: block expansion ({copies}, {originals}) of {model}"
    if model_args.dimensions:
        what += f", {'only ' * model_args.dimensions_only}predicting {', '.join(model_args.dimensions)}"
    return what + (f", on {', '.join(corpora)}" if corpora else "")


def run_finetuning(model_args: ModelArguments, data_args: DataArguments, training_args, callbacks=None, quiet: bool = False) -> dict:
    """The whole run: every setting checked first (`checks.check_run`: all problems at once, before any download or
    decoding), then data, model, round-robin training (resuming if asked), the final model in output_dir, test
    results per corpus (results.json/md/csv), validation-UAR curves (redrawn at every evaluation) and test confusion
    matrices. Returns `{"output_dir", "results" (results.json's content, or None), "plots": [...], "model_dir",
    "trainer"}`. `quiet` drops the Trainer's printed logs and progress bars (the `callbacks` still see everything)."""
    if launched_distributed() and training_args.world_size <= 1:
        raise UsageError(
            f"launched as one of {os.environ['WORLD_SIZE']} processes, but training is not distributed (no GPU? pass "
            "--use_cpu true for CPU training with gloo): every process would train alone on the same output_dir"
        )
    check_run(model_args, data_args, training_args)
    output_dir = Path(training_args.output_dir)
    is_main = training_args.process_index == 0
    if training_args.overwrite_output_dir and training_args.resume_from_checkpoint is None:
        with training_args.main_process_first(desc="clear output_dir"):
            if is_main and clear_previous_run(output_dir):
                logger.warning("replaced the run in %s (--overwrite_output_dir)", output_dir)
    set_seed(training_args.seed)
    if is_main:
        write_run_info(output_dir, model_args, data_args, training_args)  # what the run started from, for `exhubert push`
    if model_args.stage == "expand-only":
        model, feature_extractor = build_model(model_args, seed=training_args.seed)
        if is_main:
            model.save_pretrained(output_dir)
            feature_extractor.save_pretrained(output_dir)
            model.print_trainable_parameters()
        return {"output_dir": str(output_dir), "results": None, "plots": [], "model_dir": str(output_dir)}

    dataset = load_training_data(data_args, training_args, show_progress=not quiet)  # data first: it fails more often
    model, feature_extractor = build_model(model_args, seed=training_args.seed)
    if model.config.num_labels == 0 and training_args.metric_for_best_model in ("uar", "wa"):
        logger.info("a model without classes: the best model is the one with the highest mean validation CCC")
        training_args = dataclasses.replace(training_args, metric_for_best_model="ccc", greater_is_better=True)
    validation_sets = split_by_corpus(dataset.get("validation"))
    test_sets = split_by_corpus(dataset.get("test"))
    title = run_title(model_args, sorted(set(dataset["train"]["corpus"])))
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
        plot_title=title,
    )
    if quiet:
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()  # the final (with load_best_model_at_end: the best) model, loadable from output_dir
    trainer.save_state()

    results = None
    test_results = evaluate_test_sets(trainer, test_sets) if test_sets else {}  # draws confusion_<corpus>.png
    if is_main and test_results:
        results = write_results(test_results, output_dir, split="test", model_name=title)
    trainer.accelerator.wait_for_everyone()
    plots = [str(path) for path in trainer.plots_callback.plots.values()]
    return {"output_dir": str(output_dir), "results": results, "plots": plots, "model_dir": str(output_dir), "trainer": trainer}


def format_results(summary: dict) -> str:
    results = summary.get("results")
    lines = []
    if results:
        rows = [*results["per_corpus"].items(), ("mean", results["mean"])]
        for corpus, values in rows:
            line = f"  {corpus:<20}"
            if "uar" in values:
                line += f" UAR {100 * values['uar']:5.1f} %   WA {100 * values['wa']:5.1f} %"
            for name, given in values.get("dimensions", {}).items():
                line += f"   {name} CCC {given['ccc']:.3f}"
            lines.append(line + (f"   ({values['num_clips']} clips)" if "num_clips" in values else ""))
    lines.append(f"model: {summary['model_dir']}")
    lines += [f"plot: {path}" for path in summary.get("plots", [])]
    return "\n".join(lines)


__all__ = [
    "build_model",
    "expansion_settings",
    "head_settings",
    "evaluate_test_sets",
    "format_results",
    "load_training_data",
    "run_finetuning",
    "select_corpora",
    "run_title",
    "split_by_corpus",
]

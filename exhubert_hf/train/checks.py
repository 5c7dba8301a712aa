"""What a training run needs, checked before anything expensive (a model download, decoding audio): every problem
of the settings at once, so that a mistyped corpus root costs a second, not minutes, and the user sees all of them.

    check_run(model_args, data_args, training_args)      # ConfigError listing every problem, one per line

And what a run leaves in its output_dir (`RUN_OUTPUTS`): a folder holding one is not replaced unless
`--overwrite_output_dir true` says so (`clear_previous_run` then removes it); resuming needs no such flag.
"""

import os
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..data.plan import CorpusSpecError, parse_corpus_entries, parse_corpus_specs
from ..data.roles import unseen_corpora
from ..data.schema import DIMENSIONS
from ..errors import ExHubertError
from ..fileio import STAGING_PREFIX
from ..loading import model_source, read_model_config
from .arguments import ConfigError
from .checkpoints import resolve_resume_checkpoint
from .trainer import MAX_STEPS_NEEDED

# A run's files in output_dir: the model (as save_pretrained and the Trainer write it), the trainer state, results,
# plots and checkpoints. What is not listed (e.g. TensorBoard logs, the user's own files) is never removed.
RUN_OUTPUTS = (
    "config.json", "model.safetensors", "model-*.safetensors", "model.safetensors.index.json",
    "preprocessor_config.json", "configuration_exhubert.py", "modeling_exhubert.py", "trainer_state.json",
    "training_args.bin", "results.json", "results.md", "results.csv", "validation_uar.png", "confusion_*.png",
    "validation_ccc.png", "dimensions_*.png",
    "run_info.json", f"{PREFIX_CHECKPOINT_DIR}-*", f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-*",
)  # fmt: skip
# Files whose presence means that output_dir holds a run (started or finished).
RUN_MARKERS = ("model.safetensors", "trainer_state.json", "results.json", f"{PREFIX_CHECKPOINT_DIR}-*")
SUPPORTED_MODEL_TYPES = ("hubert", "exhubert")


def check_run(model_args, data_args, training_args) -> None:
    """ConfigError naming every problem of the run's settings: corpora (each root), prepared_dataset, train_corpora,
    a local model folder, output_dir (writable, not holding another run), resume_from_checkpoint, max_steps and the
    frozen-layer memory mode. Nothing is downloaded or decoded."""
    problems = [
        *_data_problems(data_args, model_args.stage),
        *corpus_role_problems(model_args, data_args),
        *_model_problems(model_args),
        *_output_problems(training_args),
    ]
    if model_args.stage != "expand-only" and (training_args.max_steps is None or training_args.max_steps <= 0):
        problems.append(f"max_steps: {training_args.max_steps}: {MAX_STEPS_NEEDED}")
    if problems:
        raise ConfigError.listing(problems)


def corpus_role_problems(model_args, data_args) -> list[str]:
    """A stage-1 run on Table 2's unseen test corpora, which the paper keeps out of EmoSet++ fine-tuning
    (exhubert_hf/data/corpus_roles.yaml), is refused unless `allow_unseen_corpora`; decided from the names alone."""
    if model_args.stage != "stage1" or data_args.allow_unseen_corpora:
        return []
    try:
        if data_args.train_corpora:
            names = list(data_args.train_corpora)
        elif data_args.corpora:
            names = list(parse_corpus_entries(data_args.corpora))
        elif data_args.prepared_dataset and Path(data_args.prepared_dataset).is_dir():
            from datasets import load_from_disk  # memory-mapped: reading the corpus column is cheap

            dataset = load_from_disk(data_args.prepared_dataset)
            names = sorted(set().union(*(split.unique("corpus") for split in dataset.values())))
        else:
            return []
    except (CorpusSpecError, OSError, ValueError):
        return []  # reported by the data checks
    unseen = unseen_corpora(names)
    if not unseen:
        return []
    return [
        f"stage 1 would train on {', '.join(unseen)}: Table 2's unseen test corpora, which the paper keeps out of "
        "EmoSet++ fine-tuning; leave them out, or pass --allow_unseen_corpora true to train on them anyway"
    ]


def unsupported_model_type(path, model_type) -> str:
    return f"{path} holds a {model_type!r} model; ExHuBERT fine-tuning needs a HuBERT or ExHuBERT"


def _data_problems(data_args, stage: str) -> list[str]:
    if stage == "expand-only":
        return []  # no data is read
    if data_args.prepared_dataset:
        return _prepared_dataset_problems(data_args)
    if not data_args.corpora:
        return ["no data: give corpora (NAME=ROOT entries) or prepared_dataset"]
    try:
        entries = parse_corpus_entries(data_args.corpora)
    except CorpusSpecError as error:
        return [f"corpora: {error}"]
    problems = []
    for name, root in entries.items():
        try:
            parse_corpus_specs({name: root})
        except CorpusSpecError as error:
            problems.append(f"corpora: {error}")
    if problems:
        return problems
    try:
        names = [spec.name for spec in parse_corpus_specs(entries)]
    except CorpusSpecError as error:  # two entries with the same corpus name
        return [f"corpora: {error}"]
    problems += _train_corpora_problems(data_args.train_corpora, names)
    if data_args.cache_dir and not _can_create(data_args.cache_dir):
        problems.append(f"cache_dir: {data_args.cache_dir} cannot be created or written")
    return problems


def _prepared_dataset_problems(data_args) -> list[str]:
    folder = Path(data_args.prepared_dataset).expanduser()
    if not (folder / "dataset_dict.json").is_file():
        what = "does not exist" if not folder.exists() else "is not a dataset written by `exhubert prepare --output`"
        return [f"prepared_dataset: {folder} {what}"]
    if not data_args.train_corpora:
        return []
    from datasets import load_from_disk  # memory-mapped: reading the corpus column is cheap

    dataset = load_from_disk(str(folder))
    names = sorted(set().union(*(split.unique("corpus") for split in dataset.values())))
    return _train_corpora_problems(data_args.train_corpora, names)


def _train_corpora_problems(train_corpora, names) -> list[str]:
    missing = [name for name in train_corpora or () if name not in names]
    return [f"train_corpora: {', '.join(missing)} not among the corpora ({', '.join(names)})"] if missing else []


def _model_problems(model_args) -> list[str]:
    """A local model folder must exist and hold a HuBERT or ExHuBERT (read as data); a Hub id is checked when the
    model is loaded, after the data."""
    problems, model_type = [], "hubert" if model_args.tiny else None
    if not model_args.tiny:
        try:
            source = model_source(model_args.model_name_or_path)
            if Path(source).is_dir():
                model_type = read_model_config(source).get("model_type")
                if model_type not in SUPPORTED_MODEL_TYPES:
                    problems.append(f"model_name_or_path: {unsupported_model_type(source, model_type)}")
        except ExHubertError as error:
            problems.append(f"model_name_or_path: {error}")
    mode = model_args.frozen_layer_memory
    stays_hubert = model_args.stage == "stage1" and model_type == "hubert"
    problems += _dimension_problems(model_args, stays_hubert)
    if mode != "keep" and (stays_hubert or not model_args.freeze_original_layers):
        problems.append(
            f"frozen_layer_memory: {mode} needs an ExHuBERT with frozen original layers (stage2, or a stage-1 run of "
            "an ExHuBERT with freeze_original_layers true)"
        )
    return problems


def _dimension_problems(model_args, stays_hubert: bool) -> list[str]:
    problems = []
    unknown = [name for name in model_args.dimensions if name not in DIMENSIONS]
    if unknown:
        problems.append(f"dimensions: {', '.join(unknown)} not among the prepared dataset's ({', '.join(DIMENSIONS)})")
    if model_args.dimensions and stays_hubert:
        problems.append("dimensions: a stage-1 HuBERT has no dimensional head; use stage2 (block expansion) or ExHuBERT")
    if model_args.dimensions_only and not model_args.dimensions:
        problems.append("dimensions_only: name the dimensions to train (--dimensions arousal valence dominance)")
    return problems


def _output_problems(training_args) -> list[str]:
    output_dir = Path(training_args.output_dir).expanduser()
    if output_dir.exists() and not output_dir.is_dir():
        return [f"output_dir: {output_dir} is a file"]
    if not _can_create(output_dir):
        return [f"output_dir: {output_dir} cannot be created or written"]
    resume = training_args.resume_from_checkpoint
    if resume is not None:
        try:
            resolve_resume_checkpoint(resume, output_dir, training_args.save_only_model)
        except (ExHubertError, ValueError) as error:
            return [f"resume_from_checkpoint: {error}"]
        return []
    found = holds_a_run(output_dir)
    if found and not training_args.overwrite_output_dir:
        return [
            f"output_dir: {output_dir} holds a run ({', '.join(found[:3])}{', ...' if len(found) > 3 else ''}); pass "
            "--overwrite_output_dir true to replace it, --resume_from_checkpoint last to continue it, or choose "
            "another output_dir"
        ]
    return []


def holds_a_run(output_dir) -> list[str]:
    """Names of the run files in `output_dir` (empty when it holds no run)."""
    folder = Path(output_dir)
    return sorted({path.name for pattern in RUN_MARKERS for path in folder.glob(pattern)}) if folder.is_dir() else []


def clear_previous_run(output_dir) -> list[str]:
    """Removes a previous run's files (`RUN_OUTPUTS`) from `output_dir`, so that the new run's model, results, plots
    and checkpoints never mix with the old one's; returns the names removed. Only with --overwrite_output_dir."""
    folder = Path(output_dir)
    removed = []
    for pattern in RUN_OUTPUTS:
        for path in sorted(folder.glob(pattern)) if folder.is_dir() else ():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path.name)
    return removed


def _can_create(path) -> bool:
    """Whether `path` is, or can be created as, a writable folder: its nearest existing ancestor is a writable one."""
    path = Path(path).expanduser().absolute()
    while not path.exists():
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


__all__ = ["RUN_OUTPUTS", "check_run", "clear_previous_run", "corpus_role_problems", "holds_a_run", "unsupported_model_type"]

"""The arguments of a fine-tuning run and where they come from: the paper's defaults, then a config file, then
the command line.

`ModelArguments` and `DataArguments` are ours; `TrainingArguments` is transformers'. A config is YAML or JSON
with the argument names as keys, a path or the name of a config bundled in `exhubert_hf/train/configs/` (the
paper's experiments and the offline demo): `--config stage2_exhubert` works from any folder.
"""

import argparse
import json
import os
import sys
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments
from transformers.hf_argparser import string_to_bool

from ..errors import UsageError
from .frozen_layers import FROZEN_LAYER_MODES

CONFIGS = resources.files("exhubert_hf") / "train" / "configs"


class ConfigError(UsageError):
    """A config file or argument that cannot be used; the message names the file and the key."""

    @classmethod
    def listing(cls, problems: list[str]) -> "ConfigError":
        """One error for all `problems` of a run's settings, one line each (they are one report): the first on the
        error line itself, the others indented below it."""
        first, *others = problems
        if not others:
            return cls(first)
        more = f"{len(others)} more problem{'s' if len(others) > 1 else ''} below; nothing was done"
        return cls(f"{first} ({more})\n" + "\n".join(f"  {line}" for line in others))


STAGES = ("stage1", "stage2", "expand-only")

# The paper's optimisation settings (Amiriparian et al., Interspeech 2024): AdamW, lr 1e-5, betas (0.9, 0.999),
# eps 1e-8, 3000 steps in stage 1 (10000 in stage 2: see configs/stage2_exhubert.yaml), no class re-weighting;
# the rest are this project's defaults. A config file and then the command line override them.
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
        # the paper's HuBERT Large (footnote 5) and the published checkpoint's _name_or_path
        default="facebook/hubert-large-ls960-ft",
        metadata={"help": "HuBERT or ExHuBERT: a Hub id or a local folder (e.g. a stage-1 output_dir)."},
    )
    stage: str = field(
        default="stage1",
        metadata={
            "help": "stage1: fine-tune the model as it is (a HuBERT: no expansion) round-robin over the corpora; "
            "stage2: block-expand a HuBERT (num_copies_per_layer copies per layer) and fine-tune (an ExHuBERT is fine-tuned as is); "
            "expand-only: write the expanded model to output_dir, no training.",
            "choices": list(STAGES),
        },
    )
    num_copies_per_layer: int = field(
        default=1,
        metadata={"help": "Copies per layer in block expansion (2: the paper's XLarge).", "aliases": ["--num_copies"]},
    )
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
    dimensions: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Continuous dimensions to predict in [0, 1] beside the classes, e.g. arousal valence dominance: a "
            "regression head on the pooled output of an ExHuBERT (stage2, or an ExHuBERT model), trained on the "
            "prepared dataset's columns of these names (clips without a value are left out of the loss). Default: "
            "none, or those of an ExHuBERT model that has them."
        },
    )
    dimension_loss_weight: float = field(
        default=1.0,
        metadata={"help": "w in the loss cross-entropy + w x sum over dimensions of (1 - CCC)."},
    )
    dimensions_only: bool = field(
        default=False,
        metadata={"help": "Train the dimensions alone: a model without classes (num_labels 0); best model by CCC."},
    )
    frozen_layer_memory: str = field(
        default="keep",
        metadata={
            "help": "What stage 2's layers keep for backward (the same gradients in every mode): keep (everything), "
            "compact (every layer's attention core recomputed, dropout masks stored as bits: on HuBERT Large at "
            "batch 8, 0.66x the memory of training all layers for 0.83x its step time; the bundled stage-2 configs' "
            "setting), recompute (nothing of the frozen originals: one extra forward pass of them). See "
            "docs/benchmarks.md.",
            "choices": list(FROZEN_LAYER_MODES),
        },
    )


@dataclass
class DataArguments:
    """Which corpora to train and evaluate on."""

    corpora: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Corpora as NAME=ROOT: a registry name and its folder (emodb=/data/emodb) or "
            "manifest:NAME=FILE for a CSV/JSONL manifest; prepared (and cached) with exhubert_hf.data.prepare."
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
    own_splits: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Corpora whose own train/validation/test split is kept although it shares speakers between "
            "splits (e.g. esd). Default: such a split is replaced by a speaker-independent one, as in the paper."
        },
    )
    allow_unseen_corpora: bool = field(
        default=False,
        metadata={
            "help": "Let a stage-1 run train on Table 2's unseen test corpora (AESI, ASVP-ESD, JL-Corpus, MLEnd, "
            "SyntAct, VIVAE), which the paper keeps out of EmoSet++ fine-tuning. Default: such a run stops."
        },
    )
    preprocessing_num_workers: int = field(default=1, metadata={"help": "Processes decoding audio in prepare."})


@dataclass
class ExHubertTrainingArguments(TrainingArguments):
    """transformers' `TrainingArguments`, plus `overwrite_output_dir` (transformers 4's flag, which 5 dropped)."""

    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Replace the run in output_dir (its model, results, plots and checkpoints). Without it, an "
            "output_dir that holds a run is refused; --resume_from_checkpoint continues one instead."
        },
    )


def build_argument_parser(prog: str | None = None) -> HfArgumentParser:
    parser = HfArgumentParser((ModelArguments, DataArguments, ExHubertTrainingArguments), prog=prog)
    parser.description = (
        "Fine-tune HuBERT / ExHuBERT for six-class speech emotion recognition with round-robin batches over "
        "corpora. Settings come from the paper's defaults, then --config FILE (YAML or JSON), then the "
        "command line."
    )
    parser.add_argument(
        "--config",
        default=None,
        help=f"YAML or JSON file of arguments (the flags below, as keys), or a bundled config: {', '.join(bundled_configs())}.",
    )
    parser.set_defaults(**PAPER_DEFAULTS)
    return parser


def bundled_configs() -> list[str]:
    """Names of the configs shipped in the package (`exhubert_hf/train/configs/NAME.yaml`)."""
    return sorted(path.name.removesuffix(".yaml") for path in CONFIGS.iterdir() if path.name.endswith(".yaml"))


def config_path(name_or_path) -> Path:
    """A config file: an existing path, else a bundled config's name (with or without `.yaml`)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    bundled = CONFIGS / f"{str(name_or_path).removesuffix('.yaml')}.yaml"
    if bundled.is_file():
        return Path(str(bundled))
    raise ConfigError(f"--config {name_or_path}: no such file and no bundled config of that name ({', '.join(bundled_configs())})")


def load_config_file(name_or_path) -> dict:
    """A YAML (.yaml/.yml) or JSON config file (or a bundled config's name) as a dict of argument values."""
    path = config_path(name_or_path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'} ({error})") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of argument names to values")
    return data


def _config_defaults(parser, config: dict, source: str) -> dict:
    """Config values as parser defaults: names checked, values checked and converted like command-line values (so
    `1e-5`, which YAML reads as a string, becomes a float), mappings of corpora turned into NAME=ROOT entries, other
    mappings (e.g. lr_scheduler_kwargs, config_overrides) into JSON where the argument takes a string. Every bad
    key is reported at once, each as `FILE: KEY: problem`."""
    actions = {action.dest: action for action in parser._actions if action.dest != "help"}
    unknown = sorted(set(config) - set(actions))
    if unknown:
        raise ConfigError(f"{source}: unknown argument(s) {', '.join(unknown)}; see --help for the names")
    defaults, problems = {}, []
    for name, value in config.items():
        try:
            defaults[name] = _config_value(name, value, actions[name])
        except (ValueError, TypeError, argparse.ArgumentTypeError) as error:
            problems.append(f"{source}: {name}: {error}")
    if problems:
        raise ConfigError.listing(problems)
    return defaults


_TYPE_NAMES = {int: "an integer", float: "a number", string_to_bool: "true or false"}


def _config_value(name: str, value, action):
    """One config value as the parser would have made it from the command line; ValueError saying what is wrong."""
    if value is None:
        if not _accepts_none(name):
            raise ValueError("null is not allowed here: give a value, or leave the key out for the default")
        return None
    if name == "corpora" and isinstance(value, dict):
        value = [f"{corpus}={root}" for corpus, root in value.items()]
    elif isinstance(value, dict):
        value = json.dumps(value)
    if name == "config_overrides":
        config_overrides_dict(value)  # raises naming the problem
    if action.nargs in ("+", "*"):
        value = [_converted(item, action) for item in (value if isinstance(value, list) else [value])]
    else:
        value = _converted(value, action)
    values = value if isinstance(value, list) else [value]
    if action.choices is not None and any(item not in action.choices for item in values):
        bad = next(item for item in values if item not in action.choices)
        raise ValueError(f"{bad!r} is not one of {list(action.choices)}")
    return value


def _converted(value, action):
    convert = action.type if callable(action.type) else None
    expected = _TYPE_NAMES.get(convert)
    if expected is None:  # strings and choices: YAML scalars other than strings pass as they are (e.g. report_to lists)
        return convert(value) if convert is not None and isinstance(value, str) else value
    if isinstance(value, str):
        try:
            return convert(value)
        except (ValueError, argparse.ArgumentTypeError):
            raise ValueError(f"{value!r} is not {expected}") from None
    if convert is string_to_bool:
        if isinstance(value, bool):
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if convert is float or float(value).is_integer():
            return convert(value)
    raise ValueError(f"{value!r} is not {expected}")


def _accepts_none(name: str) -> bool:
    for arguments in (ModelArguments, DataArguments, ExHubertTrainingArguments):
        hint = typing.get_type_hints(arguments).get(name)
        if hint is not None:
            return type(None) in typing.get_args(hint)
    return True


def config_overrides_dict(overrides) -> dict:
    """`config_overrides` (a JSON object as a string, or a mapping) as a dict; ValueError when it is not one."""
    if overrides is None or overrides == "":
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    try:
        value = json.loads(overrides)
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error}): {overrides!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object of config fields, got {overrides!r}")
    return value


def parse_training_arguments(argv=None, prog: str | None = None):
    """(ModelArguments, DataArguments, ExHubertTrainingArguments) from the paper's defaults, then `--config FILE`
    (or a bundled config's name), then the other command-line flags. A lone YAML/JSON path as the only argument is
    read as the config. A value that cannot be used is a ConfigError naming the key and where it came from."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(argv)
    config = known.config
    if config is None and len(rest) == 1 and rest[0].lower().endswith((".yaml", ".yml", ".json")):
        config, rest = rest[0], []
    parser = build_argument_parser(prog)
    if launched_distributed() and not _has_accelerator():
        # `accelerate launch --multi_gpu` / torchrun on a machine without GPUs: gloo on CPU, not N lone processes
        parser.set_defaults(use_cpu=True)
    if config is not None:
        parser.set_defaults(**_config_defaults(parser, load_config_file(config), str(config_path(config))))
    source = "the command line" if config is None else f"{config_path(config)} and the command line"
    try:
        outputs = parser.parse_args_into_dataclasses(args=rest)
    except (ValueError, TypeError) as error:  # TrainingArguments.__post_init__: settings that do not fit together
        raise ConfigError(f"{source}: {error}") from error
    model_args, data_args, training_args = outputs[:3]
    if model_args.stage not in STAGES:
        raise ConfigError(f"stage must be one of {STAGES}, got {model_args.stage!r}")
    try:
        config_overrides_dict(model_args.config_overrides)
    except ValueError as error:
        raise ConfigError(f"{source}: config_overrides: {error}") from None
    return model_args, data_args, training_args


def launched_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def _has_accelerator() -> bool:
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


__all__ = [
    "CONFIGS",
    "PAPER_DEFAULTS",
    "STAGES",
    "ConfigError",
    "DataArguments",
    "ExHubertTrainingArguments",
    "ModelArguments",
    "build_argument_parser",
    "bundled_configs",
    "config_overrides_dict",
    "config_path",
    "launched_distributed",
    "load_config_file",
    "parse_training_arguments",
]

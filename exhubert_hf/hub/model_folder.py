"""A model folder fit to publish, made from a training run's output folder (`exhubert export-model`, and what
`exhubert push` uploads for a run): exactly what a Hub model repository needs, nothing else.

A run's output_dir holds the final model next to `checkpoint-N/` folders (optimizer.pt, scheduler.pt,
rng_state.pth, training_args.bin: pickles), TensorBoard files under `runs/`, results and plots. The clean folder
holds
    model.safetensors, config.json (for an ExHuBERT with the `auto_map` of the remote code),
    configuration_exhubert.py and modeling_exhubert.py (ExHuBERT only; a stage-1 HuBERT is stock transformers),
    preprocessor_config.json, README.md (the model card: `model-index` from results.json, `base_model` from
    run_info.json), figures/*.png (the run's plots, shown in the card).

Which weights: the best model. `trainer_state.json` (read as JSON; training_args.bin, a pickle, is never read)
names the best checkpoint. The run's final model is taken when it is that checkpoint's model (the same weights,
as with `load_best_model_at_end`) or when no best one was recorded, and then the run's results.json and plots
describe it. Otherwise the best checkpoint's weights are taken, without the test results (which evaluated the
final model): the card then has no `model-index`, and `RunModel.note` says why. A run without a final model
uses its best (else its newest) checkpoint.

The model is loaded with this package's classes (ExHuBERT) or transformers' (HuBERT), strictly (every tensor
must fit: no headless or truncated model is published), and written again with `save_pretrained`: nothing from
the run but tensors, config values and preprocessing settings reaches the clean folder, and no code from it
runs. Other model types are refused.
"""

import filecmp
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, ModelLoadError
from ..fileio import staged_folder
from ..loading import BUILT_IN_CLASSIFIERS, config_json, load_audio_classifier, load_feature_extractor
from ..train.run_info import RUN_INFO_FILE, read_run_info
from .model_card import load_results, write_model_card

TRAINER_STATE_FILE = "trainer_state.json"
RESULTS_FILE = "results.json"
FIGURES_FOLDER = "figures"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class RunModel:
    """The model of a run to publish: the folder its weights are read from, and what describes it."""

    run_dir: Path
    weights_dir: Path
    results: dict | None = None
    run: dict = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    note: str | None = None


def is_training_run(folder) -> bool:
    """Whether `folder` is a training run's output folder (rather than a plain model folder)."""
    folder = Path(folder)
    markers = (TRAINER_STATE_FILE, RUN_INFO_FILE, "training_args.bin")
    return any((folder / name).is_file() for name in markers) or bool(_checkpoints(folder))


def select_run_model(run_dir) -> RunModel:
    """The best model of the run in `run_dir` and what describes it (see the module docstring)."""
    run_dir = Path(run_dir)
    best = _best_checkpoint(run_dir)
    final = run_dir if _has_model(run_dir) else None
    figures = sorted((path for path in run_dir.glob("*.png") if _is_png(path)), key=lambda path: (path.name != "validation_uar.png", path.name))
    results = _results(run_dir / RESULTS_FILE)
    selected = RunModel(run_dir, final or run_dir, results, read_run_info(run_dir), figures)
    if final is not None and (best is None or _same_weights(final, best)):
        return selected
    if final is not None:
        selected.note = (
            f"the run's final model is not its best one: {best.name} (by validation, trainer_state.json) is "
            f"published, without {RESULTS_FILE} and the confusion matrices (they evaluated the final model)"
        )
    else:
        fallback = best or next((folder for folder in reversed(_checkpoints(run_dir)) if _has_model(folder)), None)
        if fallback is None:
            raise InputError(f"{run_dir}: a training run without a model (no model.safetensors and no checkpoint with one)")
        best = fallback
        selected.note = f"the run has no final model; {best.name} is published, without test results"
    selected.weights_dir = best
    selected.results = None
    selected.figures = [path for path in figures if path.name == "validation_uar.png"]
    return selected


def write_clean_folder(
    model: RunModel, destination, repo_id: str | None = None, license: str = "apache-2.0", model_name: str | None = None
) -> Path:
    """Writes the clean model folder of `model` into the empty (or new) folder `destination`; the card names the
    model after `repo_id`, else `model_name`."""
    destination = Path(destination)
    model_type = config_json(model.weights_dir).get("model_type")
    if model_type not in BUILT_IN_CLASSIFIERS:
        raise ModelLoadError(
            f"{model.weights_dir} holds a {model_type!r} model; only ExHuBERT and HuBERT models are published "
            "(other types would need their own code)"
        )
    loaded = load_audio_classifier(model.weights_dir)
    feature_extractor = load_feature_extractor(model.weights_dir, loaded.config)
    for settings in (loaded.config, feature_extractor):  # an ExHuBERT gets its own auto_map from save_pretrained
        for attribute in ("auto_map", "processor_class"):
            if attribute in vars(settings):
                delattr(settings, attribute)
    feature_extractor.save_pretrained(destination)
    loaded.save_pretrained(destination)
    figures = []
    for path in model.figures:
        (destination / FIGURES_FOLDER).mkdir(exist_ok=True)
        shutil.copyfile(path, destination / FIGURES_FOLDER / path.name)
        figures.append(f"{FIGURES_FOLDER}/{path.name}")
    write_model_card(
        destination, results=model.results, repo_id=repo_id, license=license, run=model.run, figures=figures, model_name=model_name
    )
    return destination


def export_model_folder(source, destination, repo_id: str | None = None, overwrite: bool = False) -> RunModel:
    """Writes the clean folder of a run (or of a model folder) to `destination`, atomically; an existing
    non-empty `destination` is replaced only with `overwrite`. Returns what was exported."""
    source = Path(source)
    if not source.is_dir():
        raise InputError(f"{source}: not a folder")
    destination = Path(destination)
    if destination.resolve() == source.resolve() or source.resolve() in destination.resolve().parents:
        raise InputError(f"{destination}: lies inside {source}; write the clean folder elsewhere")
    model = select_run_model(source)
    with staged_folder(destination, overwrite) as staging:
        write_clean_folder(model, staging, repo_id, model_name=destination.resolve().name)
    return model


def _has_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in _WEIGHTS)


def _checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoint-N folders, oldest first."""
    found = [(int(match[1]), path) for path in run_dir.glob("checkpoint-*") if (match := _CHECKPOINT.fullmatch(path.name)) and path.is_dir()]
    return [path for _, path in sorted(found)]


def _best_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint folder trainer_state.json names as the best, inside `run_dir` (only its name is used: the
    run may have moved since, and a recorded path never leads elsewhere)."""
    state = _read_json(run_dir / TRAINER_STATE_FILE) if (run_dir / TRAINER_STATE_FILE).is_file() else {}
    recorded = state.get("best_model_checkpoint") if isinstance(state, dict) else None
    if not isinstance(recorded, str) or not _CHECKPOINT.fullmatch(Path(recorded).name):
        return None
    folder = run_dir / Path(recorded).name
    return folder if _has_model(folder) else None


def _same_weights(first: Path, second: Path) -> bool:
    names = [name for name in _WEIGHTS if (first / name).is_file() or (second / name).is_file()]
    if (first / _WEIGHTS[1]).is_file():
        names += sorted(set(_read_json(first / _WEIGHTS[1]).get("weight_map", {}).values()))
    return all((first / name).is_file() and (second / name).is_file() and filecmp.cmp(first / name, second / name, shallow=False) for name in names)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not readable JSON ({error})") from error


def _results(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return load_results(_read_json(path))
    except ValueError as error:
        raise InputError(f"{path}: {error}") from error


def _is_png(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(8) == _PNG_MAGIC


__all__ = ["RunModel", "export_model_folder", "is_training_run", "select_run_model", "write_clean_folder"]

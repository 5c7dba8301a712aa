"""The plots of a training run as a `TrainerCallback`, for `RoundRobinTrainer` (which adds it itself) and any plain
transformers `Trainer`:

    plots = TrainingPlotsCallback(title="ExHuBERT stage 2 on CREMA-D")
    trainer = Trainer(model, args, ..., compute_metrics=plots.compute_metrics, callbacks=[plots])

* At every evaluation, `validation_uar.png` in output_dir is redrawn: validation UAR against training step, one line
  per evaluated dataset (the `eval_<name>_uar` metrics; `eval_uar` for a single one) and their mean, from the
  Trainer's log history (so a resumed run's curves start at step 0). For a model with dimensions,
  `validation_ccc.png` likewise shows each dataset's mean CCC over the dimensions (`eval_<name>_ccc`).
* At every `trainer.predict(dataset, metric_key_prefix="test_<name>")`, `confusion_<name>.png` (any other prefix:
  `confusion_<prefix>.png`): the confusion matrix of that prediction; for a model with dimensions also
  `dimensions_<name>.png`, predicted against true values per dimension. Its predictions reach the callback through
  `plots.compute_metrics`, which computes UAR and WA (or wraps the `compute_metrics` given to the callback).
* TensorBoard: with `report_to` including tensorboard, the Trainer's own TensorBoard callback logs every dataset's
  validation UAR as the scalar `eval/<name>_uar` at each evaluation, and for a model with dimensions
  `eval/<name>_ccc_<dimension>`, `eval/<name>_pearson_<dimension>` and `eval/<name>_ccc` (the mean) beside it.

Only the main process draws; a PNG is drawn to a temporary file and renamed, so a reader never sees half a plot.
"""

import os
import re
from functools import partial
from pathlib import Path

from transformers import TrainerCallback

from ..fileio import staging_path
from .evaluation import compute_metrics as uar_and_wa
from .evaluation import evaluation_outputs
from .plots import plot_confusion_matrix, plot_dimension_scatter, plot_uar_curves

UAR_CURVES = "validation_uar.png"
CCC_CURVES = "validation_ccc.png"
_METRIC_KEY = {key: re.compile(rf"^(?P<prefix>[A-Za-z0-9]+)(?:_(?P<name>.+))?_{key}$") for key in ("uar", "ccc")}


class TrainingPlotsCallback(TrainerCallback):
    """Validation-UAR (and CCC) curves at every evaluation, and confusion matrices (and dimension scatter plots) at
    every prediction (module docstring). `title` says what the run is (it heads every plot); `output_dir` defaults
    to the Trainer's; `compute_metrics` (default: UAR and WA) is what `self.compute_metrics` computes, for a model
    with `dimensions` and/or `classes` (`exhubert_hf.train.evaluation.evaluation_outputs`). `plots` maps each
    written plot's kind ("uar", "ccc", the dataset name, or "dimensions <name>") to its path."""

    def __init__(self, title: str | None = None, output_dir=None, compute_metrics=None, dimensions=(), classes=True):
        self.title = title
        self.output_dir = output_dir
        self.base_compute_metrics = compute_metrics or uar_and_wa
        self.dimensions = tuple(dimensions)
        self.classes = classes
        self.plots: dict[str, Path] = {}
        self._prediction = None
        self._curves_outdated = False

    def compute_metrics(self, eval_prediction) -> dict:
        """The Trainer's `compute_metrics`: the metrics of `self.base_compute_metrics`, and the prediction kept for
        the plots that `on_predict` draws."""
        self._prediction = evaluation_outputs(eval_prediction, self.dimensions, self.classes)
        return self.base_compute_metrics(eval_prediction)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        # RoundRobinTrainer reports each corpus, then all with their mean (eval_uar or eval_ccc): draw once, at the last
        # report; a plain Trainer's reports of several datasets are drawn at the next step, save or the end of training.
        if metrics and ("eval_uar" in metrics or "eval_ccc" in metrics):
            self._draw_curves(args, state)
        else:
            self._curves_outdated = True

    def on_step_end(self, args, state, control, **kwargs):
        if self._curves_outdated:
            self._draw_curves(args, state)

    on_save = on_train_end = on_step_end

    def on_predict(self, args, state, control, metrics=None, **kwargs):
        prediction, self._prediction = self._prediction, None
        matches = _metric_keys(metrics, "uar" if self.classes else "ccc")
        prefixes = [match["prefix"] + ("_" + match["name"] if match["name"] else "") for match in matches]
        if prediction is None or len(prefixes) != 1 or not state.is_world_process_zero:
            return
        name = prefixes[0].removeprefix("test_")
        split = "test" if prefixes[0].startswith("test") else prefixes[0]
        title = f"{name} ({split})" + (f"\n{self.title}" if self.title else "")
        if self.classes:
            path = self._output_dir(args) / f"confusion_{_file_safe(name)}.png"
            self.plots[name] = _drawn_atomically(plot_confusion_matrix, prediction.labels, prediction.predictions, path,
                                                 title=title)  # fmt: skip
        if self.dimensions:
            path = self._output_dir(args) / f"dimensions_{_file_safe(name)}.png"
            data = (prediction.dimension_targets, prediction.dimensions, self.dimensions)
            self.plots[f"dimensions {name}"] = _drawn_atomically(plot_dimension_scatter, *data, path, title=title)

    def _draw_curves(self, args, state):
        self._curves_outdated = False
        if not state.is_world_process_zero:
            return
        for metric, file in (("uar", UAR_CURVES), ("ccc", CCC_CURVES)):
            history = validation_history(state.log_history, metric)
            if history:
                title = f"Validation {metric.upper()}" + (f"\n{self.title}" if self.title else "")
                plot = partial(plot_uar_curves, metric="CCC") if metric == "ccc" else plot_uar_curves
                self.plots[metric] = _drawn_atomically(plot, history, self._output_dir(args) / file, title=title)

    def _output_dir(self, args) -> Path:
        folder = Path(self.output_dir or args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def uar_history(log_history) -> dict[str, list[tuple[int, float]]]:
    """{dataset: [(step, validation UAR), ...]} from a Trainer's `state.log_history` (`validation_history`)."""
    return validation_history(log_history, "uar")


def validation_history(log_history, metric: str) -> dict[str, list[tuple[int, float]]]:
    """{dataset: [(step, value), ...]} of `metric` ("uar" or "ccc") from a Trainer's `state.log_history`: the
    `eval_<name>_<metric>` entries, or, when there are none, `eval_<metric>` as "validation". Each step counts once."""
    per_dataset: dict[str, dict[int, float]] = {}
    single: dict[int, float] = {}
    for entry in log_history:
        if "step" not in entry:
            continue
        for match in _metric_keys(entry, metric):
            if match["prefix"] != "eval":
                continue
            target = per_dataset.setdefault(match["name"], {}) if match["name"] else single
            target[int(entry["step"])] = float(entry[match.string])
    history = per_dataset or ({"validation": single} if single else {})
    return {name: sorted(points.items()) for name, points in history.items()}


def _drawn_atomically(plot, *arguments, title: str) -> Path:
    """`plot(*arguments, title=title)`, whose last argument is the PNG's path, drawn to a temporary file beside it
    and renamed into place."""
    *data, path = arguments
    staging = staging_path(path)
    try:
        plot(*data, staging, title=title)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path


def _metric_keys(metrics, metric: str) -> list[re.Match]:
    return [match for key in metrics or () if (match := _METRIC_KEY[metric].match(key))]


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


__all__ = ["CCC_CURVES", "UAR_CURVES", "TrainingPlotsCallback", "uar_history", "validation_history"]

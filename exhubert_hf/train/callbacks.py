"""The plots of a training run as a `TrainerCallback`, for `RoundRobinTrainer` (which adds it itself) and any plain
transformers `Trainer`:

    plots = TrainingPlotsCallback(title="ExHuBERT stage 2 on CREMA-D")
    trainer = Trainer(model, args, ..., compute_metrics=plots.compute_metrics, callbacks=[plots])

* At every evaluation, `validation_uar.png` in output_dir is redrawn: validation UAR against training step, one line
  per evaluated dataset (the `eval_<name>_uar` metrics; `eval_uar` for a single one) and their mean, from the
  Trainer's log history (so a resumed run's curves start at step 0).
* At every `trainer.predict(dataset, metric_key_prefix="test_<name>")`, `confusion_<name>.png` (any other prefix:
  `confusion_<prefix>.png`): the confusion matrix of that prediction. Its predictions reach the callback through
  `plots.compute_metrics`, which computes UAR and WA (or wraps the `compute_metrics` given to the callback).
* TensorBoard: with `report_to` including tensorboard, the Trainer's own TensorBoard callback logs every dataset's
  validation UAR as the scalar `eval/<name>_uar` at each evaluation.

Only the main process draws; a PNG is drawn to a temporary file and renamed, so a reader never sees half a plot.
"""

import os
import re
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

from ..fileio import staging_path
from .evaluation import compute_metrics as uar_and_wa
from .plots import plot_confusion_matrix, plot_uar_curves

UAR_CURVES = "validation_uar.png"
_UAR_KEY = re.compile(r"^(?P<prefix>[A-Za-z0-9]+)(?:_(?P<name>.+))?_uar$")


class TrainingPlotsCallback(TrainerCallback):
    """Validation-UAR curves at every evaluation and confusion matrices at every prediction (module docstring).
    `title` says what the run is (it heads every plot); `output_dir` defaults to the Trainer's; `compute_metrics`
    (default: UAR and WA) is what `self.compute_metrics` computes. `plots` maps each written plot's kind
    ("uar" or the dataset name) to its path."""

    def __init__(self, title: str | None = None, output_dir=None, compute_metrics=None):
        self.title = title
        self.output_dir = output_dir
        self.base_compute_metrics = compute_metrics or uar_and_wa
        self.plots: dict[str, Path] = {}
        self._prediction = None
        self._curves_outdated = False

    def compute_metrics(self, eval_prediction) -> dict:
        """The Trainer's `compute_metrics`: the metrics of `self.base_compute_metrics`, and the prediction kept for
        the confusion matrix that `on_predict` draws."""
        predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
        logits = predictions[0] if isinstance(predictions, tuple) else np.asarray(predictions)
        self._prediction = (np.asarray(labels), logits.argmax(axis=-1) if logits.ndim > 1 else logits)
        return self.base_compute_metrics(eval_prediction)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        # RoundRobinTrainer reports each corpus, then all with their mean (eval_uar): draw once, at the last report;
        # a plain Trainer's reports of several datasets are drawn at the next step, save or the end of training.
        if metrics and "eval_uar" in metrics:
            self._draw_curves(args, state)
        else:
            self._curves_outdated = True

    def on_step_end(self, args, state, control, **kwargs):
        if self._curves_outdated:
            self._draw_curves(args, state)

    on_save = on_train_end = on_step_end

    def on_predict(self, args, state, control, metrics=None, **kwargs):
        prediction, self._prediction = self._prediction, None
        prefixes = [match["prefix"] + ("_" + match["name"] if match["name"] else "") for match in _uar_keys(metrics)]
        if prediction is None or len(prefixes) != 1 or not state.is_world_process_zero:
            return
        name = prefixes[0].removeprefix("test_")
        split = "test" if prefixes[0].startswith("test") else prefixes[0]
        path = self._output_dir(args) / f"confusion_{_file_safe(name)}.png"
        title = f"{name} ({split})" + (f"\n{self.title}" if self.title else "")
        self.plots[name] = _drawn_atomically(plot_confusion_matrix, *prediction, path, title=title)

    def _draw_curves(self, args, state):
        self._curves_outdated = False
        history = uar_history(state.log_history)
        if not history or not state.is_world_process_zero:
            return
        title = "Validation UAR" + (f"\n{self.title}" if self.title else "")
        self.plots["uar"] = _drawn_atomically(plot_uar_curves, history, self._output_dir(args) / UAR_CURVES, title=title)

    def _output_dir(self, args) -> Path:
        folder = Path(self.output_dir or args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def uar_history(log_history) -> dict[str, list[tuple[int, float]]]:
    """{dataset: [(step, validation UAR), ...]} from a Trainer's `state.log_history`: the `eval_<name>_uar` entries,
    or, when there are none, `eval_uar` as "validation". Each step counts once."""
    per_dataset: dict[str, dict[int, float]] = {}
    single: dict[int, float] = {}
    for entry in log_history:
        if "step" not in entry:
            continue
        for match in _uar_keys(entry):
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


def _uar_keys(metrics) -> list[re.Match]:
    return [match for key in metrics or () if (match := _UAR_KEY.match(key))]


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


__all__ = ["UAR_CURVES", "TrainingPlotsCallback", "uar_history"]

"""Metrics and result files of ExHuBERT evaluation (the plots are in `plots`), as reported in the paper.

Metrics (both as fractions in [0, 1]; the tables show percent):

* **UAR** (unweighted average recall): for every class `c` that occurs in the labels, its recall
  `|{i : label_i = c and prediction_i = c}| / |{i : label_i = c}|`; UAR is the plain mean of these recalls.
  A class present in the labels but never predicted counts with recall 0. A class that is predicted but
  absent from the labels adds no term (its wrong predictions already lower the recall of the true classes).
  Identical to `sklearn.metrics.balanced_accuracy_score`; chance level is 1 / (classes present).
* **WA** (weighted accuracy): plain accuracy, `|{i : label_i = prediction_i}| / n`, i.e. the recalls
  weighted by class frequency.

For continuous dimensions (a model with `config.dimensions`), over the clips whose value is known:

* **CCC** (concordance correlation coefficient, Lin 1989), the field's standard for arousal, valence and
  dominance: `2 cov(t, p) / (var(t) + var(p) + (mean(t) - mean(p))^2)` with population (1/n) moments. It is 1 only
  for predictions equal to the truth; unlike Pearson's r it counts a shift or a change of scale against them.
* **Pearson's r** beside it.

A corpus's results are `{"uar", "wa", "num_clips"}` (for a model with classes) and `"dimensions": {name: {"ccc",
"pearson", "num_clips"}}` (for a model with dimensions, those known for at least two of the corpus's clips); the
mean over corpora is unweighted (every corpus counts once, whatever its size), as in the paper's tables.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

UAR_METRIC_SCRIPT = Path(__file__).resolve().parents[1] / "metrics" / "uar.py"


def _as_label_arrays(labels, predictions) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).reshape(-1)
    predictions = np.asarray(predictions).reshape(-1)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.size} labels but {predictions.size} predictions")
    if labels.size == 0:
        raise ValueError("no labels: the metrics of an empty set are undefined")
    return labels, predictions


def unweighted_average_recall(labels, predictions) -> float:
    """UAR: the mean over the classes occurring in `labels` of each class's recall (fraction of its clips
    predicted as that class). A class in `labels` that is never predicted counts with recall 0; predicted
    classes absent from `labels` add no term. Equals `sklearn.metrics.balanced_accuracy_score(labels,
    predictions)`. Raises ValueError for empty or differently sized inputs."""
    labels, predictions = _as_label_arrays(labels, predictions)
    recalls = [np.mean(predictions[labels == label] == label) for label in np.unique(labels)]
    return float(np.mean(recalls))


def weighted_accuracy(labels, predictions) -> float:
    """WA: plain accuracy, the fraction of clips whose prediction equals the label (the class recalls
    weighted by class frequency). Raises ValueError for empty or differently sized inputs."""
    labels, predictions = _as_label_arrays(labels, predictions)
    return float(np.mean(labels == predictions))


def concordance_correlation(targets, predictions) -> float:
    """CCC of two equally long sequences (population moments); NaN for fewer than two values, or when both are
    constant and equal."""
    targets, predictions = _as_value_arrays(targets, predictions)
    if targets.size < 2:
        return math.nan
    variances = targets.var() + predictions.var() + (targets.mean() - predictions.mean()) ** 2
    covariance = np.mean((targets - targets.mean()) * (predictions - predictions.mean()))
    return float(2 * covariance / variances) if variances > 0 else math.nan


def pearson_correlation(targets, predictions) -> float:
    """Pearson's r; NaN for fewer than two values or a constant sequence."""
    targets, predictions = _as_value_arrays(targets, predictions)
    if targets.size < 2 or targets.std() == 0 or predictions.std() == 0:
        return math.nan
    covariance = np.mean((targets - targets.mean()) * (predictions - predictions.mean()))
    return float(covariance / (targets.std() * predictions.std()))


def _as_value_arrays(targets, predictions) -> tuple[np.ndarray, np.ndarray]:
    targets = np.asarray(targets, dtype=np.float64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    if targets.shape != predictions.shape:
        raise ValueError(f"{targets.size} targets but {predictions.size} predictions")
    return targets, predictions


def dimension_metrics(targets, predictions, names: Sequence[str]) -> dict[str, dict]:
    """`{name: {"ccc", "pearson", "num_clips"}}` for (clips x dimensions) `targets` (NaN where unknown) and
    `predictions`, each over the clips whose target is known; a dimension known for fewer than two clips is left
    out."""
    targets = np.asarray(targets, dtype=np.float64).reshape(-1, len(names))
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1, len(names))
    metrics = {}
    for column, name in enumerate(names):
        known = ~np.isnan(targets[:, column])
        if known.sum() >= 2:
            truth, predicted = targets[known, column], predictions[known, column]
            metrics[name] = {
                "ccc": concordance_correlation(truth, predicted),
                "pearson": pearson_correlation(truth, predicted),
                "num_clips": int(known.sum()),
            }
    return metrics


class EvaluationOutputs(NamedTuple):
    """What a model predicted for a set of clips, with the truth: class `labels` and predicted classes (None for a
    model without classes), `dimension_targets` (NaN where unknown) and `dimensions` (None without dimensions)."""

    labels: np.ndarray | None
    predictions: np.ndarray | None
    dimension_targets: np.ndarray | None = None
    dimensions: np.ndarray | None = None


def evaluation_outputs(eval_prediction, dimensions: Sequence[str] = (), classes: bool = True) -> EvaluationOutputs:
    """The `EvaluationOutputs` of a Trainer's `EvalPrediction` (or a `(predictions, label_ids)` pair) for a model with
    `classes` and/or `dimensions`. Predictions are logits (..., classes), a tuple whose first element is the logits
    (and, with dimensions, whose last is the dimensions), or already class indices (1-d); the label ids are the class
    labels, the dimension targets, or both in that order (the Trainer's `label_names` ["labels",
    "dimension_targets"])."""
    if hasattr(eval_prediction, "predictions"):
        predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
    else:
        predictions, labels = eval_prediction
    predicted_dimensions = dimension_targets = None
    if dimensions:
        predicted_dimensions = np.asarray(predictions[-1])
        dimension_targets = np.asarray(labels[-1] if classes else labels)
        labels = labels[0] if classes else None
    if isinstance(predictions, tuple):  # (logits, hidden states, ..., dimensions) from a model with several outputs
        predictions = predictions[0]
    predictions = np.asarray(predictions) if classes else None
    if predictions is not None and predictions.ndim > 1:
        predictions = predictions.argmax(axis=-1)
    labels = np.asarray(labels) if classes else None
    return EvaluationOutputs(labels, predictions, dimension_targets, predicted_dimensions)


def compute_metrics(eval_prediction, dimensions: Sequence[str] = (), classes: bool = True) -> dict[str, float]:
    """`Trainer(compute_metrics=compute_metrics)`: argmax of the logits, then `{"uar": ..., "wa": ...}`; for a model
    with `dimensions` (`functools.partial(compute_metrics, dimensions=config.dimensions)`; `classes=False` for one
    without classes) also `ccc_<name>` and `pearson_<name>` per dimension and `ccc`, their mean CCC. See
    `evaluation_outputs` for what the prediction may hold."""
    outputs = evaluation_outputs(eval_prediction, dimensions, classes)
    metrics = {}
    if classes:
        metrics.update(uar=unweighted_average_recall(outputs.labels, outputs.predictions),
                       wa=weighted_accuracy(outputs.labels, outputs.predictions))  # fmt: skip
    if dimensions:
        per_dimension = dimension_metrics(outputs.dimension_targets, outputs.dimensions, dimensions)
        for name, values in per_dimension.items():
            metrics.update({f"ccc_{name}": values["ccc"], f"pearson_{name}": values["pearson"]})
        if per_dimension:
            metrics["ccc"] = float(np.mean([values["ccc"] for values in per_dimension.values()]))
    return metrics


def corpus_metrics(labels, predictions) -> dict:
    """`{"uar", "wa", "num_clips"}` of one corpus."""
    labels, predictions = _as_label_arrays(labels, predictions)
    return {
        "uar": unweighted_average_recall(labels, predictions),
        "wa": weighted_accuracy(labels, predictions),
        "num_clips": int(labels.size),
    }


def per_corpus_metrics(labels, predictions, corpora: Sequence[str]) -> dict[str, dict]:
    """Splits clip-level labels and predictions by `corpora` (one corpus name per clip) and returns
    `{corpus: {"uar", "wa", "num_clips"}}` in sorted corpus order, ready for `write_results`."""
    labels, predictions = _as_label_arrays(labels, predictions)
    corpora = np.asarray(list(corpora), dtype=object)
    if corpora.shape != labels.shape:
        raise ValueError(f"{corpora.size} corpus names but {labels.size} labels")
    return {
        name: corpus_metrics(labels[corpora == name], predictions[corpora == name])
        for name in sorted(set(corpora.tolist()))
    }


def results_dict(per_corpus: Mapping[str, Mapping], split: str = "test") -> dict:
    """The `results.json` structure: `{"split", "per_corpus": {corpus: {"uar", "wa", "num_clips"}}, "mean": {"uar",
    "wa"}}`, the mean unweighted over corpora; with dimensions, a corpus also has `"dimensions": {name: {"ccc",
    "pearson", "num_clips"}}` and the mean `"dimensions": {name: {"ccc", "pearson"}}` (over the corpora that have the
    dimension). Each corpus's mapping has "uar", "wa" and "num_clips", or "labels" and "predictions" to compute
    them from, or, for a model without classes, only "num_clips"; and optionally "dimensions" as above."""
    if not per_corpus:
        raise ValueError("no corpora to report")
    table = {}
    for corpus, values in per_corpus.items():
        if "labels" in values and "predictions" in values:
            entry = corpus_metrics(values["labels"], values["predictions"])
        else:
            needed = {"uar", "wa", "num_clips"} if "dimensions" not in values or "uar" in values else {"num_clips"}
            missing = needed - set(values)
            if missing:
                raise ValueError(f"results of corpus {corpus!r} lack {sorted(missing)}")
            entry = {key: float(values[key]) for key in ("uar", "wa") if key in needed}
            entry["num_clips"] = int(values["num_clips"])
        if "dimensions" in values:
            entry["dimensions"] = {str(name): _dimension_entry(given) for name, given in values["dimensions"].items()}
        table[str(corpus)] = entry
    mean = {}
    for key in ("uar", "wa"):
        present = [values[key] for values in table.values() if key in values]
        if present:
            mean[key] = float(np.mean(present))
    names = dict.fromkeys(name for values in table.values() for name in values.get("dimensions", {}))
    if names:
        mean["dimensions"] = {}
        for name in names:
            given = [values["dimensions"][name] for values in table.values() if name in values.get("dimensions", {})]
            mean["dimensions"][name] = {key: float(np.mean([one[key] for one in given])) for key in ("ccc", "pearson")}
    return {"split": split, "per_corpus": table, "mean": mean}


def _dimension_entry(metrics: Mapping) -> dict:
    return {"ccc": float(metrics["ccc"]), "pearson": float(metrics["pearson"]), "num_clips": int(metrics["num_clips"])}


def _percent(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _correlation(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def results_markdown(results: Mapping, model_name: str = "ExHuBERT") -> str:
    """The paper's Table 1 layout: one row per corpus, UAR and WA in percent with one decimal, a Mean row; for a
    model with dimensions also a table of CCC and Pearson's r per dimension (three decimals)."""
    per_corpus, mean = results["per_corpus"], results["mean"]
    total = sum(values["num_clips"] for values in per_corpus.values())
    lines = [f"### {model_name}: {results['split']} results", ""]
    if "uar" in mean:
        lines += ["| Corpus | UAR [%] | WA [%] | Clips |", "|:--|--:|--:|--:|"]
        for corpus, values in per_corpus.items():
            lines.append(f"| {corpus} | {_percent(values['uar'])} | {_percent(values['wa'])} | {values['num_clips']} |")
        lines.append(f"| **Mean** | **{_percent(mean['uar'])}** | **{_percent(mean['wa'])}** | {total} |")
        lines += ["", "UAR: unweighted average recall; WA: accuracy; Mean: unweighted over corpora."]
    names = list(mean.get("dimensions", {}))
    if names:
        lines += [""] * ("uar" in mean)
        lines.append("| Corpus | " + " | ".join(f"{name} CCC | {name} r" for name in names) + " | Clips |")
        lines.append("|:--|" + "--:|--:|" * len(names) + "--:|")
        mean_row = ("**Mean**", {"dimensions": mean["dimensions"], "num_clips": total})
        for corpus, values in [*per_corpus.items(), mean_row]:
            given = values.get("dimensions", {})
            cells = [_correlation(given.get(name, {}).get(key)) for name in names for key in ("ccc", "pearson")]
            lines.append(f"| {corpus} | " + " | ".join(cells) + f" | {values['num_clips']} |")
        lines += ["", "CCC: concordance correlation coefficient; r: Pearson's correlation; over the clips with known "
                  "values; Mean: unweighted over the corpora with the dimension."]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_results(
    per_corpus: Mapping[str, Mapping],
    output_dir,
    split: str = "test",
    model_name: str = "ExHuBERT",
) -> dict:
    """Writes `results.json` (`results_dict`: `{"split", "per_corpus": {corpus: {"uar", "wa", "num_clips"}},
    "mean": {"uar", "wa"}}`, fractions in [0, 1], plus the dimensions of a model with them), `results.md` (Table 1
    layout, percent) and `results.csv` (`model,split,corpus,uar,wa,num_clips`, fractions, a final `Mean` row; with
    dimensions also `ccc_<name>,pearson_<name>` columns, empty where a corpus has no value) into `output_dir`;
    returns the JSON structure. See `results_dict` for what `per_corpus` may hold."""
    results = results_dict(per_corpus, split)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (output_dir / "results.md").write_text(results_markdown(results, model_name))
    mean = results["mean"]
    names = list(mean.get("dimensions", {}))
    total = sum(values["num_clips"] for values in results["per_corpus"].values())
    with open(output_dir / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        dimension_columns = [(name, key) for name in names for key in ("ccc", "pearson")]
        header = ["model", "split", "corpus", "uar", "wa", "num_clips"]
        writer.writerow(header + [f"{key}_{name}" for name, key in dimension_columns])
        for corpus, values in [*results["per_corpus"].items(), ("Mean", {**mean, "num_clips": total})]:
            given = values.get("dimensions", {})
            cells = [given.get(name, {}).get(key, "") for name, key in dimension_columns]
            classes = [values.get("uar", ""), values.get("wa", "")]
            writer.writerow([model_name, split, corpus, *classes, values["num_clips"], *cells])
    return results


def read_results(path) -> dict:
    """Reads a `results.json` (or the directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    return json.loads(path.read_text())


def results_table(models: Iterable[tuple[str, Mapping]]) -> str:
    """The paper's Table 2 layout for comparing models: one row per corpus (the union, in order of first
    appearance), one UAR [%] column per model, a final row with each model's mean; the best UAR of a row is
    bold; "–" where a model has no result for a corpus. `models` is `(name, results.json dict)` pairs."""
    models = list(models)
    if not models:
        raise ValueError("no models to compare")
    corpora: list[str] = []
    for _, results in models:
        corpora += [corpus for corpus in results["per_corpus"] if corpus not in corpora]
    rows = [(corpus, [results["per_corpus"].get(corpus, {}).get("uar") for _, results in models]) for corpus in corpora]
    rows.append(("**Mean**", [results["mean"]["uar"] for _, results in models]))
    lines = [
        "| Corpus | " + " | ".join(f"{name} UAR [%]" for name, _ in models) + " |",
        "|:--|" + "--:|" * len(models),
    ]
    for corpus, values in rows:
        present = [round(100 * value, 1) for value in values if value is not None]
        best = max(present) if len(models) > 1 and present else None
        cells = []
        for value in values:
            cell = _percent(value)
            if best is not None and value is not None and round(100 * value, 1) == best:
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append(f"| {corpus} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    labels, predictions = _as_label_arrays(labels, predictions)
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.dtype.kind not in "iu" or values.min() < 0 or values.max() >= num_classes:
            raise ValueError(f"{name} must be class indices in [0, {num_classes})")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts

def uar_metric_path() -> str:
    """Where the installed package keeps the UAR metric script, for `evaluate.load(uar_metric_path())` (offline;
    the script is self-contained, so evaluate's module cache needs no `exhubert_hf`)."""
    return str(UAR_METRIC_SCRIPT)


def load_uar_metric(**kwargs):
    """`evaluate.load(uar_metric_path(), **kwargs)`: the UAR metric as an `evaluate` module."""
    import evaluate

    return evaluate.load(uar_metric_path(), **kwargs)


__all__ = [
    "UAR_METRIC_SCRIPT",
    "EvaluationOutputs",
    "compute_metrics",
    "concordance_correlation",
    "confusion_matrix",
    "corpus_metrics",
    "dimension_metrics",
    "evaluation_outputs",
    "load_uar_metric",
    "pearson_correlation",
    "per_corpus_metrics",
    "read_results",
    "results_dict",
    "results_markdown",
    "results_table",
    "uar_metric_path",
    "unweighted_average_recall",
    "weighted_accuracy",
    "write_results",
]

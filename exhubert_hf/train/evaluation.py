"""Metrics and result files of ExHuBERT evaluation (the plots are in `plots`), as reported in the paper.

Metrics (both as fractions in [0, 1]; the tables show percent):

* **UAR** (unweighted average recall): for every class `c` that occurs in the labels, its recall
  `|{i : label_i = c and prediction_i = c}| / |{i : label_i = c}|`; UAR is the plain mean of these recalls.
  A class present in the labels but never predicted counts with recall 0. A class that is predicted but
  absent from the labels adds no term (its wrong predictions already lower the recall of the true classes).
  Identical to `sklearn.metrics.balanced_accuracy_score`; chance level is 1 / (classes present).
* **WA** (weighted accuracy): plain accuracy, `|{i : label_i = prediction_i}| / n`, i.e. the recalls
  weighted by class frequency.

A corpus's results are `{"uar", "wa", "num_clips"}`; the mean over corpora is unweighted (every corpus counts
once, whatever its size), as in the paper's tables.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

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


def compute_metrics(eval_prediction) -> dict[str, float]:
    """`Trainer(compute_metrics=compute_metrics)`: argmax of the logits, then `{"uar": ..., "wa": ...}`.

    Takes an `EvalPrediction` (or a `(predictions, label_ids)` pair); predictions may be logits (..., classes)
    or a tuple whose first element is the logits, or already class indices (1-d)."""
    if hasattr(eval_prediction, "predictions"):
        predictions, labels = eval_prediction.predictions, eval_prediction.label_ids
    else:
        predictions, labels = eval_prediction
    if isinstance(predictions, tuple):  # (logits, hidden states, ...) from a model with several outputs
        predictions = predictions[0]
    predictions = np.asarray(predictions)
    if predictions.ndim > 1:
        predictions = predictions.argmax(axis=-1)
    return {"uar": unweighted_average_recall(labels, predictions), "wa": weighted_accuracy(labels, predictions)}


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
    """The `results.json` structure: `{"split", "per_corpus": {corpus: {"uar", "wa", "num_clips"}},
    "mean": {"uar", "wa"}}`, the mean unweighted over corpora. Each corpus's mapping either has "uar",
    "wa" and "num_clips", or "labels" and "predictions" to compute them from."""
    if not per_corpus:
        raise ValueError("no corpora to report")
    table = {}
    for corpus, values in per_corpus.items():
        if "labels" in values and "predictions" in values:
            table[str(corpus)] = corpus_metrics(values["labels"], values["predictions"])
            continue
        missing = {"uar", "wa", "num_clips"} - set(values)
        if missing:
            raise ValueError(f"results of corpus {corpus!r} lack {sorted(missing)}")
        table[str(corpus)] = {
            "uar": float(values["uar"]),
            "wa": float(values["wa"]),
            "num_clips": int(values["num_clips"]),
        }
    mean = {key: float(np.mean([values[key] for values in table.values()])) for key in ("uar", "wa")}
    return {"split": split, "per_corpus": table, "mean": mean}


def _percent(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def results_markdown(results: Mapping, model_name: str = "ExHuBERT") -> str:
    """The paper's Table 1 layout: one row per corpus, UAR and WA in percent with one decimal, a Mean row."""
    lines = [
        f"### {model_name}: {results['split']} results",
        "",
        "| Corpus | UAR [%] | WA [%] | Clips |",
        "|:--|--:|--:|--:|",
    ]
    for corpus, values in results["per_corpus"].items():
        lines.append(f"| {corpus} | {_percent(values['uar'])} | {_percent(values['wa'])} | {values['num_clips']} |")
    total = sum(values["num_clips"] for values in results["per_corpus"].values())
    mean = results["mean"]
    lines.append(f"| **Mean** | **{_percent(mean['uar'])}** | **{_percent(mean['wa'])}** | {total} |")
    lines += ["", "UAR: unweighted average recall; WA: accuracy; Mean: unweighted over corpora."]
    return "\n".join(lines) + "\n"


def write_results(
    per_corpus: Mapping[str, Mapping],
    output_dir,
    split: str = "test",
    model_name: str = "ExHuBERT",
) -> dict:
    """Writes `results.json` (exactly `{"split", "per_corpus": {corpus: {"uar", "wa", "num_clips"}},
    "mean": {"uar", "wa"}}`, fractions in [0, 1]), `results.md` (Table 1 layout, percent) and `results.csv`
    (`model,split,corpus,uar,wa,num_clips`, fractions, a final `Mean` row) into `output_dir`; returns the
    JSON structure. See `results_dict` for what `per_corpus` may hold."""
    results = results_dict(per_corpus, split)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (output_dir / "results.md").write_text(results_markdown(results, model_name))
    with open(output_dir / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "split", "corpus", "uar", "wa", "num_clips"])
        for corpus, values in results["per_corpus"].items():
            writer.writerow([model_name, split, corpus, values["uar"], values["wa"], values["num_clips"]])
        total = sum(values["num_clips"] for values in results["per_corpus"].values())
        writer.writerow([model_name, split, "Mean", results["mean"]["uar"], results["mean"]["wa"], total])
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
    "compute_metrics",
    "confusion_matrix",
    "corpus_metrics",
    "load_uar_metric",
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

"""Evaluation: UAR/WA against scikit-learn, the offline `evaluate` metric script, result files and plots."""

import csv
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from transformers import EvalPrediction

from exhubert_hf.train.evaluation import (
    UAR_METRIC_SCRIPT,
    compute_metrics,
    confusion_matrix,
    load_uar_metric,
    per_corpus_metrics,
    read_results,
    results_table,
    unweighted_average_recall,
    weighted_accuracy,
    write_results,
)
from exhubert_hf.train.plots import plot_confusion_matrix, plot_uar_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@st.composite
def label_pairs(draw):
    size = draw(st.integers(1, 60))
    classes = draw(st.integers(1, 6))
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=size, max_size=size))
    predictions = draw(st.lists(st.integers(0, 7), min_size=size, max_size=size))
    return np.array(labels), np.array(predictions)


@settings(deadline=None, max_examples=100)
@given(label_pairs())
def test_uar_equals_balanced_accuracy_and_wa_equals_accuracy(pair):
    labels, predictions = pair
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(labels, predictions)
    assert unweighted_average_recall(labels, predictions) == pytest.approx(expected, abs=1e-12)
    assert weighted_accuracy(labels, predictions) == pytest.approx(accuracy_score(labels, predictions))


def test_uar_fixed_cases():
    # Class 2 is never predicted (recall 0); class 5 is predicted but absent from the labels (no term).
    labels = [0, 0, 1, 1, 2, 2]
    predictions = [0, 5, 1, 1, 0, 5]
    assert unweighted_average_recall(labels, predictions) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert weighted_accuracy(labels, predictions) == pytest.approx(3 / 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert unweighted_average_recall(labels, predictions) == pytest.approx(
            balanced_accuracy_score(labels, predictions)
        )
    # Majority-class prediction on imbalanced data: high accuracy, chance-level UAR.
    labels = [0] * 90 + [1] * 10
    assert weighted_accuracy(labels, [0] * 100) == pytest.approx(0.9)
    assert unweighted_average_recall(labels, [0] * 100) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        unweighted_average_recall([], [])
    with pytest.raises(ValueError):
        unweighted_average_recall([0, 1], [0])


def test_compute_metrics_takes_logits_from_the_trainer():
    logits = np.array([[2.0, 0.1, 0.0], [0.0, 3.0, 0.0], [0.0, 4.0, 0.1], [0.5, 0.0, 0.0]])
    labels = np.array([0, 1, 2, 2])
    metrics = compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    assert metrics == {"uar": pytest.approx((1 + 1 + 0) / 3), "wa": pytest.approx(0.5)}
    assert compute_metrics(EvalPrediction(predictions=(logits, np.zeros(4)), label_ids=labels)) == metrics
    assert compute_metrics((logits, labels)) == metrics


def test_metric_script_agrees_and_loads_offline(tmp_path):
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 6, 200), rng.integers(0, 6, 200)
    metric = load_uar_metric()
    assert metric.compute(references=labels, predictions=predictions)["uar"] == pytest.approx(
        unweighted_average_recall(labels, predictions)
    )
    # A fresh interpreter, offline, outside the repository, with a fresh evaluate cache.
    script = textwrap.dedent(
        f"""
        import json, evaluate
        metric = evaluate.load({str(UAR_METRIC_SCRIPT)!r})
        print(json.dumps(metric.compute(references={labels.tolist()}, predictions={predictions.tolist()})))
        """
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    uar = json.loads(result.stdout.strip().splitlines()[-1])["uar"]
    assert uar == pytest.approx(unweighted_average_recall(labels, predictions))


def test_results_files(tmp_path):
    per_corpus = {
        "RAVDESS": {"uar": 0.71234, "wa": 0.7, "num_clips": 288},
        "CREMA-D": {"labels": [0, 0, 1, 1], "predictions": [0, 1, 1, 1]},
    }
    results = write_results(per_corpus, tmp_path / "out", model_name="ExHuBERT")
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert written == results == read_results(tmp_path / "out")
    assert set(written) == {"split", "per_corpus", "mean"} and written["split"] == "test"
    assert list(written["per_corpus"]) == ["RAVDESS", "CREMA-D"]
    for values in written["per_corpus"].values():
        assert set(values) == {"uar", "wa", "num_clips"}
        assert isinstance(values["uar"], float) and isinstance(values["wa"], float)
        assert isinstance(values["num_clips"], int)
    assert written["per_corpus"]["CREMA-D"] == {"uar": 0.75, "wa": 0.75, "num_clips": 4}
    assert set(written["mean"]) == {"uar", "wa"}
    assert written["mean"]["uar"] == pytest.approx((0.71234 + 0.75) / 2)
    assert written["mean"]["wa"] == pytest.approx((0.7 + 0.75) / 2)

    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| Corpus | UAR [%] | WA [%] | Clips |" in markdown
    assert "| RAVDESS | 71.2 | 70.0 | 288 |" in markdown
    assert "| CREMA-D | 75.0 | 75.0 | 4 |" in markdown
    assert "| **Mean** | **73.1** | **72.5** | 292 |" in markdown

    with open(tmp_path / "out" / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["corpus"] for row in rows] == ["RAVDESS", "CREMA-D", "Mean"]
    assert float(rows[0]["uar"]) == pytest.approx(0.71234) and rows[0]["model"] == "ExHuBERT"
    assert float(rows[2]["wa"]) == pytest.approx(0.725) and rows[2]["num_clips"] == "292"

    with pytest.raises(ValueError, match="lack"):
        write_results({"x": {"uar": 0.5}}, tmp_path / "bad")


def test_results_table_compares_models():
    first = {
        "split": "test",
        "per_corpus": {"A": {"uar": 0.5, "wa": 0.6, "num_clips": 10}},
        "mean": {"uar": 0.5, "wa": 0.6},
    }
    second = {
        "split": "test",
        "per_corpus": {"A": {"uar": 0.55, "wa": 0.6, "num_clips": 10}, "B": {"uar": 0.3, "wa": 0.4, "num_clips": 5}},
        "mean": {"uar": 0.425, "wa": 0.5},
    }
    table = results_table([("HuBERT", first), ("ExHuBERT", second)])
    lines = table.strip().splitlines()
    assert lines[0] == "| Corpus | HuBERT UAR [%] | ExHuBERT UAR [%] |"
    assert "| A | 50.0 | **55.0** |" in lines
    assert "| B | – | **30.0** |" in lines
    assert lines[-1] == "| **Mean** | **50.0** | 42.5 |"


def test_per_corpus_metrics_and_confusion_matrix():
    results = per_corpus_metrics([0, 1, 1, 2], [0, 1, 0, 2], ["b", "a", "a", "b"])
    assert list(results) == ["a", "b"]
    assert results["a"] == {"uar": 0.5, "wa": 0.5, "num_clips": 2}
    counts = confusion_matrix([0, 1, 1, 2], [0, 1, 0, 2], 3)
    assert counts.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="class indices"):
        confusion_matrix([0, 6], [0, 1], 6)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5000


def test_plots_are_written(tmp_path):
    rng = np.random.default_rng(1)
    history = {
        corpus: [(step, float(np.clip(0.2 + step / 1e4 + rng.normal(0, 0.03), 0, 1))) for step in range(0, 5001, 500)]
        for corpus in ("RAVDESS", "CREMA-D", "EmoDB", "IEMOCAP")
    }
    # 37 corpora (the paper's setting) still gives a readable legend.
    many = {f"corpus{number:02d}": [(0, 0.2), (1000, 0.2 + number / 100)] for number in range(37)}
    assert_png(plot_uar_curves(many, tmp_path / "many.png"))
    curves = plot_uar_curves(history, tmp_path / "plots" / "uar.png")
    assert_png(curves)
    labels = rng.integers(0, 5, 300)  # class 5 never occurs: a grey row
    predictions = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 6, 300))
    matrix = plot_confusion_matrix(labels, predictions, tmp_path / "confusion.png", title="CREMA-D test")
    assert_png(matrix)

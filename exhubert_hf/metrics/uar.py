"""Unweighted average recall (UAR) as an `evaluate` metric.

Self-contained on purpose (numpy, datasets and evaluate only): `evaluate.load` copies this script into its
modules cache, where `exhubert_hf` may not be importable. Load it offline with
`evaluate.load(exhubert_hf.train.evaluation.uar_metric_path())` (the installed copy of this file) or
`exhubert_hf.train.evaluation.load_uar_metric()`.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
Unweighted average recall (UAR): the mean, over the classes that occur in the references, of each class's
recall (the fraction of its references predicted as that class). A class that occurs in the references but
is never predicted counts with recall 0; predictions of classes absent from the references lower the recall
of the classes they were taken from but add no term of their own. Equal to
`sklearn.metrics.balanced_accuracy_score` and robust to class imbalance: predicting the majority class
always gives 1 / (number of classes present).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class indices.
    references (`list` of `int`): true class indices.
Returns:
    uar (`float`): unweighted average recall in [0, 1].
Examples:
    >>> uar = evaluate.load("exhubert_hf/metrics/uar.py")
    >>> uar.compute(references=[0, 0, 1, 1], predictions=[0, 0, 0, 1])
    {'uar': 0.75}
"""

_CITATION = """
@inproceedings{amiriparian2024exhubert,
  title={ExHuBERT: Enhancing HuBERT Through Block Extension and Fine-Tuning on 37 Emotion Datasets},
  author={Amiriparian, Shahin and Packa{\\'n}, Filip and Gerczuk, Maurice and Schuller, Bj{\\"o}rn W.},
  booktitle={Proc. Interspeech},
  year={2024}
}
"""


def unweighted_average_recall(references, predictions):
    references = np.asarray(references).reshape(-1)
    predictions = np.asarray(predictions).reshape(-1)
    if references.shape != predictions.shape:
        raise ValueError(f"{references.size} references but {predictions.size} predictions")
    if references.size == 0:
        raise ValueError("UAR of an empty set of references is undefined")
    recalls = [np.mean(predictions[references == label] == label) for label in np.unique(references)]
    return float(np.mean(recalls))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UnweightedAverageRecall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://www.isca-archive.org/interspeech_2024/amiriparian24_interspeech.html"],
        )

    def _compute(self, predictions, references):
        return {"uar": unweighted_average_recall(references, predictions)}

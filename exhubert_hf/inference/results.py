"""What the predictor returns: per-file results that carry their own error, and their table form.

A `FilePrediction` holds a file's windows (start and end in seconds, class probabilities and, for a model with a
dimensional head, its continuous dimensions) or, for a file that could not be used, its `error`. Its own
probabilities and dimensions are the means of the window values weighted by each window's real duration (a short
last window counts less); with non-overlapping windows that is the mean over time. `Predictions.to_frame()` gives
one row per file (`level="file"`) and per window (`level="window"`) with the class probabilities, the top class,
for the six ExHuBERT classes the arousal and valence marginals, and the dimensions as `dim_<name>` columns
(`dim_arousal`, `dim_valence`, `dim_dominance`): prefixed because `arousal` already names the marginal P(high
arousal), a probability, not a rating. A model with dimensions only (`num_labels=0`) has no class columns.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..configuration_exhubert import AROUSAL_LEVELS, EXHUBERT_LABELS, VALENCE_LEVELS

VALENCE_COLUMNS = tuple(f"valence_{level}" for level in VALENCE_LEVELS)
LEVELS = ("both", "file", "window")
DIMENSION_PREFIX = "dim_"


def dimension_columns(dimensions) -> list[str]:
    """The table columns of a model's dimensions: `dim_arousal`, ... (see the module docstring)."""
    return [f"{DIMENSION_PREFIX}{name}" for name in dimensions]


@dataclass(frozen=True)
class WindowPrediction:
    index: int
    start: float  # seconds
    end: float
    probabilities: np.ndarray  # empty for a model without classes
    dimensions: np.ndarray | None = None  # in the model's `config.dimensions` order; None without them


@dataclass
class FilePrediction:
    file: str
    duration: float = 0.0  # seconds
    windows: list[WindowPrediction] = field(default_factory=list)
    error: str = ""

    @property
    def probabilities(self) -> np.ndarray | None:
        """Duration-weighted mean of the window probabilities (None for a failed file)."""
        return self._mean([window.probabilities for window in self.windows])

    @property
    def dimensions(self) -> np.ndarray | None:
        """Duration-weighted mean of the window dimensions, as the probabilities (None for a failed file or a
        model without dimensions)."""
        return self._mean([window.dimensions for window in self.windows])

    def dimension_series(self, names) -> dict[str, list[float]]:
        """{name: one value per window} of the dimensions `names` (the model's), e.g. for a timeline."""
        if not names or self.error or not self.windows or self.windows[0].dimensions is None:
            return {}
        return {name: [float(window.dimensions[i]) for window in self.windows] for i, name in enumerate(names)}

    @property
    def window_durations(self) -> np.ndarray:
        """Each window's real duration in seconds: the weights of the file's means."""
        return np.array([window.end - window.start for window in self.windows], dtype=np.float64)

    def _mean(self, values: list) -> np.ndarray | None:
        if self.error or not self.windows or values[0] is None:
            return None
        weights = self.window_durations
        return (np.stack(values) * weights[:, None]).sum(axis=0) / weights.sum()


class EmotionMarginals:
    """P(high arousal) and P(valence level) from six-class probabilities, by label name (so a head with the six
    classes in another order works too); `available` is false for other label sets."""

    def __init__(self, labels: list[str]):
        self.available = set(labels) == set(EXHUBERT_LABELS)
        levels = [divmod(EXHUBERT_LABELS.index(label), len(VALENCE_LEVELS)) for label in labels] if self.available else []
        self.high_arousal = [i for i, (arousal, _) in enumerate(levels) if arousal == AROUSAL_LEVELS.index("high")]
        self.valence = [[i for i, (_, level) in enumerate(levels) if level == number] for number in range(len(VALENCE_LEVELS))]

    def columns(self) -> list[str]:
        return ["arousal", *VALENCE_COLUMNS] if self.available else []

    def values(self, probabilities: np.ndarray | None) -> dict[str, float]:
        if not self.available:
            return {}
        if probabilities is None:
            return dict.fromkeys(self.columns(), math.nan)
        row = {"arousal": float(probabilities[self.high_arousal].sum())}
        row.update({column: float(probabilities[indices].sum()) for column, indices in zip(VALENCE_COLUMNS, self.valence)})
        return row


@dataclass
class Predictions:
    """The results of one prediction job, in the order the files were given; `metadata` says how they were
    computed (backend, device, window, hop: `EmotionPredictor.metadata`); `dimensions` names the model's continuous
    dimensions (none: `[]`)."""

    labels: list[str]
    files: list[FilePrediction]
    metadata: dict[str, str] = field(default_factory=dict)
    dimensions: list[str] = field(default_factory=list)

    @property
    def failed(self) -> dict[str, str]:
        return {item.file: item.error for item in self.files if item.error}

    @property
    def columns(self) -> list[str]:
        marginals = EmotionMarginals(self.labels).columns()
        classes = [*self.labels, "top_class"] if self.labels else []
        dimensions = dimension_columns(self.dimensions)
        return ["file", "level", "window", "start", "end", *classes, *marginals, *dimensions, "error"]

    def to_frame(self, level: str = "both") -> pd.DataFrame:
        """Rows for every file, in order: the file row (aggregate, or the error) then its windows; `level`
        "file" or "window" keeps only those rows."""
        marginals = EmotionMarginals(self.labels)
        rows = []
        for item in self.files:
            if level in ("both", "file"):
                rows.append(self._row(marginals, item.file, "file", None, 0.0 if not item.error else math.nan,
                                      item.duration if not item.error else math.nan, item.probabilities,
                                      item.dimensions, item.error))  # fmt: skip
            if level in ("both", "window"):
                for window in item.windows:
                    rows.append(self._row(marginals, item.file, "window", window.index, window.start, window.end,
                                          window.probabilities, window.dimensions))  # fmt: skip
        frame = pd.DataFrame(rows, columns=self.columns)
        frame["window"] = frame["window"].astype("Int64")
        return frame

    def _row(self, marginals, file, level, window, start, end, probabilities, dimensions, error="") -> dict:
        row = {"file": file, "level": level, "window": window, "start": start, "end": end}
        if self.labels and probabilities is None:
            row.update(dict.fromkeys(self.labels, math.nan), top_class="")
        elif self.labels:
            row.update({label: float(p) for label, p in zip(self.labels, probabilities)})
            row["top_class"] = self.labels[int(np.argmax(probabilities))]
        row.update(marginals.values(probabilities))
        columns = dimension_columns(self.dimensions)
        row.update(dict.fromkeys(columns, math.nan) if dimensions is None else zip(columns, map(float, dimensions)))
        row["error"] = error
        return row


@dataclass
class Embeddings:
    """Per-file embeddings: `vectors[i]` belongs to `files[i]`; files that could not be used are in `failed`
    (path -> reason) and have no row. `np.asarray(embeddings)` is the (files x dimensions) matrix; `metadata`
    says how they were computed (`EmotionPredictor.metadata`)."""

    files: list[str]
    vectors: np.ndarray
    failed: dict[str, str] = field(default_factory=dict)
    layer: int = -1
    metadata: dict[str, str] = field(default_factory=dict)

    def __array__(self, dtype=None, copy=None):
        return self.vectors if dtype is None else self.vectors.astype(dtype)

    def __len__(self) -> int:
        return len(self.files)


__all__ = [
    "DIMENSION_PREFIX",
    "LEVELS",
    "VALENCE_COLUMNS",
    "EmotionMarginals",
    "Embeddings",
    "FilePrediction",
    "Predictions",
    "WindowPrediction",
    "dimension_columns",
]

"""Batches of prepared rows for training and evaluation: decode, crop, then the model's preprocessing.

* Integer audio is 16-bit PCM, as `prepare` stores it by default (`exhubert_hf.data.schema.decode_audio`), in
  whatever integer type it arrives (int16, the int64 of datasets' NumPy format, Python ints): it becomes float32
  by dividing by 32768, exactly the values soundfile reads from a 16-bit file. Floats are cast to float32.

* Clips longer than `max_seconds` keep their **first** `max_seconds`. The crop is deterministic (no random
  offset) so that a batch is a pure function of its rows: a resumed run sees exactly the batches an
  uninterrupted run would have seen, and evaluation is reproducible.
* Then `exhubert_hf.preprocessing.Preprocessing`, the same as at inference: each clip normalised on its own
  (independent of what else is in the batch), zero-padded to the longest clip (at least `min_samples`, the
  CNN's receptive field: 400 samples = 25 ms for HuBERT; those zeros count as audio), and `attention_mask` only
  when the feature extractor returns one (layer-norm feature encoders; group-norm models such as HuBERT Base
  were trained on zero-padded batches without masks).
* Every invalid row raises `CollationError` (a `ValueError`) naming the row's `path` when it has one:
  a row that is not a mapping, a missing `audio`/`label` key, audio that is not a non-empty 1-d array of
  real numbers, integer samples outside the int16 range, non-finite samples, samples above `MAX_ABS_SAMPLE` = 1e15
  in magnitude (too large to normalise in float32), a label that is not an integer in `[0, num_labels)`, a
  continuous rating that is neither a number in [0, 1] nor unknown (NaN, None), or a `{"array", "sampling_rate"}`
  audio dict at another sampling rate.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from transformers import HubertConfig

from ..configuration_exhubert import EXHUBERT_LABELS, SAMPLING_RATE
from ..errors import InputError
from ..preprocessing import Preprocessing, receptive_field
from .schema import decode_audio

# Samples the CNN feature encoder of every HuBERT needs for one frame (400 = 25 ms at 16 kHz).
HUBERT_RECEPTIVE_FIELD = receptive_field(HubertConfig())
# Larger magnitudes would overflow the float32 variance of the normalisation (samples are normally in [-1, 1]).
MAX_ABS_SAMPLE = 1e15


class CollationError(InputError):
    """A row that cannot be batched. `path` is the row's source file ("" when the row has none), `index` its
    position in the batch and `reason` what is wrong with it."""

    def __init__(self, reason: str, path: str = "", index: int | None = None):
        self.reason = reason
        self.path = path
        self.index = index
        where = []
        if path:
            where.append(path)
        if index is not None:
            where.append(f"row {index} of the batch")
        super().__init__(f"{' ('.join(where) + (')' if len(where) == 2 else '')}: {reason}" if where else reason)


class AudioCollator:
    """`collate_fn` for prepared rows (`audio`: samples at `sampling_rate`, `label`: class index, and the columns of
    `dimensions`: ratings in [0, 1], NaN where unknown).

    Returns `input_values` (float32, B x T, T = the longest clip after cropping, at least `min_samples`),
    `attention_mask` (int64, 1 on real samples; only when `feature_extractor.return_attention_mask`), `labels`
    (int64, B; not for `num_labels=0`) and, with `dimensions`, `dimension_targets` (float32, B x dimensions, NaN
    where unknown: what `ExHubertForSequenceClassification.forward` leaves out of its dimensional loss).

    Args:
        feature_extractor: a `Wav2Vec2FeatureExtractor`, e.g. `default_feature_extractor(config)`.
        max_seconds: crop clips to their first `max_seconds` (None: no cropping).
        sampling_rate: the rows' sampling rate; must equal the feature extractor's.
        min_samples: shortest output length (zero-padded); default HuBERT's receptive field.
        num_labels: labels must lie in `[0, num_labels)`; default the six ExHuBERT classes. 0: a model without
            classes, whose rows' `label` is not read.
        dimensions: the columns of continuous ratings to pass on, in the model's order (its `config.dimensions`).
    """

    def __init__(
        self,
        feature_extractor,
        max_seconds: float | None = None,
        sampling_rate: int = SAMPLING_RATE,
        min_samples: int = HUBERT_RECEPTIVE_FIELD,
        num_labels: int = len(EXHUBERT_LABELS),
        dimensions: Sequence[str] = (),
    ):
        extractor_rate = getattr(feature_extractor, "sampling_rate", sampling_rate)
        if extractor_rate != sampling_rate:
            raise ValueError(
                f"sampling_rate={sampling_rate} but the feature extractor expects {extractor_rate} Hz; "
                "resample the dataset (prepare writes 16 kHz)"
            )
        if max_seconds is not None:
            if not (isinstance(max_seconds, (int, float)) and math.isfinite(max_seconds) and max_seconds > 0):
                raise ValueError(f"max_seconds must be a positive number or None, got {max_seconds!r}")
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ValueError(f"min_samples must be a positive integer, got {min_samples!r}")
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 0:
            raise ValueError(f"num_labels must be a non-negative integer, got {num_labels!r}")
        if num_labels == 0 and not dimensions:
            raise ValueError("num_labels=0 (no classes) needs dimensions to pass on")
        self.feature_extractor = feature_extractor
        self.max_seconds = max_seconds
        self.sampling_rate = sampling_rate
        self.min_samples = min_samples
        self.num_labels = num_labels
        self.dimensions = tuple(dimensions or ())
        self.max_samples = None if max_seconds is None else max(1, int(round(max_seconds * sampling_rate)))
        self.preprocessing = Preprocessing.from_feature_extractor(feature_extractor, min_samples)
        self.return_attention_mask = self.preprocessing.attention_mask

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if isinstance(rows, Mapping) or not hasattr(rows, "__len__") or len(rows) == 0:
            raise CollationError("expected a non-empty list of rows")
        clips, labels, ratings = [], [], []
        for index, row in enumerate(rows):
            clip, label = self._check_row(row, index)
            clips.append(clip)
            labels.append(label)
            ratings.append(self._ratings(row, index))
        features = self.preprocessing(clips)
        input_values = features["input_values"]
        finite = np.isfinite(input_values).all(axis=1)
        if not finite.all():
            index = int(np.flatnonzero(~finite)[0])
            raise CollationError(
                "audio values too large to normalise (non-finite after normalisation)", _path(rows[index]), index
            )
        batch = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in features.items()}
        if self.num_labels:
            batch["labels"] = torch.tensor(labels, dtype=torch.long)
        if self.dimensions:
            batch["dimension_targets"] = torch.tensor(ratings, dtype=torch.float32)
        return batch

    def _ratings(self, row, index: int) -> list[float]:
        ratings = []
        for name in self.dimensions:
            if name not in row:
                reason = f"row has no {name!r} column (the model predicts {', '.join(self.dimensions)})"
                raise CollationError(reason, _path(row), index)
            value = row[name]
            try:
                value = math.nan if value is None else float(value)
            except (TypeError, ValueError):
                value = None
            if value is None or not (math.isnan(value) or 0.0 <= value <= 1.0):
                reason = f"{name} must be a number in [0, 1] or unknown (NaN), got {row[name]!r}"
                raise CollationError(reason, _path(row), index)
            ratings.append(value)
        return ratings

    def _check_row(self, row, index: int) -> tuple[np.ndarray, int]:
        if not isinstance(row, Mapping):
            raise CollationError(f"row is a {type(row).__name__}, not a mapping", index=index)
        path = _path(row)
        for key in ("audio", "label") if self.num_labels else ("audio",):
            if key not in row:
                raise CollationError(f"row has no {key!r} column", path, index)
        audio = row["audio"]
        if isinstance(audio, Mapping):  # a datasets Audio value: {"array", "sampling_rate", ...}
            if "array" not in audio:
                raise CollationError("audio is a mapping without an 'array'", path, index)
            rate = audio.get("sampling_rate", self.sampling_rate)
            if rate != self.sampling_rate:
                raise CollationError(f"audio is at {rate} Hz, expected {self.sampling_rate} Hz", path, index)
            audio = audio["array"]
        try:
            if isinstance(audio, torch.Tensor):
                audio = audio.detach().cpu().float().numpy() if audio.is_floating_point() else audio.cpu().numpy()
            array = np.asarray(audio)
        except Exception as error:  # ragged nesting, unconvertible objects, ...
            raise CollationError(f"audio is not an array of numbers ({type(error).__name__}: {error})", path, index)
        if array.dtype.kind not in "iuf":
            raise CollationError(f"audio must hold real numbers, got dtype {array.dtype}", path, index)
        if array.ndim != 1:
            raise CollationError(f"audio must be 1-d (mono samples), got shape {array.shape}", path, index)
        if array.size == 0:
            raise CollationError("audio is empty", path, index)
        if self.max_samples is not None:
            array = array[: self.max_samples]
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                clip = decode_audio(array)
        except ValueError as error:
            raise CollationError(str(error), path, index) from None
        if not np.isfinite(clip).all():
            raise CollationError("audio has NaN, infinite or float32-overflowing samples", path, index)
        if np.abs(clip).max() > MAX_ABS_SAMPLE:
            raise CollationError(
                f"audio has samples above {MAX_ABS_SAMPLE:g} in magnitude, too large to normalise in float32 "
                "(expected float samples in [-1, 1])",
                path,
                index,
            )
        if not self.num_labels:
            return clip, None
        label = row["label"]
        if isinstance(label, (bool, np.bool_)) or (isinstance(label, torch.Tensor) and label.dtype == torch.bool):
            raise CollationError(f"label must be an integer class index, got {label!r}", path, index)
        try:
            label = operator.index(label)
        except TypeError:
            raise CollationError(f"label must be an integer class index, got {label!r}", path, index) from None
        if not 0 <= label < self.num_labels:
            raise CollationError(f"label {label} is outside [0, {self.num_labels})", path, index)
        return clip, label


def _path(row) -> str:
    if isinstance(row, Mapping):
        path = row.get("path")
        if isinstance(path, str):
            return path
    return ""


__all__ = ["AudioCollator", "CollationError", "HUBERT_RECEPTIVE_FIELD", "MAX_ABS_SAMPLE"]

"""Batches of prepared rows for training and evaluation: crop, normalise and pad with the feature extractor.

* Clips longer than `max_seconds` keep their **first** `max_seconds`. The crop is deterministic (no random
  offset) so that a batch is a pure function of its rows: a resumed run sees exactly the batches an
  uninterrupted run would have seen, and evaluation is reproducible.
* Each clip is normalised to zero mean and unit variance over its own (cropped) samples by the feature
  extractor, independent of what else is in the batch (the feature extractor is always asked for the mask
  internally, so padding never enters a clip's statistics), then zero-padded to the longest clip.
* Clips shorter than `min_samples` (default 400: HuBERT's CNN receptive field, 25 ms at 16 kHz; shorter
  inputs give no frame at all) are zero-padded to `min_samples`; the attention mask marks the real samples.
* `attention_mask` is returned only when `feature_extractor.return_attention_mask` is true (layer-norm
  feature encoders); group-norm models (HuBERT Base) were trained on zero-padded batches without masks.
* Every invalid row raises `CollationError` (a `ValueError`) naming the row's `path` when it has one:
  a row that is not a mapping, a missing `audio`/`label` key, audio that is not a non-empty 1-d array of
  real numbers, non-finite samples, samples above `MAX_ABS_SAMPLE` = 1e15 in magnitude (too large to
  normalise in float32), a label that is not
  an integer in `[0, num_labels)`, or a `{"array", "sampling_rate"}` audio dict at another sampling rate.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping

import numpy as np
import torch
from transformers import HubertConfig

from ..configuration_exhubert import EXHUBERT_LABELS, SAMPLING_RATE
from ..errors import InputError
from ..modeling_exhubert import receptive_field

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
    """`collate_fn` for prepared rows (`audio`: samples at `sampling_rate`, `label`: class index).

    Returns `input_values` (float32, B x T, T = the longest clip after cropping, at least `min_samples`),
    `attention_mask` (int64, 1 on real samples; only when `feature_extractor.return_attention_mask`) and
    `labels` (int64, B).

    Args:
        feature_extractor: a `Wav2Vec2FeatureExtractor`, e.g. `default_feature_extractor(config)`.
        max_seconds: crop clips to their first `max_seconds` (None: no cropping).
        sampling_rate: the rows' sampling rate; must equal the feature extractor's.
        min_samples: shortest output length (zero-padded); default HuBERT's receptive field.
        num_labels: labels must lie in `[0, num_labels)`; default the six ExHuBERT classes.
    """

    def __init__(
        self,
        feature_extractor,
        max_seconds: float | None = None,
        sampling_rate: int = SAMPLING_RATE,
        min_samples: int = HUBERT_RECEPTIVE_FIELD,
        num_labels: int = len(EXHUBERT_LABELS),
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
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}")
        self.feature_extractor = feature_extractor
        self.max_seconds = max_seconds
        self.sampling_rate = sampling_rate
        self.min_samples = min_samples
        self.num_labels = num_labels
        self.max_samples = None if max_seconds is None else max(1, int(round(max_seconds * sampling_rate)))
        self.return_attention_mask = bool(getattr(feature_extractor, "return_attention_mask", False))

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if isinstance(rows, Mapping) or not hasattr(rows, "__len__") or len(rows) == 0:
            raise CollationError("expected a non-empty list of rows")
        clips, labels = [], []
        for index, row in enumerate(rows):
            clip, label = self._check_row(row, index)
            clips.append(clip)
            labels.append(label)
        lengths = [len(clip) for clip in clips]
        target = max(max(lengths), self.min_samples)
        try:
            features = self.feature_extractor(
                clips,
                sampling_rate=self.sampling_rate,
                padding="max_length",
                max_length=target,
                return_attention_mask=True,
                return_tensors="np",
            )
        except (ValueError, TypeError, FloatingPointError, OverflowError) as error:  # pragma: no cover
            raise CollationError(f"the feature extractor rejected the batch: {error}") from error
        input_values = np.asarray(features["input_values"], dtype=np.float32)
        finite = np.isfinite(input_values).all(axis=1)
        if not finite.all():
            index = int(np.flatnonzero(~finite)[0])
            raise CollationError(
                "audio values too large to normalise (non-finite after normalisation)", _path(rows[index]), index
            )
        attention_mask = np.zeros((len(clips), target), dtype=np.int64)
        for index, length in enumerate(lengths):
            attention_mask[index, :length] = 1
            input_values[index, length:] = 0.0
        batch = {"input_values": torch.from_numpy(np.ascontiguousarray(input_values))}
        if self.return_attention_mask:
            batch["attention_mask"] = torch.from_numpy(attention_mask)
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return batch

    def _check_row(self, row, index: int) -> tuple[np.ndarray, int]:
        if not isinstance(row, Mapping):
            raise CollationError(f"row is a {type(row).__name__}, not a mapping", index=index)
        path = _path(row)
        for key in ("audio", "label"):
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
        with np.errstate(over="ignore", invalid="ignore"):
            clip = array.astype(np.float32)
        if not np.isfinite(clip).all():
            raise CollationError("audio has NaN, infinite or float32-overflowing samples", path, index)
        if np.abs(clip).max() > MAX_ABS_SAMPLE:
            raise CollationError(
                f"audio has samples above {MAX_ABS_SAMPLE:g} in magnitude, too large to normalise in float32 "
                "(expected float samples in [-1, 1])",
                path,
                index,
            )
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

"""From 16 kHz clips to model inputs: the one preprocessing that prediction, embeddings, training batches and
evaluation share, so a model sees at inference exactly what it saw in training.

It is read from the model folder's `preprocessor_config.json` (a `Wav2Vec2FeatureExtractor`) plus two settings
this package records there:

* `exhubert_pad_to_samples` (default 0): every clip is zero-padded to at least this many samples;
* `exhubert_normalize_padding` (default false): the zero-mean, unit-variance normalisation takes its statistics
  over the clip *with* that padding instead of over its real samples only.

The published `amiriparian/ExHuBERT` is run by its authors as `Wav2Vec2FeatureExtractor.from_pretrained(
"facebook/hubert-base-ls960")(clip, padding="max_length", max_length=48000)` with no attention mask: each clip
is padded to 3 s and the whole padded vector is normalised. The converted checkpoint records exactly that
(48000, true, no attention mask). Models trained here keep the default: statistics over the real samples, and
an attention mask for layer-norm feature encoders (HuBERT Large) so padding never matters; group-norm encoders
(HuBERT Base) take no mask, and then every clip of a batch is padded to the same length.

Clips shorter than the CNN's receptive field (400 samples for HuBERT) are zero-padded to it, and those zeros
count as audio: the model needs at least one frame.
"""

from dataclasses import dataclass

import numpy as np

PAD_TO_KEY = "exhubert_pad_to_samples"
NORMALIZE_PADDING_KEY = "exhubert_normalize_padding"
# The variance floor of transformers' Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm, kept for equal results.
VARIANCE_EPSILON = 1e-7


def receptive_field(config) -> int:
    """Samples the convolutional feature encoder needs for one output frame (400 for HuBERT; 1 for a config
    without a convolutional feature encoder)."""
    field, jump = 1, 1
    for kernel, stride in zip(getattr(config, "conv_kernel", ()), getattr(config, "conv_stride", ())):
        field += (kernel - 1) * jump
        jump *= stride
    return field


@dataclass(frozen=True)
class Preprocessing:
    """How clips become `input_values` (and an `attention_mask` when the model takes one)."""

    normalize: bool = True
    normalize_padding: bool = False
    pad_to_samples: int = 0
    attention_mask: bool = True
    min_samples: int = 400
    padding_value: float = 0.0

    @classmethod
    def for_model(cls, model_config, feature_extractor) -> "Preprocessing":
        """The preprocessing of a model: its feature extractor's settings (see the module docstring) and its
        CNN's receptive field."""
        return cls.from_feature_extractor(feature_extractor, receptive_field(model_config))

    @classmethod
    def from_feature_extractor(cls, feature_extractor, min_samples: int) -> "Preprocessing":
        return cls(
            normalize=bool(getattr(feature_extractor, "do_normalize", True)),
            normalize_padding=bool(getattr(feature_extractor, NORMALIZE_PADDING_KEY, False)),
            pad_to_samples=int(getattr(feature_extractor, PAD_TO_KEY, 0) or 0),
            attention_mask=bool(getattr(feature_extractor, "return_attention_mask", False)),
            min_samples=min_samples,
            padding_value=float(getattr(feature_extractor, "padding_value", 0.0)),
        )

    def padded_length(self, length: int) -> int:
        """The length one clip of `length` samples is padded to on its own."""
        return max(length, self.pad_to_samples, self.min_samples)

    def __call__(self, clips, pad_to: int = 0) -> dict[str, np.ndarray]:
        """`input_values` (float32, clips x samples) and, for models that take one, `attention_mask` (int64, 1 on
        the audio). The batch is as long as its longest padded clip, or `pad_to` if that is longer."""
        clips = [np.asarray(clip, dtype=np.float32) for clip in clips]
        width = max([self.padded_length(len(clip)) for clip in clips] + [pad_to])
        values = np.full((len(clips), width), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(clips), width), dtype=np.int64)
        for row, clip in enumerate(clips):
            audio = max(len(clip), self.min_samples)  # the zeros that make up one frame count as audio
            own = self.padded_length(len(clip)) if self.normalize_padding else audio
            values[row, : len(clip)] = clip
            values[row, len(clip) : audio] = 0.0
            mask[row, :audio] = 1
            if self.normalize:
                statistics = values[row, :own].astype(np.float64)  # float64: no overflow for loud clips
                normalised = (statistics - statistics.mean()) / np.sqrt(statistics.var() + VARIANCE_EPSILON)
                values[row, :own] = normalised.astype(np.float32)
        inputs = {"input_values": values}
        if self.attention_mask:
            inputs["attention_mask"] = mask
        return inputs

    def record(self, feature_extractor) -> None:
        """Write the two settings of this package into a feature extractor, so that `save_pretrained` keeps them."""
        setattr(feature_extractor, PAD_TO_KEY, self.pad_to_samples)
        setattr(feature_extractor, NORMALIZE_PADDING_KEY, self.normalize_padding)


__all__ = ["NORMALIZE_PADDING_KEY", "PAD_TO_KEY", "Preprocessing", "receptive_field"]

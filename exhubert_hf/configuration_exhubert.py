"""Configuration of ExHuBERT: HuBERT with backbone block expansion (Amiriparian et al., Interspeech 2024), also of a
wav2vec 2.0 or data2vec-audio encoder.

Self-contained on purpose: `save_pretrained` copies this file into every checkpoint so that
`trust_remote_code=True` works where `exhubert_hf` is not installed.
"""

import os

from huggingface_hub.dataclasses import strict
from transformers import HubertConfig, Wav2Vec2FeatureExtractor

# Every HuBERT, and so every ExHuBERT, takes 16 kHz mono audio: the one home of this number in the package.
SAMPLING_RATE = 16000

# The encoder families block expansion reproduces exactly (transformers model types): their encoder layers are the
# same code as HuBERT's; modeling_exhubert builds each family's own feature encoder, projection and positional
# embedding.
SOURCE_MODEL_TYPES = ("hubert", "wav2vec2", "data2vec-audio")
# How the encoders of related speech models differ from those (for the error that refuses them).
UNSUPPORTED_ENCODERS = {
    "wavlm": "attention with gated relative position bias",
    "wav2vec2-conformer": "conformer blocks (a convolution module; rotary or relative position embeddings)",
    "wav2vec2-bert": "conformer blocks over log-mel features",
    "sew": "the sequence is squeezed before the encoder layers and upsampled after them",
    "sew-d": "disentangled attention over a squeezed sequence",
}
# What data2vec-audio configs leave unsaid because that family has one kind of each: a layer-norm convolutional
# feature encoder and post-LN encoder layers.
DATA2VEC_AUDIO_LAYOUT = dict(feat_extract_norm="layer", do_stable_layer_norm=False)


def not_expandable_error(what: str, model_type) -> TypeError:
    """The error for a source that block expansion cannot reproduce: `what` it is, and how its encoder differs."""
    differs = UNSUPPORTED_ENCODERS.get(model_type)
    return TypeError(
        "block expansion needs a HuBERT, wav2vec 2.0 or data2vec-audio model (HubertModel, Wav2Vec2ForCTC, "
        f"Data2VecAudioForSequenceClassification, ...), got {what}"
        + (f"; its encoder differs: {differs}" if differs else "")
    )


def looks_like_local_path(source) -> bool:
    """Whether `source` names a local file system entry rather than a Hub id: `./x`, `../x`, `/x`, `~/x`, `x/`,
    more than one slash, or a first component that is an existing folder (`runs/stage1`). Such a path that does
    not exist is reported at once, not sent to the Hub as a model id (where it would fail after retries)."""
    text = os.fspath(source)
    first = text.replace(os.sep, "/").split("/")[0]
    return (
        text.startswith((".", "/", "~", os.sep))
        or text.endswith(("/", os.sep))
        or text.count("/") > 1
        or (first != text and os.path.isdir(first))
    )


AROUSAL_LEVELS = ("low", "high")
VALENCE_LEVELS = ("negative", "neutral", "positive")
# Class index = 3 * arousal index + valence index: the order of the published ExHuBERT head.
EXHUBERT_LABELS = tuple(
    f"{arousal} arousal, {valence} valence" for arousal in AROUSAL_LEVELS for valence in VALENCE_LEVELS
)


def emotion_class(arousal: str, valence: str) -> int:
    """Index of the six-class label for an arousal level ("low"/"high") and a valence level."""
    if arousal not in AROUSAL_LEVELS or valence not in VALENCE_LEVELS:
        raise ValueError(
            f"unknown arousal/valence ({arousal!r}, {valence!r}); "
            f"arousal is one of {AROUSAL_LEVELS}, valence one of {VALENCE_LEVELS}"
        )
    return AROUSAL_LEVELS.index(arousal) * len(VALENCE_LEVELS) + VALENCE_LEVELS.index(valence)


@strict
class ExHubertConfig(HubertConfig):
    r"""
    A HuBERT configuration plus the block-expansion layout (and the family of the expanded encoder).

    The encoder has `num_source_layers * (1 + num_copies_per_layer)` layers, stored as
    `num_hidden_layers`, in the order original 0, its copies, original 1, its copies, ... Each copy
    computes `h + gate(copy(h))` with a `Linear(hidden_size, hidden_size)` gate that block expansion
    initialises to zero, so a freshly expanded model computes exactly what its source computed.

    Args:
        num_source_layers (`int`, defaults to 12):
            Encoder layers of the HuBERT the model was expanded from (24 for HuBERT Large).
        num_copies_per_layer (`int`, defaults to 1):
            Trainable copies after each original layer: 1 is ExHuBERT, 2 the paper's "XLarge". (The
            paper's "no expansion" baseline is stock `HubertForSequenceClassification`.)
        freeze_original_layers (`bool`, defaults to `True`):
            Whether the original layers (and their gates, if any) get no gradient.
        freeze_feature_encoder (`bool`, defaults to `True`):
            Whether the CNN feature encoder gets no gradient.
        original_layer_gates (`bool`, defaults to `False`):
            Whether each original layer is followed by a linear gate too (initialised to the identity),
            as in the published `amiriparian/ExHuBERT` checkpoint.
        layerdrop (`float`, defaults to 0.0):
            In training, the probability of skipping a whole block (an original and its copies together; never a
            copy without its original). 0 as in the official code, which disables layer drop; HuBERT's own
            default of 0.1 per layer is not taken over by expansion, so a non-zero value is an explicit choice.
        source_model_type (`str`, defaults to `"hubert"`):
            The family of the expanded encoder: "hubert", "wav2vec2" or "data2vec-audio" (its transformers model type),
            which decides the feature encoder, feature projection and positional embedding modules. A config from a
            data2vec-audio encoder keeps that family's settings and their meaning: `num_conv_pos_embeddings` counts its
            positional convolutions, `conv_pos_kernel_size` is their kernel size.
        dimensions (`list[str]`, *optional*):
            Names of continuous dimensions (e.g. `["arousal", "valence", "dominance"]`) that a regression head on the
            pooled output predicts in [0, 1], beside the classes. None (the default): no such head, and the model
            computes exactly what it computed before the head existed. With `num_labels=0` the model has no classes
            and predicts the dimensions alone.
        dimension_loss_weight (`float`, defaults to 1.0):
            The weight `w` of the dimensions in the loss: cross-entropy + w * sum over dimensions of (1 - CCC), the
            concordance correlation coefficient over the clips of the batch whose value is known.
    """

    model_type = "exhubert"

    num_source_layers: int = 12
    num_copies_per_layer: int = 1
    freeze_original_layers: bool = True
    freeze_feature_encoder: bool = True
    original_layer_gates: bool = False
    layerdrop: float = 0.0
    source_model_type: str = "hubert"
    dimensions: list[str] | tuple[str, ...] | None = None
    dimension_loss_weight: float | int = 1.0

    def __post_init__(self, **kwargs):
        self._validate_expansion()
        self._validate_dimensions(kwargs.get("num_labels"))
        expanded_layers = self.num_source_layers * (1 + self.num_copies_per_layer)
        given_layers = kwargs.pop("num_hidden_layers", None)
        if given_layers is None and self.num_hidden_layers != HubertConfig.num_hidden_layers:
            given_layers = self.num_hidden_layers
        if given_layers is not None and given_layers != expanded_layers:
            raise ValueError(
                f"num_hidden_layers={given_layers} does not match num_source_layers={self.num_source_layers} "
                f"with num_copies_per_layer={self.num_copies_per_layer} ({expanded_layers} layers); "
                "set num_source_layers and num_copies_per_layer, num_hidden_layers follows from them"
            )
        self.num_hidden_layers = expanded_layers
        given_num_labels = kwargs.get("num_labels")
        if given_num_labels is not None and self.id2label is not None and len(self.id2label) != given_num_labels:
            raise ValueError(
                f"num_labels={given_num_labels} but id2label has {len(self.id2label)} entries ({self.id2label}); "
                "give id2label alone, or make num_labels its length"
            )
        if self.id2label is None and kwargs.get("num_labels", len(EXHUBERT_LABELS)) == len(EXHUBERT_LABELS):
            self.id2label = dict(enumerate(EXHUBERT_LABELS))
        if self.id2label is not None and self.label2id is None:
            self.label2id = {label: int(index) for index, label in self.id2label.items()}
        super().__post_init__(**kwargs)

    def _validate_expansion(self):
        # Raised from __post_init__ as plain ValueErrors so that users see what to fix at construction.
        if self.num_source_layers < 1:
            raise ValueError(f"num_source_layers must be at least 1, got {self.num_source_layers}")
        if self.num_copies_per_layer < 1:
            raise ValueError(
                f"num_copies_per_layer must be at least 1, got {self.num_copies_per_layer}; "
                "for a model without expansion use HubertForSequenceClassification"
            )
        if self.source_model_type not in SOURCE_MODEL_TYPES:
            raise ValueError(
                f"source_model_type={self.source_model_type!r} is not an encoder family block expansion reproduces; "
                f"use one of {SOURCE_MODEL_TYPES}"
            )
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_attention_heads={self.num_attention_heads}; "
                "choose a head count that divides the hidden size"
            )
        if self.label2id is not None and self.id2label is not None:
            by_index = {int(index): label for index, label in self.id2label.items()}
            if {int(index): label for label, index in self.label2id.items()} != by_index:
                raise ValueError(
                    f"label2id {self.label2id} and id2label {self.id2label} disagree; give one of them "
                    "(or id2label and num_labels) so that the other follows"
                )

    def _validate_dimensions(self, num_labels):
        self.dimensions = list(self.dimensions) if self.dimensions else None
        names = self.dimensions or []
        if any(not isinstance(name, str) or not name.strip() for name in names) or len(set(names)) != len(names):
            raise ValueError(f"dimensions must be distinct non-empty names, e.g. ['arousal', 'valence'], got {names}")
        if not (0 <= self.dimension_loss_weight < float("inf")):
            raise ValueError(f"dimension_loss_weight must be a finite number >= 0, got {self.dimension_loss_weight}")
        if num_labels == 0 and not names:
            raise ValueError("num_labels=0 leaves the model nothing to predict; name dimensions, or give it classes")

    @classmethod
    def from_hubert_config(cls, source_config, **expansion) -> "ExHubertConfig":
        """The expanded config of a HuBERT, wav2vec 2.0 or data2vec-audio config: same shapes and settings,
        `num_source_layers` taken from its `num_hidden_layers`, its model type as `source_model_type`; `expansion`
        sets the fields above or overrides the source's. The source's per-layer `layerdrop` is not taken over (block
        layer drop is 0 unless `expansion` sets it)."""
        settings = source_config.to_dict()
        source_model_type = settings.get("model_type")
        if source_model_type not in SOURCE_MODEL_TYPES:
            raise not_expandable_error(f"a {source_model_type!r} config", source_model_type)
        if source_model_type == "data2vec-audio":
            settings.update(DATA2VEC_AUDIO_LAYOUT)
        if settings.get("vocab_size") is None:
            settings.pop("vocab_size", None)  # it sizes a CTC head only; wav2vec2 configs without one may set null
        for key in ("model_type", "architectures", "auto_map", "transformers_version", "num_hidden_layers", "layerdrop"):
            settings.pop(key, None)
        settings["num_source_layers"] = source_config.num_hidden_layers
        settings["source_model_type"] = source_model_type
        settings.update(expansion)
        return cls(**settings)

    def is_copy(self, layer_index: int) -> bool:
        """Whether encoder layer `layer_index` is a trainable copy (else it is an original)."""
        return layer_index % (1 + self.num_copies_per_layer) != 0


def default_feature_extractor(config: HubertConfig, return_attention_mask: bool | None = None) -> Wav2Vec2FeatureExtractor:
    """The feature extractor HuBERT checkpoints of this kind ship: per-utterance normalisation, zero padding;
    attention masks (unless `return_attention_mask` says otherwise) only for layer-norm feature encoders
    (group-norm ones, as in HuBERT Base, were trained on zero-padded batches without them)."""
    if return_attention_mask is None:
        return_attention_mask = config.feat_extract_norm == "layer"
    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SAMPLING_RATE,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=return_attention_mask,
    )


__all__ = [
    "AROUSAL_LEVELS",
    "EXHUBERT_LABELS",
    "SAMPLING_RATE",
    "SOURCE_MODEL_TYPES",
    "VALENCE_LEVELS",
    "ExHubertConfig",
    "default_feature_extractor",
    "emotion_class",
    "looks_like_local_path",
]

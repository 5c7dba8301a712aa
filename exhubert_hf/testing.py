"""Tiny random HuBERT (and wav2vec 2.0 / data2vec-audio) configurations, in the spirit of transformers'
`HubertModelTester`: for tests, the offline demo and anything else that must run in seconds on a CPU without
downloading weights; and the Large shapes, for parameter counts on the meta device."""

from transformers import AutoConfig, HubertConfig, Wav2Vec2Config

TINY_HUBERT = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    conv_dim=(32, 32, 32),
    conv_stride=(4, 4, 4),
    conv_kernel=(8, 8, 8),
    conv_bias=True,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
    classifier_proj_size=16,
)
# HuBERT Large and wav2vec 2.0 Large (XLS-R 300M) share this shape; the feature encoder, projection and positional
# embedding take the transformers defaults of both (7 convolutions of 512 channels, kernel 128 in 16 groups).
LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    feat_extract_norm="layer",
    do_stable_layer_norm=True,
    conv_bias=True,
    num_labels=6,
)


def tiny_hubert_config(stable_layer_norm: bool = True, **overrides) -> HubertConfig:
    """A HuBERT config small enough for CPU tests. `stable_layer_norm=True` gives the pre-LN layer kind of
    HuBERT Large (with a layer-norm feature encoder), `False` the post-LN kind of HuBERT Base."""
    return tiny_encoder_config("hubert", stable_layer_norm, **overrides)


def tiny_encoder_config(model_type: str, stable_layer_norm: bool = True, **overrides):
    """A config small enough for CPU tests of a family block expansion accepts: "hubert", "wav2vec2" (both with the
    pre-LN or post-LN layer kind, as `tiny_hubert_config`) or "data2vec-audio" (post-LN only, `stable_layer_norm`
    must be False; its positional embedding here is 2 convolutions of kernel 5)."""
    settings = dict(TINY_HUBERT, num_labels=6)
    if model_type == "data2vec-audio":
        if stable_layer_norm:
            raise ValueError("data2vec-audio has post-LN encoder layers only; pass stable_layer_norm=False")
        settings.update(num_conv_pos_embeddings=2, conv_pos_kernel_size=5)
    else:
        norm = "layer" if stable_layer_norm else "group"
        settings.update(do_stable_layer_norm=stable_layer_norm, feat_extract_norm=norm)
    settings.update(overrides)
    return AutoConfig.for_model(model_type, **settings)


def hubert_large_config(**overrides) -> HubertConfig:
    """The shape of `facebook/hubert-large-ll60k` / `-ls960-ft` with a six-class head."""
    return HubertConfig(**LARGE | overrides)


def xls_r_300m_config(**overrides) -> Wav2Vec2Config:
    """The shape of `facebook/wav2vec2-xls-r-300m` (wav2vec 2.0 Large, pre-LN, layer-norm feature encoder) with a
    six-class head."""
    return Wav2Vec2Config(**LARGE | overrides)

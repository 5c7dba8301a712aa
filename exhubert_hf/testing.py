"""Tiny random HuBERT configurations, in the spirit of transformers' `HubertModelTester`: for tests, the
offline demo and anything else that must run in seconds on a CPU without downloading weights."""

from transformers import HubertConfig

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


def tiny_hubert_config(stable_layer_norm: bool = True, **overrides) -> HubertConfig:
    """A HuBERT config small enough for CPU tests. `stable_layer_norm=True` gives the pre-LN layer kind of
    HuBERT Large (with a layer-norm feature encoder), `False` the post-LN kind of HuBERT Base."""
    settings = dict(
        TINY_HUBERT,
        do_stable_layer_norm=stable_layer_norm,
        feat_extract_norm="layer" if stable_layer_norm else "group",
        num_labels=6,
    )
    settings.update(overrides)
    return HubertConfig(**settings)


def hubert_large_config(**overrides) -> HubertConfig:
    """The shape of `facebook/hubert-large-ll60k` / `-ls960-ft` with a six-class head."""
    settings = dict(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        conv_bias=True,
        num_labels=6,
    )
    settings.update(overrides)
    return HubertConfig(**settings)

"""Drift guards: the places where this package mirrors transformers internals fail here, with a message saying
what to update, when an installed transformers differs from the one the mirror follows."""

import hashlib
import inspect
import re

import transformers
from transformers import Data2VecAudioModel, HubertForSequenceClassification, HubertModel, Trainer, Wav2Vec2Model
from transformers.models.data2vec import modeling_data2vec_audio as data2vec_audio
from transformers.models.hubert import modeling_hubert as hubert
from transformers.models.hubert.modeling_hubert import HubertEncoder, HubertEncoderStableLayerNorm
from transformers.models.wav2vec2 import modeling_wav2vec2 as wav2vec2

from exhubert_hf import ExHubertConfig, ExHubertForSequenceClassification, ExHubertModel
from exhubert_hf.modeling_exhubert import ExHubertEncoder, ExHubertEncoderStableLayerNorm
from exhubert_hf.testing import tiny_encoder_config, tiny_hubert_config
from exhubert_hf.train.trainer import MIRRORED_SAVE_CHECKPOINT_STEPS, RoundRobinTrainer, saved_checkpoint_steps

VERSION = transformers.__version__


def layout(module) -> dict[str, set[str]]:
    """What a constructor set on a module: its plain attributes, sub-modules, parameters and buffers."""
    attributes = {name for name in vars(module) if not name.startswith("_")}
    return {
        "attributes": attributes,
        "modules": set(module._modules),
        "parameters": set(module._parameters),
        "buffers": set(module._buffers),
    }


def assert_same_layout(ours, theirs, what: str, extra_attributes: set[str] = frozenset(), absent=frozenset()):
    """`extra_attributes`: set only by ours; `absent`: attributes of theirs that ours never has."""
    mine, reference = layout(ours), layout(theirs)
    mine["attributes"] -= set(extra_attributes)
    reference["attributes"] -= set(absent)
    for kind in mine:
        assert mine[kind] == reference[kind], (
            f"transformers {VERSION} changed what {what} sets ({kind}: theirs {sorted(reference[kind] - mine[kind])} "
            f"missing here, {sorted(mine[kind] - reference[kind])} only here); update the mirror in modeling_exhubert.py"
        )


def configs(stable_layer_norm: bool):
    hubert = tiny_hubert_config(stable_layer_norm, mask_time_prob=0.05, use_weighted_layer_sum=True)
    return hubert, ExHubertConfig.from_hubert_config(hubert)


def test_the_model_constructors_set_what_transformers_sets():
    for stable in (True, False):
        hubert, exhubert = configs(stable)
        assert_same_layout(ExHubertModel(exhubert), HubertModel(hubert), "HubertModel.__init__")
        assert_same_layout(
            ExHubertForSequenceClassification(exhubert),
            HubertForSequenceClassification(hubert),
            "HubertForSequenceClassification.__init__",
        )


def test_the_encoders_are_transformers_encoders_with_expanded_layers():
    for ours, theirs, stable in ((ExHubertEncoderStableLayerNorm, HubertEncoderStableLayerNorm, True), (ExHubertEncoder, HubertEncoder, False)):
        hubert, exhubert = configs(stable)
        expanded, reference = ours(exhubert), theirs(hubert)
        assert_same_layout(expanded, reference, f"{theirs.__name__}.__init__")
        assert expanded.config is exhubert and len(expanded.layers) == exhubert.num_hidden_layers


def test_the_checkpoint_steps_are_the_ones_mirrored():
    assert saved_checkpoint_steps(Trainer) == MIRRORED_SAVE_CHECKPOINT_STEPS, (
        f"transformers {VERSION} changed the steps of Trainer._save_checkpoint to {saved_checkpoint_steps(Trainer)}; "
        "RoundRobinTrainer._save_checkpoint mirrors the old ones: update it and MIRRORED_SAVE_CHECKPOINT_STEPS"
    )
    assert RoundRobinTrainer._save_checkpoint is not Trainer._save_checkpoint


# The sources of the forwards that modeling_exhubert mirrors (transformers 5.24): the encoder forwards in
# `_BlockLayerDropMixin.forward` (with block layer drop), the classifier's in `ExHubertForSequenceClassification.forward`
# (with the dimensional head).
MIRRORED_FORWARD_SHA256 = {
    "HubertEncoder.forward": "22cbe5027f831b2d2f3738ffd35a3d38e8a102b94a5c541304827bf6cce9d13c",
    "HubertEncoderStableLayerNorm.forward": "62a29d580b6396872e08a21d59e3e6468785bc7bdb67bd3e477a69080339fdf5",
    "HubertForSequenceClassification.forward": "6ba399c2bb74a647a1e120829bac2ab0b7d584f70f6de61aa75133bec582275b",
}
MIRRORS = {
    "HubertEncoder": (HubertEncoder, "_BlockLayerDropMixin.forward"),
    "HubertEncoderStableLayerNorm": (HubertEncoderStableLayerNorm, "_BlockLayerDropMixin.forward"),
    "HubertForSequenceClassification": (HubertForSequenceClassification, "ExHubertForSequenceClassification.forward"),
}


def test_the_mirrored_forwards_are_the_ones_of_this_transformers():
    for name, expected in MIRRORED_FORWARD_SHA256.items():
        owner, mirror = MIRRORS[name.split(".")[0]]
        digest = hashlib.sha256(inspect.getsource(owner.forward).encode()).hexdigest()
        assert digest == expected, (
            f"transformers {VERSION} changed {name}; exhubert_hf.modeling_exhubert.{mirror} mirrors the 5.24 "
            f"version: port the change there, then record sha256 {digest}"
        )


def test_the_model_constructor_sets_what_each_source_family_sets():
    for model_type, reference_class, stable in (
        ("wav2vec2", Wav2Vec2Model, True),
        ("wav2vec2", Wav2Vec2Model, False),
        ("data2vec-audio", Data2VecAudioModel, False),
    ):
        source = tiny_encoder_config(model_type, stable, mask_time_prob=0.05)
        expanded = ExHubertModel(ExHubertConfig.from_hubert_config(source))
        # No adapter after the encoder: expansion refuses sources with one (add_adapter=True).
        what = f"{reference_class.__name__}.__init__"
        assert_same_layout(expanded, reference_class(source), what, absent={"adapter"})


# For every source family ExHuBERT builds HuBERT's encoder layers, encoder and classification head: exact while
# transformers keeps the other families' classes the same code as HuBERT's (it generates them from wav2vec2's).
STOOD_IN_FOR = ("EncoderLayer", "EncoderLayerStableLayerNorm", "Encoder", "EncoderStableLayerNorm", "Attention")
STOOD_IN_FOR += ("FeedForward", "AttnAdapterLayer", "ForSequenceClassification")
FAMILY_MODULES = {"Wav2Vec2": wav2vec2, "Data2VecAudio": data2vec_audio}  # data2vec-audio has post-LN classes only


def family_neutral_source(code) -> str:
    return re.sub(r"Hubert|Wav2Vec2|Data2VecAudio|hubert|wav2vec2|data2vec_audio", "Family", inspect.getsource(code))


def test_the_family_classes_hubert_stands_in_for_are_the_same_code():
    compared = 0
    for name in STOOD_IN_FOR:
        for prefix, module in FAMILY_MODULES.items():
            other = getattr(module, prefix + name, None)
            if other is None:
                continue
            compared += 1
            assert family_neutral_source(other) == family_neutral_source(getattr(hubert, "Hubert" + name)), (
                f"transformers {VERSION} made {other.__name__} differ from Hubert{name}; ExHuBERT builds HuBERT's "
                "for that family: give it its own class in _SOURCE_FAMILIES (modeling_exhubert.py) or check the change"
            )
    assert compared == 13


# The model forward that HubertModel.forward stands in for in an expanded wav2vec2 or data2vec-audio encoder (which
# has no adapter, and whose feature projection returns the projected features alone), in transformers 5.24.
MIRRORED_WAV2VEC2_FORWARD_SHA256 = "aa4170b52ee59a76e661b5acd7569f3451bc3e705b57f85606e9beab11fca50d"


def test_the_wav2vec2_model_forward_is_the_one_hubert_stands_in_for():
    digest = hashlib.sha256(inspect.getsource(Wav2Vec2Model.forward).encode()).hexdigest()
    assert digest == MIRRORED_WAV2VEC2_FORWARD_SHA256, (
        f"transformers {VERSION} changed Wav2Vec2Model.forward; ExHubertModel runs HubertModel.forward for wav2vec2 "
        f"and data2vec-audio sources: check that it still computes the same (tests/test_expansion_families.py), "
        f"then record sha256 {digest}"
    )
    assert family_neutral_source(Data2VecAudioModel.forward) == family_neutral_source(Wav2Vec2Model.forward)

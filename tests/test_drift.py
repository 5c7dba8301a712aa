"""Drift guards: the places where this package mirrors transformers internals fail here, with a message saying
what to update, when an installed transformers differs from the one the mirror follows."""

import hashlib
import inspect

import transformers
from transformers import HubertForSequenceClassification, HubertModel, Trainer
from transformers.models.hubert.modeling_hubert import HubertEncoder, HubertEncoderStableLayerNorm

from exhubert_hf import ExHubertConfig, ExHubertForSequenceClassification, ExHubertModel
from exhubert_hf.modeling_exhubert import ExHubertEncoder, ExHubertEncoderStableLayerNorm
from exhubert_hf.testing import tiny_hubert_config
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


def assert_same_layout(ours, theirs, what: str, extra_attributes: set[str] = frozenset()):
    mine, reference = layout(ours), layout(theirs)
    mine["attributes"] -= set(extra_attributes)
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


# The sources of the encoder forwards that `_BlockLayerDropMixin.forward` mirrors (transformers 5.24).
MIRRORED_FORWARD_SHA256 = {
    "HubertEncoder.forward": "22cbe5027f831b2d2f3738ffd35a3d38e8a102b94a5c541304827bf6cce9d13c",
    "HubertEncoderStableLayerNorm.forward": "62a29d580b6396872e08a21d59e3e6468785bc7bdb67bd3e477a69080339fdf5",
}


def test_the_encoder_forwards_are_the_ones_mirrored():
    for name, expected in MIRRORED_FORWARD_SHA256.items():
        owner = {"HubertEncoder": HubertEncoder, "HubertEncoderStableLayerNorm": HubertEncoderStableLayerNorm}[name.split(".")[0]]
        digest = hashlib.sha256(inspect.getsource(owner.forward).encode()).hexdigest()
        assert digest == expected, (
            f"transformers {VERSION} changed {name}; exhubert_hf.modeling_exhubert._BlockLayerDropMixin.forward mirrors "
            f"the 5.24 version with block layer drop: port the change there, then record sha256 {digest}"
        )

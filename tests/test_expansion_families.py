"""Block expansion of the other wav2vec2-family encoders: wav2vec 2.0 (XLS-R, the paper's Table 2 baselines,
audeering's MSP-Podcast model) and data2vec-audio expand exactly, keep their own feature encoder, projection and
positional embedding, record their family, load through remote code, and what cannot be expanded exactly is a clear
error. Tiny random configs only; nothing is downloaded."""

import json

import pytest
import torch
from conftest import random_audio
from test_modeling import assert_remote_code_round_trip
from torch import nn
from transformers import (
    Data2VecAudioForCTC,
    Data2VecAudioForSequenceClassification,
    Data2VecAudioModel,
    Wav2Vec2ForCTC,
    Wav2Vec2ForPreTraining,
    Wav2Vec2ForSequenceClassification,
    Wav2Vec2Model,
    Wav2Vec2PreTrainedModel,
    WavLMConfig,
    WavLMModel,
)
from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2PositionalConvEmbedding

from exhubert_hf import EXHUBERT_LABELS, ExHubertConfig, ExHubertForSequenceClassification
from exhubert_hf.configuration_exhubert import SOURCE_MODEL_TYPES
from exhubert_hf.modeling_exhubert import _SOURCE_FAMILIES
from exhubert_hf.testing import TINY_HUBERT, tiny_encoder_config, tiny_hubert_config, xls_r_300m_config

# wav2vec2 has both layer kinds (pre-LN "stable layer norm" as in XLS-R and wav2vec2 Large, post-LN as in Base);
# data2vec-audio has post-LN layers only.
SOURCES = {
    "wav2vec2 pre-LN": ("wav2vec2", True),
    "wav2vec2 post-LN": ("wav2vec2", False),
    "data2vec-audio": ("data2vec-audio", False),
}
MODEL_CLASSES = {
    "wav2vec2": {"base": Wav2Vec2Model, "classifier": Wav2Vec2ForSequenceClassification, "ctc": Wav2Vec2ForCTC},
    "data2vec-audio": {
        "base": Data2VecAudioModel,
        "classifier": Data2VecAudioForSequenceClassification,
        "ctc": Data2VecAudioForCTC,
    },
}
# The modules in which the families differ: expansion keeps the source's, weights and module types.
FAMILY_MODULES = ("feature_extractor", "feature_projection", "encoder.pos_conv_embed")


def tiny_source(source="wav2vec2 pre-LN", model="classifier", seed=0, **overrides):
    """A tiny random model of a family; model "weighted classifier" is the classifier over a weighted layer sum
    (random layer weights)."""
    model_type, stable_layer_norm = SOURCES[source]
    if model == "weighted classifier":
        model, overrides = "classifier", overrides | {"use_weighted_layer_sum": True}
    torch.manual_seed(seed)
    source = MODEL_CLASSES[model_type][model](tiny_encoder_config(model_type, stable_layer_norm, **overrides)).eval()
    if hasattr(source, "layer_weights"):
        with torch.no_grad():
            source.layer_weights.normal_()
    return source


def max_difference(first, second) -> float:
    return (first - second).abs().max().item()


@pytest.mark.parametrize("num_copies", [1, 2])
@pytest.mark.parametrize("model", ["classifier", "weighted classifier", "base", "ctc"])
@pytest.mark.parametrize("source_kind", SOURCES)
def test_expanded_model_computes_what_its_source_computes(source_kind, model, num_copies):
    source = tiny_source(source_kind, model)
    expanded = ExHubertForSequenceClassification.from_hubert(source, num_copies_per_layer=num_copies).eval()
    assert expanded.config.source_model_type == SOURCES[source_kind][0]
    assert expanded.config.do_stable_layer_norm == SOURCES[source_kind][1]
    audio, attention_mask = random_audio()
    block = 1 + num_copies
    for mask in (None, attention_mask):
        with torch.no_grad():
            source_output = source.base_model(audio, attention_mask=mask, output_hidden_states=True)
            expanded_output = expanded.hubert(audio, attention_mask=mask, output_hidden_states=True)
            if "classifier" in model:  # the family's head is HuBERT's: kept
                logits = source(audio, attention_mask=mask).logits, expanded(audio, attention_mask=mask).logits
                assert max_difference(*logits) <= 1e-5
        assert max_difference(source_output.last_hidden_state, expanded_output.last_hidden_state) <= 1e-5
        assert len(expanded_output.hidden_states) == 2 * block + 1
        for index, hidden_state in enumerate(source_output.hidden_states):  # each block computes its source layer
            assert max_difference(hidden_state, expanded_output.hidden_states[index * block]) <= 1e-5, index
    source_state, expanded_state = source.base_model.state_dict(), expanded.hubert.state_dict()
    for name in FAMILY_MODULES:
        source_module, expanded_module = source.base_model.get_submodule(name), expanded.hubert.get_submodule(name)
        assert isinstance(expanded_module, type(source_module)), name
        kept = [key for key in source_state if key.startswith(name + ".")]
        assert kept and all(torch.equal(source_state[key], expanded_state[key]) for key in kept), name


def test_data2vec_audio_keeps_its_stack_of_positional_convolutions():
    expanded = ExHubertForSequenceClassification.from_hubert(tiny_source("data2vec-audio", "base"))
    positional = expanded.hubert.encoder.pos_conv_embed
    assert len(positional.layers) == 2 and positional.layers[0].conv.kernel_size == (5,)
    assert expanded.config.feat_extract_norm == "layer" and expanded.config.conv_pos_kernel_size == 5


def test_expansion_from_a_saved_wav2vec2_ctc_folder(tmp_path):
    source = tiny_source("wav2vec2 post-LN", "ctc")
    source.save_pretrained(tmp_path)
    expanded = ExHubertForSequenceClassification.from_hubert(str(tmp_path)).eval()
    audio, _ = random_audio()
    with torch.no_grad():
        difference = max_difference(expanded.hubert(audio).last_hidden_state, source.wav2vec2(audio).last_hidden_state)
    assert difference <= 1e-5


class RegressionHead(nn.Module):
    """The head of audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim, as its model card defines it: a class of its
    own (dense, tanh, out_proj over mean-pooled states), not HuBERT's projector and classifier."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.final_dropout)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)


class EmotionModel(Wav2Vec2PreTrainedModel):
    """audeering's model class (model card): a Wav2Vec2Model under `wav2vec2` plus the regression head."""

    def __init__(self, config):
        super().__init__(config)
        self.wav2vec2 = Wav2Vec2Model(config)
        self.classifier = RegressionHead(config)
        self.post_init()


def test_an_msp_podcast_regression_model_expands_from_an_instance_or_a_folder(tmp_path):
    """Its config names the architecture `Wav2Vec2ForSpeechClassification`, which transformers lacks, with three
    dimensional labels and problem type regression (and here a null vocab size, which wav2vec2 configs without a CTC
    head may carry): the encoder loads as Wav2Vec2Model, the regression head is left behind, and the expanded model
    gets a new six-class head."""
    dimensions = {0: "arousal", 1: "dominance", 2: "valence"}
    config = tiny_encoder_config("wav2vec2", id2label=dimensions, num_labels=3, problem_type="regression")
    config.vocab_size = None
    torch.manual_seed(0)
    source = EmotionModel(config).eval()
    source.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(saved | {"architectures": ["Wav2Vec2ForSpeechClassification"]}))
    audio, attention_mask = random_audio()
    with torch.no_grad():
        reference = source.wav2vec2(audio, attention_mask=attention_mask).last_hidden_state
    for origin in (source, str(tmp_path)):
        expanded = ExHubertForSequenceClassification.from_hubert(origin).eval()
        with torch.no_grad():
            hidden = expanded.hubert(audio, attention_mask=attention_mask).last_hidden_state
        assert max_difference(hidden, reference) <= 1e-5
        assert [expanded.config.id2label[index] for index in range(6)] == list(EXHUBERT_LABELS)
        assert expanded.config.problem_type is None  # "regression" would make the pipeline skip the softmax
        assert expanded.config.source_model_type == "wav2vec2"


def test_a_pre_training_model_expands_its_encoder():
    source = Wav2Vec2ForPreTraining(tiny_encoder_config("wav2vec2")).eval()
    expanded = ExHubertForSequenceClassification.from_hubert(source).eval()
    audio, _ = random_audio()
    with torch.no_grad():
        difference = max_difference(expanded.hubert(audio).last_hidden_state, source.wav2vec2(audio).last_hidden_state)
    assert difference <= 1e-5


@pytest.mark.parametrize("source_kind", ["wav2vec2 pre-LN", "data2vec-audio"])
def test_remote_code_round_trip_of_an_expanded_model_in_a_process_without_the_package(source_kind, tmp_path):
    model = ExHubertForSequenceClassification.from_hubert(tiny_source(source_kind, seed=3), num_labels=6).eval()
    assert_remote_code_round_trip(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["source_model_type"] == SOURCES[source_kind][0]


def test_an_expanded_wav2vec2_trains_its_copies_and_gates_only():
    model = ExHubertForSequenceClassification.from_hubert(tiny_source("wav2vec2 post-LN")).train()
    with torch.no_grad():
        for layer in model.hubert.encoder.layers[1::2]:
            layer.gate.weight.normal_(std=0.1)  # a zero gate passes no gradient to its copy
    audio, attention_mask = random_audio()
    model(audio, attention_mask=attention_mask, labels=torch.tensor([1, 4])).loss.backward()
    for name, parameter in model.named_parameters():
        if ".feature_extractor." in name:
            assert parameter.grad is None, name
        elif ".encoder.layers." in name:
            index = int(name.split(".encoder.layers.")[1].split(".")[0])
            assert (parameter.grad is not None) == model.config.is_copy(index), name
    assert model.hubert.encoder.layers[1].attention.q_proj.weight.grad.abs().sum() > 0


# Trainable and total parameters of an expanded wav2vec 2.0 Large in the shape of XLS-R 300M (feature encoder and
# originals frozen unless said). The shape is HuBERT Large's, and so are the counts (the paper's Table 2).
XLS_R_300M_PARAMETERS = {
    "one copy": (dict(num_copies_per_layer=1), (336_682_886, 643_202_438)),
    "two copies": (dict(num_copies_per_layer=2), (664_182_662, 970_702_214)),
    "originals unfrozen": (dict(freeze_original_layers=False), (638_992_262, 643_202_438)),
    "unfrozen, original gates": (
        dict(freeze_original_layers=False, original_layer_gates=True),
        (664_182_662, 668_392_838),
    ),
}


@pytest.mark.parametrize("expansion, expected", XLS_R_300M_PARAMETERS.values(), ids=XLS_R_300M_PARAMETERS)
def test_trainable_parameters_of_an_expanded_xls_r_300m(expansion, expected):
    config = ExHubertConfig.from_hubert_config(xls_r_300m_config(), **expansion)
    with torch.device("meta"):
        model = ExHubertForSequenceClassification(config)
    summary = model.trainable_parameter_summary()
    assert summary["all"] == expected
    assert summary["feature encoder"] == (0, 4_210_176)
    assert summary["head"] == (263_942, 263_942)
    assert isinstance(model.hubert.encoder.pos_conv_embed, Wav2Vec2PositionalConvEmbedding)


def test_plain_xls_r_300m_trainable_parameters():
    with torch.device("meta"):
        model = Wav2Vec2ForSequenceClassification(xls_r_300m_config())
    model.freeze_feature_encoder()
    assert sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad) == 311_492_486


def test_the_families_are_the_ones_the_config_names():
    assert tuple(_SOURCE_FAMILIES) == SOURCE_MODEL_TYPES
    with pytest.raises(ValueError, match="source_model_type='wavlm' is not an encoder family"):
        ExHubertConfig(source_model_type="wavlm")


def test_an_encoder_of_another_kind_is_a_clear_error_naming_what_differs(tmp_path):
    wavlm = WavLMModel(WavLMConfig(**TINY_HUBERT))
    differs = "its encoder differs: attention with gated relative position bias"
    with pytest.raises(TypeError, match=rf"needs a HuBERT, .* got WavLMModel \(model type 'wavlm'\); {differs}"):
        ExHubertForSequenceClassification.from_hubert(wavlm)
    wavlm.save_pretrained(tmp_path)
    with pytest.raises(TypeError, match=rf"got {tmp_path}, which holds a 'wavlm' model; {differs}"):
        ExHubertForSequenceClassification.from_hubert(str(tmp_path))
    with pytest.raises(TypeError, match=rf"got a 'wavlm' config; {differs}"):
        ExHubertConfig.from_hubert_config(wavlm.config)
    torch.manual_seed(0)
    exhubert = ExHubertForSequenceClassification.from_hubert(tiny_source())
    with pytest.raises(TypeError, match=r"got ExHubertForSequenceClassification \(model type 'exhubert'\)"):
        ExHubertForSequenceClassification.from_hubert(exhubert)


def test_an_adapter_after_the_encoder_is_a_clear_error():
    source = tiny_source(model="base", add_adapter=True, output_hidden_size=32)
    with pytest.raises(ValueError, match=r"cannot be expanded exactly: its adapter after the encoder \(add_adapter"):
        ExHubertForSequenceClassification.from_hubert(source)


def test_weights_the_family_does_not_have_are_a_clear_error():
    source = tiny_source(model="base")
    source.encoder.extra = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"weights with no place in ExHuBERT \['hubert\.encoder\.extra\.bias'"):
        ExHubertForSequenceClassification.from_hubert(source)


def test_hubert_expansions_and_earlier_checkpoints_are_of_the_hubert_family():
    assert ExHubertConfig.from_hubert_config(tiny_hubert_config()).source_model_type == "hubert"
    assert ExHubertConfig().source_model_type == "hubert"  # a config.json from before the field loads as HuBERT

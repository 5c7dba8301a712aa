"""The ExHuBERT model core: exact block expansion, freezing, paper parameter counts, remote-code round
trips, attention implementations and clear errors. Tiny random configs only; nothing is downloaded."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import random_audio
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForAudioClassification,
    HubertForCTC,
    HubertForSequenceClassification,
    HubertModel,
)

from exhubert_hf import EXHUBERT_LABELS, ExHubertConfig, ExHubertForSequenceClassification, ExHubertModel
from exhubert_hf.testing import hubert_large_config, tiny_hubert_config

LAYER_KINDS = {"pre-LN (Large)": True, "post-LN (Base)": False}


def tiny_source(model_class=HubertForSequenceClassification, stable_layer_norm=True, seed=0, **overrides):
    torch.manual_seed(seed)
    return model_class(tiny_hubert_config(stable_layer_norm, **overrides)).eval()


def tiny_exhubert(seed=0, **overrides):
    torch.manual_seed(seed)
    return ExHubertForSequenceClassification.from_hubert(tiny_source(seed=seed, **overrides))


@pytest.mark.parametrize("layer_kind", LAYER_KINDS)
@pytest.mark.parametrize("num_copies", [1, 2])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "attention-mask"])
@pytest.mark.parametrize("source_class", [HubertForSequenceClassification, HubertModel, HubertForCTC])
def test_expanded_model_computes_what_its_source_computes(layer_kind, num_copies, masked, source_class):
    source = tiny_source(source_class, LAYER_KINDS[layer_kind])
    expanded = ExHubertForSequenceClassification.from_hubert(source, num_copies_per_layer=num_copies).eval()
    audio, attention_mask = random_audio()
    mask = attention_mask if masked else None
    with torch.no_grad():
        source_output = source(audio, attention_mask=mask, output_hidden_states=True)
        expanded_output = expanded(audio, attention_mask=mask, output_hidden_states=True)
        source_base = source if source_class is HubertModel else source.hubert
        source_last = source_base(audio, attention_mask=mask).last_hidden_state
        expanded_last = expanded.hubert(audio, attention_mask=mask).last_hidden_state
    assert expanded.config.num_hidden_layers == 2 * (1 + num_copies)
    assert len(expanded_output.hidden_states) == 2 * (1 + num_copies) + 1
    assert (expanded_last - source_last).abs().max() <= 1e-5
    if source_class is HubertForSequenceClassification:
        assert (expanded_output.logits - source_output.logits).abs().max() <= 1e-5
    assert (expanded_output.hidden_states[-1] - source_output.hidden_states[-1]).abs().max() <= 1e-5


def test_expansion_keeps_a_weighted_layer_sum_head_exact():
    source = tiny_source(use_weighted_layer_sum=True)
    with torch.no_grad():
        source.layer_weights.normal_()
    expanded = ExHubertForSequenceClassification.from_hubert(source, num_copies_per_layer=2).eval()
    audio, attention_mask = random_audio()
    with torch.no_grad():
        difference = expanded(audio, attention_mask=attention_mask).logits - source(audio, attention_mask).logits
    assert difference.abs().max() <= 1e-5


def test_expanded_layers_are_ordered_original_then_copies_with_zero_gates():
    source = tiny_source()
    expanded = ExHubertForSequenceClassification.from_hubert(source, num_copies_per_layer=2)
    layers = expanded.hubert.encoder.layers
    assert [layer.is_copy for layer in layers] == [False, True, True, False, True, True]
    for index, layer in enumerate(layers):
        original = source.hubert.encoder.layers[index // 3]
        assert torch.equal(layer.attention.q_proj.weight, original.attention.q_proj.weight)
        assert layer.attention.q_proj.weight.data_ptr() != original.attention.q_proj.weight.data_ptr()
        if layer.is_copy:
            assert torch.count_nonzero(layer.gate.weight) == 0 and torch.count_nonzero(layer.gate.bias) == 0
        else:
            assert layer.gate is None


def test_training_changes_copies_and_gates_but_not_originals_or_feature_encoder():
    model = tiny_exhubert(layerdrop=0.0).train()
    before = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    audio, attention_mask = random_audio(batch=4, samples=4000)
    labels = torch.tensor([0, 3, 5, 1])
    for _ in range(3):
        loss = model(audio, attention_mask=attention_mask, labels=labels).loss
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    after = model.state_dict()
    checked = {"original": 0, "copy": 0, "gate": 0, "feature encoder": 0}
    for name, tensor in after.items():
        if ".feature_extractor." in name:
            assert torch.equal(tensor, before[name]), name
            checked["feature encoder"] += 1
        elif ".encoder.layers." in name:
            index = int(name.split(".encoder.layers.")[1].split(".")[0])
            if not model.config.is_copy(index):
                assert torch.equal(tensor, before[name]), name
                checked["original"] += 1
            else:
                assert not torch.equal(tensor, before[name]), name
                checked["gate" if ".gate." in name else "copy"] += 1
    assert all(checked.values()), checked


def trainable(model):
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


@pytest.mark.parametrize(
    "expansion, expected",
    [
        (dict(num_copies_per_layer=1), 336_682_886),
        (dict(num_copies_per_layer=2), 664_182_662),
        (dict(num_copies_per_layer=1, freeze_original_layers=False), 638_992_262),
        (dict(num_copies_per_layer=1, freeze_original_layers=False, original_layer_gates=True), 664_182_662),
    ],
    ids=["ExHuBERT", "two-copies", "originals-unfrozen", "non-frozen-with-original-gates"],
)
def test_trainable_parameters_match_the_paper(expansion, expected):
    config = ExHubertConfig.from_hubert_config(hubert_large_config(), **expansion)
    with torch.device("meta"):
        model = ExHubertForSequenceClassification(config)
    assert trainable(model) == expected
    assert model.trainable_parameter_summary()["all"][0] == expected


def test_plain_hubert_large_trainable_parameters_match_the_paper():
    with torch.device("meta"):
        model = HubertForSequenceClassification(hubert_large_config())
    model.freeze_feature_encoder()
    assert trainable(model) == 311_492_486


def test_freezing_methods_switch_originals_and_are_saved(tmp_path):
    model = tiny_exhubert()
    frozen = trainable(model)
    model.unfreeze_original_layers()
    assert trainable(model) > frozen and not model.config.freeze_original_layers
    model.save_pretrained(tmp_path)
    reloaded = ExHubertForSequenceClassification.from_pretrained(tmp_path)
    assert trainable(reloaded) == trainable(model)
    reloaded.freeze_original_layers()
    assert trainable(reloaded) == frozen
    summary = reloaded.trainable_parameter_summary()
    assert summary["original layers"][0] == 0 and summary["feature encoder"][0] == 0
    assert summary["copies"][0] == summary["copies"][1] > 0


def test_new_head_for_transfer_learning_respects_num_labels():
    source = tiny_source()
    model = ExHubertForSequenceClassification.from_hubert(source, num_labels=4)
    assert model.classifier.out_features == 4 and model.config.num_labels == 4
    audio, attention_mask = random_audio()
    output = model(audio, attention_mask=attention_mask, labels=torch.tensor([3, 0]))
    assert output.logits.shape == (2, 4) and torch.isfinite(output.loss)
    named = ExHubertForSequenceClassification.from_hubert(source, id2label={0: "calm", 1: "angry"})
    assert named.config.id2label == {0: "calm", 1: "angry"} and named.config.label2id == {"calm": 0, "angry": 1}


def test_source_without_head_gets_the_six_emotion_classes():
    model = ExHubertForSequenceClassification.from_hubert(tiny_source(HubertModel))
    assert [model.config.id2label[index] for index in range(6)] == list(EXHUBERT_LABELS)
    assert model.config.id2label[0] == "low arousal, negative valence"
    assert model.config.id2label[5] == "high arousal, positive valence"


def test_expansion_from_a_saved_folder(tmp_path):
    source = tiny_source(HubertForCTC)
    source.save_pretrained(tmp_path)
    expanded = ExHubertForSequenceClassification.from_hubert(str(tmp_path)).eval()
    audio, _ = random_audio()
    with torch.no_grad():
        difference = expanded.hubert(audio).last_hidden_state - source.hubert(audio).last_hidden_state
    assert difference.abs().max() <= 1e-5


def test_importing_the_package_registers_the_auto_classes(tmp_path):
    settings = ExHubertConfig.from_hubert_config(tiny_hubert_config()).to_dict()
    config = AutoConfig.for_model(settings.pop("model_type"), **settings)
    assert isinstance(config, ExHubertConfig) and config.num_source_layers == 2
    assert isinstance(AutoModel.from_config(config), ExHubertModel)
    model = tiny_exhubert()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "exhubert"
    assert saved["auto_map"]["AutoModelForAudioClassification"] == (
        "modeling_exhubert.ExHubertForSequenceClassification"
    )
    assert {path.name for path in tmp_path.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "configuration_exhubert.py",
        "modeling_exhubert.py",
        "preprocessor_config.json",
    }
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path)  # no trust_remote_code needed
    assert type(loaded) is ExHubertForSequenceClassification


REMOTE_CODE_CHECK = textwrap.dedent(
    """
    import sys
    sys.modules["exhubert_hf"] = None  # the package must not be needed
    import numpy as np, torch
    from transformers import AutoModelForAudioClassification, pipeline
    folder = sys.argv[1]
    model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
    audio = torch.load(folder + "/audio.pt")
    with torch.no_grad():
        outputs = model(audio)
    print("LOGITS", outputs.logits.flatten().tolist())
    print("DIMENSIONS", None if outputs.dimensions is None else outputs.dimensions.flatten().tolist())
    if model.config.num_labels:  # the pipeline is for classes
        classifier = pipeline("audio-classification", model=folder, trust_remote_code=True)
        scores = classifier(np.sin(np.arange(16000) / 10).astype("float32"), top_k=None)
        print("LABELS", sorted(item["label"] for item in scores))
        print("SUM", sum(item["score"] for item in scores))
    """
)


def assert_remote_code_round_trip(model, folder):
    """Saves `model` in `folder`; there, in a process where exhubert_hf cannot be imported, the remote code must
    compute the same logits and dimensions (a dimensional head's, None without one) and, for a model with classes,
    the audio-classification pipeline the six classes."""
    model.save_pretrained(folder)
    audio, _ = random_audio(batch=1)
    torch.save(audio, folder / "audio.pt")
    with torch.no_grad():
        expected = model(audio)
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_CHECK, str(folder)], capture_output=True, text=True, cwd=folder
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines() if " " in line}
    logits = torch.tensor(json.loads(lines["LOGITS"]))
    torch.testing.assert_close(logits, expected.logits.flatten(), rtol=0, atol=1e-6)
    dimensions = json.loads(lines["DIMENSIONS"].replace("None", "null"))
    assert (dimensions is None) == (expected.dimensions is None)
    if dimensions is not None:
        torch.testing.assert_close(torch.tensor(dimensions), expected.dimensions.flatten(), rtol=0, atol=1e-6)
    if model.config.num_labels:
        assert json.loads(lines["LABELS"].replace("'", '"')) == sorted(EXHUBERT_LABELS)
        assert abs(float(lines["SUM"]) - 1.0) < 1e-5
    else:
        assert "LABELS" not in lines and logits.numel() == 0


# The dimensional head (issue 17) off, on beside the six classes, and alone (no classes).
HEADS = {
    "head off": {},
    "head on": dict(dimensions=["arousal", "valence", "dominance"]),
    "dimensions only": dict(dimensions=["arousal", "valence", "dominance"], num_labels=0),
}


@pytest.mark.parametrize("head", HEADS.values(), ids=HEADS.keys())
def test_remote_code_round_trip_in_a_process_without_the_package(head, tmp_path):
    model = ExHubertForSequenceClassification.from_hubert(tiny_source(seed=3), **head).eval()
    assert (model.config.dimensions or []) == head.get("dimensions", [])
    assert_remote_code_round_trip(model, tmp_path)


@pytest.mark.parametrize("layer_kind", LAYER_KINDS)
def test_sdpa_and_eager_attention_agree(layer_kind, tmp_path):
    model = ExHubertForSequenceClassification.from_hubert(tiny_source(stable_layer_norm=LAYER_KINDS[layer_kind]))
    model.save_pretrained(tmp_path)
    audio, attention_mask = random_audio()
    logits = {}
    for implementation in ("sdpa", "eager"):
        loaded = ExHubertForSequenceClassification.from_pretrained(tmp_path, attn_implementation=implementation)
        assert loaded.config._attn_implementation == implementation
        with torch.no_grad():
            logits[implementation] = loaded.eval()(audio, attention_mask=attention_mask).logits
    assert (logits["sdpa"] - logits["eager"]).abs().max() <= 1e-4


@pytest.mark.parametrize("enable", ["activation_checkpointing_enable", "recompute_frozen_layers"])
def test_gradient_checkpointing_trains_with_the_same_gradients(enable):
    gradients = {}
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = tiny_exhubert(layerdrop=0.0)
        with torch.no_grad():
            for layer in model.hubert.encoder.layers:
                if layer.is_copy:
                    layer.gate.weight.normal_(std=0.1)
        model.config.mask_time_prob = 0.0
        if checkpointing:
            getattr(model, enable)()
        model.train()
        audio, attention_mask = random_audio()
        torch.manual_seed(1)  # the same dropout masks in both runs; recomputation must replay them
        model(audio, attention_mask=attention_mask, labels=torch.tensor([1, 4])).loss.backward()
        gradients[checkpointing] = {
            name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None
        }
        unused = {name for name, parameter in model.named_parameters() if parameter.requires_grad} - set(
            gradients[checkpointing]
        )
        assert unused == {"hubert.masked_spec_embed"}  # SpecAugment is off in this test
    assert gradients[True].keys() == gradients[False].keys()
    copy_gradient = next(name for name in gradients[True] if ".layers.1.attention.q_proj.weight" in name)
    assert gradients[True][copy_gradient].abs().sum() > 0
    for name in gradients[False]:
        torch.testing.assert_close(gradients[True][name], gradients[False][name], atol=1e-6, rtol=1e-5)


def test_recomputing_frozen_layers_keeps_fewer_activations_and_refuses_trained_originals():
    def saved_bytes(model):
        total = []
        audio, _ = random_audio(samples=8000)
        with torch.autograd.graph.saved_tensors_hooks(lambda t: total.append(t.numel() * t.element_size()) or t, lambda t: t):
            model.train()(audio, labels=torch.tensor([1, 4])).loss
        return sum(total)

    model = tiny_exhubert(layerdrop=0.0)
    keeping = saved_bytes(model)
    model.recompute_frozen_layers()
    assert saved_bytes(model) < 0.8 * keeping
    model.recompute_frozen_layers(False)
    assert saved_bytes(model) == keeping
    model.unfreeze_original_layers()
    with pytest.raises(ValueError, match="original layers are trained"):
        model.recompute_frozen_layers()


@pytest.mark.parametrize("num_copies", [0, -1])
def test_fewer_than_one_copy_is_a_clear_error(num_copies):
    with pytest.raises(ValueError, match="num_copies_per_layer must be at least 1"):
        ExHubertForSequenceClassification.from_hubert(tiny_source(), num_copies_per_layer=num_copies)


def test_weights_with_another_layer_count_than_the_config_are_a_clear_error(tmp_path):
    tiny_exhubert().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(num_source_layers=3, num_hidden_layers=6)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"encoder layers do not match its config \(6 layers = 3 originals"):
        ExHubertForSequenceClassification.from_pretrained(tmp_path)


def test_weights_without_the_gates_the_config_asks_for_are_a_clear_error(tmp_path):
    tiny_exhubert().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(original_layer_gates=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"missing keys: hubert\.encoder\.layers\.0\.gate\.bias"):
        ExHubertForSequenceClassification.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(num_copies_per_layer=-1), "num_copies_per_layer must be at least 1"),
        (dict(hidden_size=30, num_attention_heads=4), "not divisible by num_attention_heads"),
        (dict(num_labels=3, id2label={0: "a", 1: "b"}), "num_labels=3 but id2label has 2 entries"),
        (dict(num_source_layers=2, num_hidden_layers=5), "num_hidden_layers=5 does not match"),
        (dict(id2label={0: "a", 1: "b"}, label2id={"a": 0, "c": 2}), "disagree"),
        (dict(num_source_layers=0), "num_source_layers must be at least 1"),
    ],
)
def test_impossible_configs_fail_at_construction(settings, message):
    with pytest.raises(ValueError, match=message):
        ExHubertConfig(**settings)


def test_original_layer_gates_start_as_identity_and_keep_the_model_exact():
    source = tiny_source()
    expanded = ExHubertForSequenceClassification.from_hubert(source, original_layer_gates=True).eval()
    gate = expanded.hubert.encoder.layers[0].gate
    assert torch.equal(gate.weight, torch.eye(32)) and torch.count_nonzero(gate.bias) == 0
    audio, attention_mask = random_audio()
    with torch.no_grad():
        difference = expanded(audio, attention_mask).logits - source(audio, attention_mask).logits
    assert difference.abs().max() <= 1e-5


class _RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_checkpoint_that_would_run_code_is_refused_unrun(tmp_path):
    tiny_exhubert().save_pretrained(tmp_path)
    state = dict(ExHubertForSequenceClassification.from_pretrained(tmp_path).state_dict())
    marker = tmp_path / "code-ran"
    state["payload"] = _RunsCodeWhenUnpickled(marker)
    (tmp_path / "model.safetensors").unlink()
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        AutoModelForAudioClassification.from_pretrained(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("num_copies", [1, 2])
def test_layer_drop_skips_whole_blocks_never_a_copy_without_its_original(num_copies):
    source = tiny_source(HubertModel, num_hidden_layers=3, layerdrop=0.5)
    model = ExHubertForSequenceClassification.from_hubert(source, num_copies_per_layer=num_copies, layerdrop=0.5).train()
    layers = model.hubert.encoder.layers
    ran = []
    for index, layer in enumerate(layers):
        layer.register_forward_hook(lambda module, args, output, index=index: ran.append(index))
    block = 1 + num_copies
    skipped_blocks = 0
    audio, _ = random_audio(batch=1, samples=1200)
    with torch.no_grad():
        for _ in range(200):
            ran.clear()
            model(audio)
            for start in range(0, len(layers), block):
                members = [index in ran for index in range(start, start + block)]
                assert all(members) or not any(members), f"block {start // block} ran only layers {members}"
                skipped_blocks += not any(members)
    assert 0.35 * 600 < skipped_blocks < 0.65 * 600  # about half of the 3 x 200 blocks, so the test can fail


def test_expansion_turns_layer_drop_off_unless_asked_and_records_it(tmp_path):
    source = tiny_source(layerdrop=0.1)
    assert ExHubertForSequenceClassification.from_hubert(source).config.layerdrop == 0.0
    chosen = ExHubertForSequenceClassification.from_hubert(source, layerdrop=0.2)
    chosen.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["layerdrop"] == 0.2

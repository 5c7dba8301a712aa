"""Conversion of the published ExHuBERT checkpoint: a tiny random checkpoint in the published layout is
converted and compared with a reference forward written from the published semantics (functional ops on
the raw published state dict, not our model). Nothing is downloaded; the Hub path runs against a fake Hub."""

import json
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torch.nn.functional as F
from conftest import random_audio
from huggingface_hub.errors import HTTPError
from safetensors.torch import save_file
from transformers import HubertConfig, HubertForSequenceClassification, Wav2Vec2FeatureExtractor

from exhubert_hf import EXHUBERT_LABELS, ExHubertConfig, ExHubertForSequenceClassification
from exhubert_hf.commands import main
from exhubert_hf.hub import convert
from exhubert_hf.hub.convert import convert_official_checkpoint, convert_published_state_dict
from exhubert_hf.testing import hubert_large_config, tiny_hubert_config

POS_CONV = "hubert.encoder.pos_conv_embed.conv."
WEIGHT_NORM_NAMINGS = {
    "weight_g/weight_v": ("weight_g", "weight_v"),
    "parametrizations": ("parametrizations.weight.original0", "parametrizations.weight.original1"),
}
# The key names the issue lists for the published checkpoint.
PUBLISHED_KEY_PATTERNS = [
    r"hubert\.feature_extractor\.conv_layers\.\d+\.(conv|layer_norm)\.(weight|bias)",
    r"hubert\.feature_projection\.(layer_norm|projection)\.(weight|bias)",
    r"hubert\.masked_spec_embed",
    r"hubert\.encoder\.pos_conv_embed\.conv\.(weight_g|weight_v|bias|parametrizations\.weight\.original[01])",
    r"hubert\.encoder\.layer_norm\.(weight|bias)",
    r"hubert\.encoder\.layers\.\d+\.(attention\.[qkv]_proj|attention\.out_proj|layer_norm|feed_forward\."
    r"intermediate_dense|feed_forward\.output_dense|final_layer_norm|gate_bb_linear)\.(weight|bias)",
    r"(projector|classifier)\.(weight|bias)",
]


def published_config(num_hidden_layers=4) -> dict:
    """A published-style config.json: model_type hubert, architectures ExHuBERT, originals and copies
    counted in num_hidden_layers, placeholder labels."""
    settings = tiny_hubert_config(num_hidden_layers=num_hidden_layers, architectures=["ExHuBERT"]).to_dict()
    assert settings["id2label"] == {index: f"LABEL_{index}" for index in range(6)}
    del settings["dtype"]
    settings.update(
        torch_dtype="float32",
        transformers_version="4.38.2",
        auto_map={"AutoModelForAudioClassification": "modeling_exhubert.ExHuBERT"},
    )
    return settings


def published_state(config: dict, weight_norm_naming="parametrizations", original_gates="random", seed=0) -> dict:
    """A random state dict in the published layout: HuBERT's keys for `num_hidden_layers` layers plus a
    `gate_bb_linear` after every layer. Every tensor is random, layer norms and biases included, so that
    a swapped or misplaced tensor changes the logits."""
    torch.manual_seed(seed)
    with torch.device("meta"):
        hubert = HubertForSequenceClassification(HubertConfig(**config))
    shapes = {key: tensor.shape for key, tensor in hubert.state_dict().items()}
    for layer in range(config["num_hidden_layers"]):
        shapes[f"hubert.encoder.layers.{layer}.gate_bb_linear.weight"] = (config["hidden_size"],) * 2
        shapes[f"hubert.encoder.layers.{layer}.gate_bb_linear.bias"] = (config["hidden_size"],)
    state = {}
    for key, shape in shapes.items():
        if "layer_norm.weight" in key:
            state[key] = 1 + 0.2 * torch.randn(shape)
        elif key.endswith("weight") and len(shape) >= 2:
            state[key] = torch.randn(shape) / math.sqrt(math.prod(shape[1:]))
        else:
            state[key] = 0.2 * torch.randn(shape)
    for layer in range(0, config["num_hidden_layers"], 2):
        gate = f"hubert.encoder.layers.{layer}.gate_bb_linear."
        if original_gates == "identity":
            state[gate + "weight"], state[gate + "bias"] = torch.eye(config["hidden_size"]), torch.zeros(config["hidden_size"])
        else:
            state[gate + "weight"] = torch.eye(config["hidden_size"]) + 0.3 * torch.randn(config["hidden_size"], config["hidden_size"])
    magnitude, direction = WEIGHT_NORM_NAMINGS[weight_norm_naming]
    state[POS_CONV + magnitude] = state.pop(POS_CONV + "parametrizations.weight.original0").abs()
    state[POS_CONV + direction] = state.pop(POS_CONV + "parametrizations.weight.original1")
    return state


def write_published_checkpoint(folder: Path, config: dict, state: dict, file_format="bin") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    if file_format == "bin":
        torch.save(state, folder / "pytorch_model.bin")
    else:
        save_file(state, folder / "model.safetensors")
    return folder


def reference_logits(state: dict, config: dict, audio, attention_mask=None):
    """The published model's forward, from its stated semantics: HuBERT Large's feature encoder and
    projection, positional conv embedding added, then per pair `copy(orig(x)) + orig(x)` where every layer
    is a pre-LN HuBERT layer followed by its own gate_bb_linear, the encoder layer norm, and the head
    (projector per frame, mean over valid frames, classifier). Eval mode: dropout is the identity."""
    assert config["feat_extract_activation"] == config["hidden_act"] == "gelu" and config["do_stable_layer_norm"]

    def linear(x, name):
        return F.linear(x, state[f"{name}.weight"], state[f"{name}.bias"])

    def layer_norm(x, name, eps=config["layer_norm_eps"]):
        return F.layer_norm(x, x.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"], eps)

    hidden = audio[:, None, :]
    for index, (kernel, stride) in enumerate(zip(config["conv_kernel"], config["conv_stride"])):
        conv = f"hubert.feature_extractor.conv_layers.{index}."
        hidden = F.conv1d(hidden, state[conv + "conv.weight"], state[conv + "conv.bias"], stride=stride)
        hidden = F.gelu(layer_norm(hidden.transpose(1, 2), conv + "layer_norm", eps=1e-5).transpose(1, 2))
    hidden = linear(layer_norm(hidden.transpose(1, 2), "hubert.feature_projection.layer_norm"), "hubert.feature_projection.projection")

    batch, frames, width = hidden.shape
    if attention_mask is None:
        valid = torch.ones(batch, frames, dtype=torch.bool)
    else:
        lengths = attention_mask.sum(-1)
        for kernel, stride in zip(config["conv_kernel"], config["conv_stride"]):
            lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
        valid = torch.arange(frames)[None, :] < lengths[:, None]
    hidden = hidden * valid[..., None]

    magnitude = state.get(POS_CONV + "weight_g", state.get(POS_CONV + "parametrizations.weight.original0"))
    direction = state.get(POS_CONV + "weight_v", state.get(POS_CONV + "parametrizations.weight.original1"))
    pos_weight = magnitude * direction / direction.norm(dim=(0, 1), keepdim=True)  # weight norm over dim 2
    kernel = config["num_conv_pos_embeddings"]
    position = F.conv1d(
        hidden.transpose(1, 2), pos_weight, state[POS_CONV + "bias"], padding=kernel // 2,
        groups=config["num_conv_pos_embedding_groups"],
    )
    position = position[..., : frames]  # an even kernel gives one frame too many
    hidden = hidden + F.gelu(position).transpose(1, 2)

    heads = config["num_attention_heads"]
    key_bias = torch.zeros(batch, 1, 1, frames).masked_fill(~valid[:, None, None, :], float("-inf"))

    def encoder_layer(x, index):
        prefix = f"hubert.encoder.layers.{index}."
        normed = layer_norm(x, prefix + "layer_norm")

        def split_heads(projection):
            return linear(normed, prefix + f"attention.{projection}").view(batch, frames, heads, -1).transpose(1, 2)

        query, key, value = (split_heads(name) for name in ("q_proj", "k_proj", "v_proj"))
        scores = query @ key.transpose(-1, -2) / math.sqrt(width // heads) + key_bias
        attended = (scores.softmax(-1) @ value).transpose(1, 2).reshape(batch, frames, width)
        x = x + linear(attended, prefix + "attention.out_proj")
        feed_forward = F.gelu(linear(layer_norm(x, prefix + "final_layer_norm"), prefix + "feed_forward.intermediate_dense"))
        x = x + linear(feed_forward, prefix + "feed_forward.output_dense")
        return linear(x, prefix + "gate_bb_linear")

    for pair in range(config["num_hidden_layers"] // 2):
        original = encoder_layer(hidden, 2 * pair)
        hidden = encoder_layer(original, 2 * pair + 1) + original
    hidden = layer_norm(hidden, "hubert.encoder.layer_norm")

    projected = linear(hidden, "projector") * valid[..., None]
    pooled = projected.sum(1) / valid.sum(1, keepdim=True)
    return linear(pooled, "classifier")


def logits_of(model, audio, attention_mask=None):
    with torch.no_grad():
        return model.eval()(audio, attention_mask=attention_mask).logits


def test_the_test_checkpoint_has_the_published_key_names():
    config = published_config()
    for naming in WEIGHT_NORM_NAMINGS:
        keys = published_state(config, naming)
        assert all(any(re.fullmatch(pattern, key) for pattern in PUBLISHED_KEY_PATTERNS) for key in keys), keys
        assert sum(".gate_bb_linear.weight" in key for key in keys) == 4


@pytest.mark.parametrize("file_format", ["bin", "safetensors"])
@pytest.mark.parametrize("weight_norm_naming", WEIGHT_NORM_NAMINGS)
def test_converted_model_computes_what_the_published_semantics_compute(tmp_path, file_format, weight_norm_naming):
    config = published_config()
    state = published_state(config, weight_norm_naming)
    source = write_published_checkpoint(tmp_path / "published", config, state, file_format)
    destination = convert_official_checkpoint(source, tmp_path / "converted")
    model = ExHubertForSequenceClassification.from_pretrained(destination)
    assert model.config.original_layer_gates and model.config.num_source_layers == 2
    audio, attention_mask = random_audio(seed=1)
    for mask in (None, attention_mask):
        reference = reference_logits(state, config, audio, mask)
        assert (logits_of(model, audio, mask) - reference).abs().max() <= 1e-5
    unmasked, masked = logits_of(model, audio), logits_of(model, audio, attention_mask)
    assert (unmasked[-1] - masked[-1]).abs().max() > 1e-3  # the mask matters, so both cases are tested


def test_identity_original_gates_are_dropped_and_the_model_stays_exact(tmp_path):
    config = published_config()
    state = published_state(config, original_gates="identity")
    destination = convert_official_checkpoint(write_published_checkpoint(tmp_path / "published", config, state), tmp_path / "out")
    model = ExHubertForSequenceClassification.from_pretrained(destination)
    assert not model.config.original_layer_gates
    assert [layer.gate is not None for layer in model.hubert.encoder.layers] == [False, True, False, True]
    audio, attention_mask = random_audio(seed=1)
    assert (logits_of(model, audio, attention_mask) - reference_logits(state, config, audio, attention_mask)).abs().max() <= 1e-5


def test_one_non_identity_original_gate_keeps_them_all():
    config = published_config()
    state = published_state(config, original_gates="identity")
    state["hubert.encoder.layers.2.gate_bb_linear.bias"][0] = 1e-7
    converted_config, converted = convert_published_state_dict(state, config)
    assert converted_config.original_layer_gates
    assert torch.equal(converted["hubert.encoder.layers.0.gate.weight"], torch.eye(32))


REMOTE_CODE_CHECK = textwrap.dedent(
    """
    import json, sys
    sys.modules["exhubert_hf"] = None  # the package must not be needed
    import torch
    from transformers import AutoModelForAudioClassification
    folder = sys.argv[1]
    model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
    audio, attention_mask = torch.load(folder + "/../audio.pt")
    with torch.no_grad():
        print(json.dumps([model(audio).logits.tolist(), model(audio, attention_mask=attention_mask).logits.tolist()]))
    """
)


def test_converted_folder_loads_with_remote_code_in_a_process_without_the_package(tmp_path):
    config = published_config()
    state = published_state(config, "weight_g/weight_v", seed=5)
    destination = convert_official_checkpoint(write_published_checkpoint(tmp_path / "published", config, state), tmp_path / "out")
    audio, attention_mask = random_audio(seed=1)
    torch.save((audio, attention_mask), tmp_path / "audio.pt")
    result = subprocess.run([sys.executable, "-c", REMOTE_CODE_CHECK, str(destination)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    unmasked, masked = map(torch.tensor, json.loads(result.stdout.strip().splitlines()[-1]))
    assert (unmasked - reference_logits(state, config, audio)).abs().max() <= 1e-5
    assert (masked - reference_logits(state, config, audio, attention_mask)).abs().max() <= 1e-5


def test_converted_folder_has_readable_labels_documented_preprocessing_and_provenance(tmp_path):
    config = published_config()
    source = write_published_checkpoint(tmp_path / "published", config, published_state(config), "safetensors")
    destination = convert_official_checkpoint(source, tmp_path / "out")
    saved = json.loads((destination / "config.json").read_text())
    assert saved["model_type"] == "exhubert" and saved["num_hidden_layers"] == 4
    assert [saved["id2label"][str(index)] for index in range(6)] == list(EXHUBERT_LABELS)
    assert saved["id2label"]["0"] == "low arousal, negative valence" and saved["id2label"]["5"] == "high arousal, positive valence"
    assert saved["converted_from"]["source"] == str(source.resolve()) and saved["converted_from"]["revision"] is None
    assert saved["converted_from"]["weights_file"] == "model.safetensors"
    assert len(saved["converted_from"]["weights_sha256"]) == 64
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(destination)
    assert (feature_extractor.feature_size, feature_extractor.sampling_rate, feature_extractor.padding_value) == (1, 16000, 0.0)
    assert feature_extractor.do_normalize and not feature_extractor.return_attention_mask
    assert {path.name for path in destination.iterdir()} >= {"model.safetensors", "modeling_exhubert.py", "configuration_exhubert.py"}


def test_hubert_large_shaped_conversion_maps_every_parameter_on_the_meta_device():
    config = hubert_large_config(num_hidden_layers=48, architectures=["ExHuBERT"]).to_dict()
    with torch.device("meta"):
        hubert = HubertForSequenceClassification(HubertConfig(**config))
        state = dict(hubert.state_dict())
        for layer in range(48):
            state[f"hubert.encoder.layers.{layer}.gate_bb_linear.weight"] = torch.empty(1024, 1024)
            state[f"hubert.encoder.layers.{layer}.gate_bb_linear.bias"] = torch.empty(1024)
    state[POS_CONV + "weight_g"] = state.pop(POS_CONV + "parametrizations.weight.original0")
    state[POS_CONV + "weight_v"] = state.pop(POS_CONV + "parametrizations.weight.original1")
    converted_config, converted = convert_published_state_dict(state, config)
    assert sum(tensor.numel() for tensor in converted.values()) == 668_392_838
    assert sum(tensor.numel() for tensor in state.values()) == 668_392_838
    with torch.device("meta"):
        expected = ExHubertForSequenceClassification(converted_config).state_dict()
    assert {key: tensor.shape for key, tensor in converted.items()} == {key: tensor.shape for key, tensor in expected.items()}
    assert converted_config.num_source_layers == 24 and converted_config.original_layer_gates


class WritesAFileWhenUnpickled:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_bin_that_needs_unrestricted_pickle_is_refused_unrun(tmp_path):
    config = published_config()
    state = published_state(config)
    marker = tmp_path / "code-ran"
    state["payload"] = WritesAFileWhenUnpickled(marker)
    source = write_published_checkpoint(tmp_path / "published", config, state)
    with pytest.raises(ValueError, match=r"pytorch_model\.bin holds objects other than tensors.*arbitrary code"):
        convert_official_checkpoint(source, tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_missing_and_unknown_keys_are_listed(tmp_path):
    config = published_config()
    state = published_state(config)
    del state["hubert.encoder.layers.3.gate_bb_linear.bias"]
    state["hubert.encoder.layers.1.adapter.weight"] = torch.zeros(1)
    source = write_published_checkpoint(tmp_path / "published", config, state, "safetensors")
    with pytest.raises(ValueError) as error:
        convert_official_checkpoint(source, tmp_path / "out")
    message = str(error.value)
    assert "model.safetensors does not have the published ExHuBERT layout" in message
    assert "missing keys:\n    hubert.encoder.layers.3.gate_bb_linear.bias" in message
    assert "unexpected keys:\n    hubert.encoder.layers.1.adapter.weight" in message
    assert not (tmp_path / "out").exists()


def test_a_plain_hubert_is_refused_with_the_missing_gates_listed():
    config = tiny_hubert_config(num_hidden_layers=2).to_dict()
    torch.manual_seed(0)
    state = HubertForSequenceClassification(HubertConfig(**config)).state_dict()
    with pytest.raises(ValueError, match=r"hubert\.encoder\.layers\.1\.gate_bb_linear\.weight"):
        convert_published_state_dict(state, config)


def test_wrong_shapes_and_wrong_configs_are_clear_errors():
    config = published_config()
    state = published_state(config)
    state["classifier.weight"] = torch.zeros(4, 16)
    with pytest.raises(ValueError, match=r"classifier\.weight: \(4, 16\), expected \(6, 16\)"):
        convert_published_state_dict(state, config)
    with pytest.raises(ValueError, match="num_hidden_layers=3 is odd"):
        convert_published_state_dict(state, published_config(num_hidden_layers=3))
    with pytest.raises(ValueError, match="already in this package's format"):
        convert_published_state_dict(state, ExHubertConfig.from_hubert_config(tiny_hubert_config()).to_dict())
    with pytest.raises(ValueError, match="pre-LN"):
        convert_published_state_dict(state, dict(config, do_stable_layer_norm=False))


def test_a_non_empty_destination_is_only_written_with_overwrite(tmp_path):
    config = published_config()
    source = write_published_checkpoint(tmp_path / "published", config, published_state(config))
    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists and is not an empty folder"):
        convert_official_checkpoint(source, destination)
    assert {path.name for path in destination.iterdir()} == {"notes.txt"}
    convert_official_checkpoint(source, destination, overwrite=True)
    assert (destination / "model.safetensors").is_file() and (destination / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="holds the checkpoint being converted"):
        convert_official_checkpoint(source, source, overwrite=True)


def test_a_hub_id_is_downloaded_and_recorded_at_the_resolved_commit(tmp_path, monkeypatch):
    config = published_config()
    hub_files = write_published_checkpoint(tmp_path / "hub", config, published_state(config))
    commit = "0123456789abcdef0123456789abcdef01234567"
    calls = []

    class FakeHubApi:
        def model_info(self, repo_id, revision=None):
            calls.append(("model_info", repo_id, revision))
            siblings = [type("Sibling", (), {"rfilename": path.name}) for path in hub_files.iterdir()]
            return type("ModelInfo", (), {"sha": commit, "siblings": siblings})

    def fake_download(repo_id, filename, revision=None):
        calls.append(("download", repo_id, filename, revision))
        return str(hub_files / filename)

    monkeypatch.setattr(convert, "HfApi", FakeHubApi)
    monkeypatch.setattr(convert, "hf_hub_download", fake_download)
    destination = convert_official_checkpoint("amiriparian/ExHuBERT", tmp_path / "out", revision="v1")
    assert calls == [
        ("model_info", "amiriparian/ExHuBERT", "v1"),
        ("download", "amiriparian/ExHuBERT", "config.json", commit),
        ("download", "amiriparian/ExHuBERT", "pytorch_model.bin", commit),
    ]
    provenance = ExHubertConfig.from_pretrained(destination).converted_from
    assert provenance["source"] == "amiriparian/ExHuBERT" and provenance["revision"] == commit


def test_an_unreachable_hub_is_a_clear_command_line_error(tmp_path, monkeypatch, capsys):
    class UnreachableHubApi:
        def model_info(self, repo_id, revision=None):
            raise HTTPError("[Errno -2] Name or service not known")

    monkeypatch.setattr(convert, "HfApi", UnreachableHubApi)
    assert main(["convert-official", "amiriparian/ExHuBERT", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "could not reach the Hub to fetch amiriparian/ExHuBERT: [Errno -2] Name or service not known" in error


def test_a_truncated_bin_is_a_clear_error(tmp_path):
    config = published_config()
    source = write_published_checkpoint(tmp_path / "published", config, published_state(config))
    weights = source / "pytorch_model.bin"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"pytorch_model\.bin is not a readable PyTorch checkpoint"):
        convert_official_checkpoint(source, tmp_path / "out")


def test_a_revision_for_a_local_folder_and_a_missing_source_are_clear_errors(tmp_path):
    config = published_config()
    source = write_published_checkpoint(tmp_path / "published", config, published_state(config))
    with pytest.raises(ValueError, match="a revision pins a Hub commit, but .* is a local folder"):
        convert_official_checkpoint(source, tmp_path / "out", revision="main")
    with pytest.raises(OSError, match="folder not found"):
        convert_official_checkpoint(tmp_path / "no" / "such" / "folder", tmp_path / "out")
    (source / "pytorch_model.bin").unlink()
    with pytest.raises(OSError, match="has neither model.safetensors nor pytorch_model.bin"):
        convert_official_checkpoint(source, tmp_path / "out")


def test_command_line_converts_and_reports_errors(tmp_path, capsys):
    config = published_config()
    source = write_published_checkpoint(tmp_path / "published", config, published_state(config))
    destination = tmp_path / "out"
    assert main(["convert-official", str(source), str(destination)]) == 0
    assert "original-layer gates: kept" in capsys.readouterr().out
    assert ExHubertForSequenceClassification.from_pretrained(destination).config.original_layer_gates
    assert main(["convert-official", str(source), str(destination)]) == 2
    error = capsys.readouterr().err
    assert "exhubert convert-official: error:" in error and "--overwrite" in error
    assert main(["convert-official", str(source), str(destination), "--overwrite"]) == 0


@pytest.mark.parametrize("seconds", [1.0, 2.2])
def test_predict_runs_the_converted_checkpoint_as_the_release_snippet_does(tmp_path, monkeypatch, seconds):
    """The release's inference code: facebook/hubert-base-ls960's feature extractor (normalised, no attention
    mask) with padding="max_length", max_length=48000, then the published model on the padded clip."""
    config = published_config()
    state = published_state(config)
    converted = convert_official_checkpoint(write_published_checkpoint(tmp_path / "published", config, state), tmp_path / "out")
    audio = (0.3 * np.random.default_rng(7).standard_normal(int(16000 * seconds)) + 0.05).astype(np.float32)
    soundfile.write(tmp_path / "clip.wav", audio, 16000, subtype="FLOAT")

    release_extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False)
    inputs = release_extractor(audio, sampling_rate=16000, padding="max_length", max_length=48000, return_tensors="pt")
    assert inputs.input_values.shape == (1, 48000) and "attention_mask" not in inputs
    with torch.no_grad():
        expected = reference_logits(state, config, inputs.input_values).softmax(-1)[0].numpy()

    output = tmp_path / "predictions.json"
    assert main(["predict", str(tmp_path / "clip.wav"), "--model", str(converted), "--backend", "torch", "-o", str(output), "--no-progress"]) == 0
    (row,) = [record for record in json.loads(output.read_text()) if record["level"] == "file"]
    predicted = np.array([row[label] for label in EXHUBERT_LABELS])
    assert np.abs(predicted - expected).max() <= 1e-5

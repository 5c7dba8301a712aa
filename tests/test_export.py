"""Fast inference paths: ONNX export run with onnxruntime and int8 dynamic quantization agree with fp32
eager PyTorch on a tiny ExHuBERT whose gates are non-zero (so the copies contribute)."""

import pytest
import torch
from torch import nn
from transformers import HubertForSequenceClassification

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.commands import main as cli_main
from exhubert_hf.inference.export import OnnxAudioClassifier, export_onnx, quantize_int8
from exhubert_hf.modeling_exhubert import ExHubertGate
from exhubert_hf.testing import tiny_hubert_config


@pytest.fixture(scope="module")
def trained_looking_model():
    torch.manual_seed(0)
    model = ExHubertForSequenceClassification.from_hubert(HubertForSequenceClassification(tiny_hubert_config()))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ExHubertGate):
                module.weight.normal_(std=0.1)
                module.bias.normal_(std=0.1)
    return model.eval()


def audio_batch(lengths, seed=1):
    generator = torch.Generator().manual_seed(seed)
    audio = torch.randn(len(lengths), max(lengths), generator=generator)
    attention_mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, length in enumerate(lengths):
        attention_mask[row, :length] = 1
        audio[row, length:] = 0.0
    return audio, attention_mask


@pytest.mark.parametrize("with_attention_mask", [False, True], ids=["no-mask", "attention-mask"])
def test_onnx_export_matches_eager_for_other_batch_sizes_and_lengths(trained_looking_model, tmp_path, with_attention_mask):
    path = export_onnx(trained_looking_model, tmp_path / "model.onnx", with_attention_mask=with_attention_mask)
    onnx_model = OnnxAudioClassifier(path)
    for lengths in ([5000], [7000, 4100, 6500]):
        audio, attention_mask = audio_batch(lengths)
        mask = attention_mask if with_attention_mask else None
        with torch.inference_mode():
            expected = trained_looking_model(audio, attention_mask=mask).logits.numpy()
        actual = onnx_model(audio.numpy(), None if mask is None else mask.numpy())
        assert actual.shape == expected.shape
        assert abs(actual - expected).max() <= 1e-4


def test_onnx_export_refuses_to_overwrite(trained_looking_model, tmp_path):
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_onnx(trained_looking_model, existing)
    assert existing.read_bytes() == b"keep me"


def test_int8_quantizes_every_encoder_linear_including_gates_and_keeps_the_head_float(trained_looking_model):
    quantized = quantize_int8(trained_looking_model)
    dynamic_linear = torch.ao.nn.quantized.dynamic.Linear
    encoder_linears = [module for name, module in quantized.named_modules() if name.startswith("hubert.encoder.layers")
                       and isinstance(module, (nn.Linear, dynamic_linear))]
    assert encoder_linears and all(isinstance(module, dynamic_linear) for module in encoder_linears)
    num_gates = sum(isinstance(module, ExHubertGate) for module in trained_looking_model.modules())
    assert len(encoder_linears) == 6 * len(trained_looking_model.hubert.encoder.layers) + num_gates
    assert type(quantized.classifier) is nn.Linear and type(quantized.projector) is nn.Linear
    assert isinstance(trained_looking_model.hubert.encoder.layers[1].gate, ExHubertGate), "the original is untouched"

    audio, attention_mask = audio_batch([6000, 4000])
    with torch.inference_mode():
        expected = trained_looking_model(audio, attention_mask=attention_mask).logits.softmax(-1)
        actual = quantized(audio, attention_mask=attention_mask).logits.softmax(-1)
    assert (actual - expected).abs().max() <= 0.02


def test_export_command_writes_a_model_that_onnxruntime_runs(trained_looking_model, tmp_path, monkeypatch, capsys):
    trained_looking_model.save_pretrained(tmp_path / "model")
    output = tmp_path / "exported" / "model.onnx"
    assert cli_main(["export", str(tmp_path / "model"), str(output)]) == 0
    assert str(output) in capsys.readouterr().out
    audio, _ = audio_batch([4800])
    with torch.inference_mode():
        expected = trained_looking_model(audio).logits.numpy()
    assert abs(OnnxAudioClassifier(output)(audio.numpy()) - expected).max() <= 1e-4
    assert cli_main(["export", str(tmp_path / "model"), str(output)]) == 2
    assert "overwrite" in capsys.readouterr().err

"""Fast inference paths: the time-major feature encoder, ONNX export run with onnxruntime, int8 dynamic
quantization and the predictor's backends agree with fp32 eager PyTorch on a tiny ExHuBERT whose gates are
non-zero (so the copies contribute); `exhubert export` fails with one line and exit status 2."""

import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import DATA
from torch import nn
from transformers import HubertForSequenceClassification, HubertModel

from exhubert_hf import EXHUBERT_LABELS, ExHubertForSequenceClassification
from exhubert_hf.commands import main as cli_main
from exhubert_hf.data.audio import find_audio_files
from exhubert_hf.inference import EmotionPredictor
from exhubert_hf.inference.backends import resolve_backend
from exhubert_hf.inference.export import OnnxAudioClassifier, export_onnx, quantize_int8
from exhubert_hf.inference.fast_encoder import TimeMajorFeatureEncoder
from exhubert_hf.modeling_exhubert import ExHubertGate
from exhubert_hf.testing import tiny_hubert_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EMODB = DATA / "emodb" / "wav"


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
    convolutions = [layer.linear for layer in quantized.hubert.feature_extractor.layers]
    assert type(convolutions[0]) is nn.Linear, "the first convolution reads raw audio and stays float32"
    assert all(isinstance(linear, dynamic_linear) for linear in convolutions[1:])
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


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_the_time_major_feature_encoder_computes_what_the_convolutions_compute(norm):
    torch.manual_seed(0)
    config = tiny_hubert_config(norm == "layer", conv_dim=(32, 32, 32), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 2))
    encoder = HubertModel(config).feature_extractor.eval()
    fast = TimeMajorFeatureEncoder(encoder).eval()
    assert TimeMajorFeatureEncoder.supports(encoder)
    for lengths in ([400], [401, 4000], [16000, 9000, 777]):
        audio, _ = audio_batch(lengths)
        with torch.inference_mode():
            expected, actual = encoder(audio), fast(audio)
        assert actual.shape == expected.shape
        assert (actual - expected).abs().max() <= 1e-5 * max(1.0, expected.abs().max().item())


@pytest.fixture(scope="module")
def trained_looking_folder(trained_looking_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained-looking")
    trained_looking_model.save_pretrained(folder)
    return folder


@pytest.mark.skipif(not EMODB.is_dir(), reason=f"no EMO-DB under {DATA}")
def test_every_backend_agrees_with_float32(trained_looking_folder, tmp_path, monkeypatch):
    """float32 torch, bf16, int8, onnx and onnx-int8 on real EMO-DB clips (windows of 1.2 to 3 s): ONNX float32
    gives float32's probabilities, the others within 0.02 and the same top class; the quantized backends run
    one window at a time, so their results do not depend on the batch size either."""
    monkeypatch.setenv("EXHUBERT_HF_CACHE", str(tmp_path / "cache"))
    files = find_audio_files(EMODB)[:60:6]
    probabilities, embeddings = {}, {}
    for backend in ("torch", "bf16", "int8", "onnx", "onnx-int8"):
        predictor = EmotionPredictor(trained_looking_folder, backend=backend, show_progress=False)
        assert predictor.backend.name == backend and predictor.metadata["backend"] == backend
        predictions = predictor.predict_files(files)
        assert predictions.metadata["backend"] == backend
        probabilities[backend] = predictions.to_frame("window")[list(EXHUBERT_LABELS)].to_numpy(float)
        embeddings[backend] = predictor.embed_files(files[:3], layer=2).vectors
    reference = probabilities["torch"]
    assert np.abs(probabilities["onnx"] - reference).max() <= 1e-5
    np.testing.assert_allclose(embeddings["onnx"], embeddings["torch"], atol=1e-4)
    for backend in ("bf16", "int8", "onnx-int8"):
        difference = np.abs(probabilities[backend] - reference).max()
        assert 0 < difference <= 0.02, (backend, difference)
        assert (probabilities[backend].argmax(1) == reference.argmax(1)).all(), backend
        scale = np.abs(embeddings["torch"]).max()
        assert np.abs(embeddings[backend] - embeddings["torch"]).max() <= 0.05 * scale, backend
    one_at_a_time = EmotionPredictor(trained_looking_folder, backend="int8", batch_size=1, show_progress=False)
    np.testing.assert_array_equal(one_at_a_time.predict_files(files).to_frame("window")[list(EXHUBERT_LABELS)].to_numpy(float), probabilities["int8"])
    # the export is cached: a second predictor does not export again
    monkeypatch.setattr("exhubert_hf.inference.backends.export_onnx", lambda *args, **kwargs: pytest.fail("exported again"))
    assert EmotionPredictor(trained_looking_folder, backend="onnx-int8", show_progress=False).backend.name == "onnx-int8"


def test_auto_chooses_int8_on_cpu_for_exhubert_bf16_on_gpus_and_torch_otherwise(monkeypatch):
    exhubert = SimpleNamespace(config=SimpleNamespace(model_type="exhubert"))
    other = SimpleNamespace(config=SimpleNamespace(model_type="wav2vec2"))
    assert resolve_backend("auto", torch.device("cpu"), exhubert)[0] == "int8"
    assert resolve_backend("auto", torch.device("cpu"), other)[0] == "torch"
    assert resolve_backend("torch", torch.device("cpu"), exhubert) == ("torch", "asked for")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)  # the GPU path, on any machine
    assert resolve_backend("auto", torch.device("cuda"), exhubert)[0] == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_backend("auto", torch.device("cuda"), other)[0] == "torch"


def test_export_failures_are_one_line_and_exit_status_2(trained_looking_folder, tmp_path, monkeypatch, capsys):
    output = tmp_path / "model.onnx"
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # an import of it fails, as when it is not installed
    assert cli_main(["export", str(trained_looking_folder), str(output)]) == 2
    assert "exhubert export: error: ONNX export needs the 'onnxscript' package" in capsys.readouterr().err
    monkeypatch.delitem(sys.modules, "onnxscript")

    def failing_export(*args, **kwargs):
        raise RuntimeError("unsupported operator\nsome_op is not supported")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    assert cli_main(["export", str(trained_looking_folder), str(output)]) == 2
    error = capsys.readouterr().err
    assert "cannot export the model to ONNX (RuntimeError: some_op is not supported)" in error and "Traceback" not in error
    assert list(tmp_path.iterdir()) == [], "nothing written, no temporary folder left"


def test_onnx_backends_without_onnxruntime_are_a_usage_error_before_loading(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    status = cli_main(["predict", str(tmp_path / "a.wav"), "--model", str(tmp_path / "no-model"), "--backend", "onnx-int8", "--no-progress"])
    assert status == 2
    assert "the onnx-int8 backend needs the 'onnxruntime' package: pip install 'exhubert-hf[onnx]'" in capsys.readouterr().err

"""Fast inference formats: int8 dynamic quantization for CPUs, and ONNX export for onnxruntime (the
`exhubert export` command)."""

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..configuration_exhubert import SAMPLING_RATE
from ..errors import OutputExistsError
from ..preprocessing import receptive_field

ONNX_OPSET = 18


def quantize_int8(model: nn.Module, include_head: bool = False) -> nn.Module:
    """A copy of `model` whose encoder `nn.Linear` layers run as int8 dynamic quantization (weights int8,
    activations quantized per batch), for CPU inference. The classification head stays in float32 unless
    `include_head`: it costs nothing to run and its small logit margins are what quantization noise
    would flip."""
    from torch.ao.quantization import quantize_dynamic

    quantized = copy.deepcopy(model).eval().to("cpu", torch.float32)
    _replace_linear_subclasses(quantized)
    targets = {
        name
        for name, module in quantized.named_modules()
        if isinstance(module, nn.Linear) and (include_head or name.split(".")[0] not in ("projector", "classifier"))
    }
    with warnings.catch_warnings():
        # torch.ao's eager dynamic quantization is deprecated in favour of torchao, which is not a dependency
        warnings.filterwarnings("ignore", message=".*deprecated")
        return quantize_dynamic(quantized, targets, dtype=torch.qint8)


def _replace_linear_subclasses(model: nn.Module) -> None:
    # quantize_dynamic swaps modules by exact type, so subclasses such as ExHubertGate would stay float.
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear) and type(child) is not nn.Linear:
                plain = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None)
                plain.load_state_dict(child.state_dict())
                setattr(parent, name, plain)


class _LogitsOnly(nn.Module):
    def __init__(self, model: nn.Module, with_attention_mask: bool):
        super().__init__()
        self.model = model
        self.with_attention_mask = with_attention_mask

    def forward(self, input_values, attention_mask=None):
        return self.model(input_values, attention_mask=attention_mask if self.with_attention_mask else None).logits


def export_onnx(model: nn.Module, path, with_attention_mask: bool = False, overwrite: bool = False) -> Path:
    """Export an audio classifier to ONNX with dynamic batch and sample axes: inputs `input_values`
    (float32, batch × samples) and, if `with_attention_mask`, `attention_mask` (int64); output `logits`.
    Large models are written with external data beside the `.onnx` file."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _LogitsOnly(copy.deepcopy(model).to("cpu", torch.float32), with_attention_mask).eval()
    # The minimum length keeps every convolution of the feature encoder at one output frame or more.
    samples = torch.export.Dim("samples", min=receptive_field(model.config))
    batch = torch.export.Dim("batch")
    example = torch.zeros(2, SAMPLING_RATE)
    inputs, names, dynamic = (example,), ["input_values"], {"input_values": {0: batch, 1: samples}}
    if with_attention_mask:
        inputs += (torch.ones(2, SAMPLING_RATE, dtype=torch.long),)
        names.append("attention_mask")
        dynamic["attention_mask"] = {0: batch, 1: samples}
    torch.onnx.export(
        wrapper,
        inputs,
        str(path),
        dynamo=True,
        opset_version=ONNX_OPSET,
        input_names=names,
        output_names=["logits"],
        dynamic_shapes=dynamic,
        verbose=False,
    )
    return path


class OnnxAudioClassifier:
    """Runs an exported model with onnxruntime; call it like the torch model's logits."""

    def __init__(self, path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [item.name for item in self.session.get_inputs()]

    def __call__(self, input_values, attention_mask=None) -> np.ndarray:
        feeds = {"input_values": np.asarray(input_values, dtype=np.float32)}
        if "attention_mask" in self.input_names:
            if attention_mask is None:
                attention_mask = np.ones_like(feeds["input_values"], dtype=np.int64)
            feeds["attention_mask"] = np.asarray(attention_mask, dtype=np.int64)
        return self.session.run(["logits"], feeds)[0]


__all__ = ["ONNX_OPSET", "OnnxAudioClassifier", "export_onnx", "quantize_int8"]

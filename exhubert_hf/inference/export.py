"""Fast inference formats: int8 dynamic quantization for CPUs, and ONNX export for onnxruntime (the
`exhubert export` command, and the `onnx` / `onnx-int8` backends of `exhubert predict`).

Both can take the feature encoder in its time-major form (`fast_encoder`), which is what makes them fast: on a
CPU the convolutions are most of the time of an ExHuBERT, and only as linears can they be quantized.
"""

import copy
import logging
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..configuration_exhubert import SAMPLING_RATE
from ..errors import ExHubertError, OutputExistsError, UsageError, error_summary
from ..fileio import check_writable, staging_path
from ..modeling_exhubert import HEAD_MODULES
from ..preprocessing import receptive_field
from .fast_encoder import TimeMajorFeatureEncoder, with_time_major_feature_encoder

ONNX_OPSET = 18


class ExportError(ExHubertError, RuntimeError):
    """A model that cannot be exported to ONNX, or an ONNX toolchain that is missing."""


def quantize_int8(model: nn.Module, include_head: bool = False, feature_encoder: bool = True) -> nn.Module:
    """A copy of `model` whose `nn.Linear` layers run as int8 dynamic quantization (weights int8, activations
    quantized per call), for CPU inference. With `feature_encoder` the convolutional feature encoder is first
    rewritten as linears (`fast_encoder`) and quantized too, except its first layer. The heads (the projector, the
    classifier and a dimensional head's regressor) stay in float32 unless `include_head`: they cost nothing to run
    and their small logit margins are what quantization noise would flip. Activations share one scale per call, so
    a window's result depends a little on the other windows of its batch: the predictor runs quantized models one
    window at a time."""
    from torch.ao.quantization import quantize_dynamic

    quantized = copy.deepcopy(model).eval().to("cpu", torch.float32)
    if feature_encoder:
        with_time_major_feature_encoder(quantized)
    _fold_parametrizations(quantized)
    _replace_linear_subclasses(quantized)
    # The first convolution stays float32: it reads raw audio (one channel, 10 taps), costs next to nothing,
    # and its input is the one quantization would hurt most.
    raw_audio = {f"{name}.layers.0.linear" for name, module in quantized.named_modules() if isinstance(module, TimeMajorFeatureEncoder)}
    targets = {
        name
        for name, module in quantized.named_modules()
        if isinstance(module, nn.Linear) and name not in raw_audio and (include_head or name.split(".")[0] not in HEAD_MODULES)
    }
    with warnings.catch_warnings():
        # torch.ao's eager dynamic quantization is deprecated in favour of torchao, which is not a dependency
        warnings.filterwarnings("ignore", message=".*deprecated")
        return quantize_dynamic(quantized, targets, dtype=torch.qint8)


def _fold_parametrizations(model: nn.Module) -> None:
    # The positional convolution's weight norm is recomputed on every call (5 % of an int8 forward): for
    # inference its weight is fixed, so the convolution is replaced by a plain one with that weight. (Not with
    # `remove_parametrizations`, which edits the parametrized class that a deep copy shares with its original.)
    from torch.nn.utils import parametrize

    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv1d) and parametrize.is_parametrized(child):
                plain = nn.Conv1d(
                    child.in_channels, child.out_channels, child.kernel_size, child.stride, child.padding,
                    child.dilation, child.groups, child.bias is not None, child.padding_mode,
                )  # fmt: skip
                with torch.no_grad():
                    plain.weight.copy_(child.weight)
                    if child.bias is not None:
                        plain.bias.copy_(child.bias)
                setattr(parent, name, plain)


def _replace_linear_subclasses(model: nn.Module) -> None:
    # quantize_dynamic swaps modules by exact type, so subclasses such as ExHubertGate would stay float.
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear) and type(child) is not nn.Linear:
                plain = nn.Linear(child.in_features, child.out_features, bias=child.bias is not None)
                plain.load_state_dict(child.state_dict())
                setattr(parent, name, plain)


class _GraphOutputs(nn.Module):
    """What the exported graph returns (`output_names`): `logits`; for a model with a dimensional head
    (`config.dimensions`) `dimensions` (batch x dimensions); with `with_hidden_states` every hidden state stacked
    (states x batch x frames x hidden size, as `output_hidden_states=True` gives them)."""

    def __init__(self, model: nn.Module, with_attention_mask: bool, with_hidden_states: bool):
        super().__init__()
        self.model = model
        self.with_attention_mask = with_attention_mask
        self.with_hidden_states = with_hidden_states
        self.with_dimensions = bool(getattr(model.config, "dimensions", None))
        self.output_names = ["logits", *["dimensions"] * self.with_dimensions, *["hidden_states"] * with_hidden_states]

    def forward(self, input_values, attention_mask=None):
        mask = attention_mask if self.with_attention_mask else None
        outputs = self.model(input_values, attention_mask=mask, output_hidden_states=self.with_hidden_states)
        returned = [outputs.logits, *[outputs.dimensions] * self.with_dimensions]
        if self.with_hidden_states:
            returned.append(torch.stack(outputs.hidden_states))
        return tuple(returned) if len(returned) > 1 else returned[0]


def check_onnx_output(path, overwrite: bool = False) -> Path:
    """`path` as a Path if an export may write it: a `.onnx` file name, not a folder, and new unless `overwrite`."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".onnx":
        raise UsageError(f"{path}: the output must be a .onnx file name")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a .onnx file name")
    check_writable(path, overwrite)
    return path


def export_onnx(
    model: nn.Module,
    path,
    with_attention_mask: bool = False,
    overwrite: bool = False,
    with_hidden_states: bool = False,
    time_major_encoder: bool = False,
) -> Path:
    """Export an audio classifier to ONNX with dynamic batch and sample axes: inputs `input_values`
    (float32, batch × samples) and, if `with_attention_mask`, `attention_mask` (int64); outputs `logits`, for a
    model with a dimensional head `dimensions`, and with `with_hidden_states`, `hidden_states`. Large models get
    their weights in a `.data` file beside the `.onnx` file. Written to a temporary folder beside `path` and moved
    into place when complete.

    Raises `UsageError` for a path that is not a `.onnx` file name, `OutputExistsError` for an existing one
    (without `overwrite`), `ExportError` when the ONNX packages are missing or the exporter fails."""
    path = check_onnx_output(path, overwrite)
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            raise ExportError(f"ONNX export needs the {module!r} package: pip install 'exhubert-hf[onnx]'") from None
    exported = copy.deepcopy(model).to("cpu", torch.float32).eval()
    if time_major_encoder:
        with_time_major_feature_encoder(exported)
    wrapper = _GraphOutputs(exported, with_attention_mask, with_hidden_states).eval()
    # The minimum length keeps every convolution of the feature encoder at one output frame or more.
    samples = torch.export.Dim("samples", min=receptive_field(model.config))
    batch = torch.export.Dim("batch")
    example = torch.zeros(2, SAMPLING_RATE)
    inputs, names, dynamic = (example,), ["input_values"], {"input_values": {0: batch, 1: samples}}
    if with_attention_mask:
        inputs += (torch.ones(2, SAMPLING_RATE, dtype=torch.long),)
        names.append("attention_mask")
        dynamic["attention_mask"] = {0: batch, 1: samples}
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(path)
    staging.mkdir()
    try:
        try:
            with _quiet():
                torch.onnx.export(
                    wrapper,
                    inputs,
                    str(staging / path.name),
                    dynamo=True,
                    opset_version=ONNX_OPSET,
                    input_names=names,
                    output_names=wrapper.output_names,
                    dynamic_shapes=dynamic,
                    verbose=False,
                )
        except Exception as error:  # the exporter raises many kinds; the cause is in the last line
            raise ExportError(f"cannot export the model to ONNX ({type(error).__name__}: {error_summary(error)})") from error
        _move_files(staging, path.parent, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


@contextmanager
def _quiet():
    """Without the exporter's and the quantizer's warnings and log notes (torchvision not installed, "consider
    pre-processing"): nothing a user could act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def _move_files(staging: Path, folder: Path, overwrite: bool) -> None:
    # An .onnx file names its external data file relative to itself, so the files keep their names.
    files = sorted(staging.iterdir(), key=lambda item: item.suffix.lower() == ".onnx")  # the .onnx file last
    for item in files:
        if (folder / item.name).exists() and not overwrite and item.suffix.lower() != ".onnx":
            raise OutputExistsError(f"{folder / item.name} exists; pass --overwrite (overwrite=True) to replace it")
    for item in files:
        os.replace(item, folder / item.name)


def quantize_onnx_int8(source, target, raw_audio_features: int) -> Path:
    """An int8 copy of an exported ONNX model (onnxruntime's dynamic quantization of the matrix products; the
    heads, the classifier's and the dimensional regressor's Gemms, stay float32, and so do the projector and the first
    convolution of a time-major feature encoder, whose weight has `raw_audio_features` (its kernel size) rows, as in
    `quantize_int8`)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    excluded = _float_matmuls(graph, raw_audio_features)
    large = any(item.data_location == onnx.TensorProto.EXTERNAL for item in graph.initializer)
    with _quiet():
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=excluded,
            use_external_data_format=large,
        )
    return Path(target)


def _float_matmuls(graph, raw_audio_features: int) -> list[str]:
    """Names of the MatMul nodes that stay float32: the first convolution and the products whose result gets
    the projector's bias."""
    shapes = {item.name: list(item.dims) for item in graph.initializer}
    head_biases = {name for name in shapes if set(name.split(".")) & set(HEAD_MODULES)}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    excluded = []
    for node in graph.node:
        if node.op_type != "MatMul" or len(node.input) < 2:
            continue
        weight = shapes.get(node.input[1])
        feeds_head = any(
            consumer.op_type == "Add" and head_biases & set(consumer.input) for consumer in consumers.get(node.output[0], [])
        )
        if (weight is not None and weight[0] == raw_audio_features) or feeds_head:
            excluded.append(node.name)
    return excluded


class OnnxAudioClassifier:
    """Runs an exported model with onnxruntime on the CPU; call it like the torch model's logits.
    `threads` defaults to torch's intra-op thread count (so OMP_NUM_THREADS and `torch.set_num_threads` apply)."""

    def __init__(self, path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3  # errors only: the optimiser's notes are nothing a user can act on
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.output_names = [item.name for item in self.session.get_outputs()]

    def _feeds(self, input_values, attention_mask) -> dict:
        feeds = {"input_values": np.asarray(input_values, dtype=np.float32)}
        if "attention_mask" in self.input_names:
            if attention_mask is None:
                attention_mask = np.ones_like(feeds["input_values"], dtype=np.int64)
            feeds["attention_mask"] = np.asarray(attention_mask, dtype=np.int64)
        return feeds

    def __call__(self, input_values, attention_mask=None) -> np.ndarray:
        return self.session.run(["logits"], self._feeds(input_values, attention_mask))[0]

    def outputs(self, input_values, attention_mask=None) -> tuple[np.ndarray, np.ndarray | None]:
        """The logits and the dimensions (None for a model exported without a dimensional head), in one run."""
        if "dimensions" not in self.output_names:
            return self(input_values, attention_mask), None
        logits, dimensions = self.session.run(["logits", "dimensions"], self._feeds(input_values, attention_mask))
        return logits, dimensions

    def hidden_states(self, input_values, attention_mask=None) -> np.ndarray:
        """Every hidden state, stacked (states x batch x frames x hidden size); needs a model exported with
        `with_hidden_states=True`."""
        if "hidden_states" not in self.output_names:
            raise UsageError("this ONNX model was exported without hidden states (export_onnx(with_hidden_states=True))")
        return self.session.run(["hidden_states"], self._feeds(input_values, attention_mask))[0]


__all__ = [
    "ONNX_OPSET",
    "ExportError",
    "OnnxAudioClassifier",
    "check_onnx_output",
    "export_onnx",
    "quantize_int8",
    "quantize_onnx_int8",
]

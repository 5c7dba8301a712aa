"""How the predictor runs the model: the `--backend` of `exhubert predict` / `embed` (`backend=` in Python).

    torch      the model as loaded, float32, on any device
    bf16       the same in bfloat16: the GPU choice (it also runs on CPUs with bfloat16 support)
    int8       CPU: int8 dynamic quantization of every linear, with the convolutional feature encoder rewritten
               as linears so that it is quantized too (`fast_encoder`); the heads (classes, dimensions) stay float32
    onnx       CPU: onnxruntime, float32
    onnx-int8  CPU: onnxruntime with int8 dynamic quantization of the matrix products (head float32)
    auto       CUDA: bf16 where the GPU supports it, else torch. CPU: int8 for ExHuBERT and HuBERT models (the
               architectures whose quantization the tests and docs/benchmarks.md check: top class as float32's
               on >= 99 % of EMO-DB, probabilities within about 0.01), torch for any other model.

The choice, and why, is in `EmotionPredictor.backend` (`name`, `description`, `reason`), on stderr from the
commands, and in `Predictions.metadata` / `Embeddings.metadata`.

On a CPU every backend runs one window at a time, without padding. A 3 s window's matrix products keep a CPU
busy already, and a batch of 8 only adds padding and activations that no longer fit the caches: the float32
predictor in batches of 8 ran at 0.69x the speed of a `pipeline` loop, one window at a time at 1.01x
(docs/benchmarks.md, section 5). And dynamic quantization takes its scales from the whole input, so in a batch
a window's result would depend on its neighbours (and on how files are split over processes). On a GPU the
torch and bf16 backends batch windows (padded with an attention mask, or to the window length): that is what a
GPU needs; `batch_size` and `max_batch_seconds` bound those batches.

Every backend returns the class logits and, for a model with a dimensional head (`config.dimensions`), the
dimensions (`outputs`).

The ONNX backends export the model once (time-major feature encoder, logits, dimensions and hidden states) into a
cache folder named by a hash of the weights, the config and the exporter's versions: `$EXHUBERT_HF_CACHE/onnx/`, by
default `~/.cache/exhubert_hf/onnx/`. A folder appears complete or not at all (written beside it, renamed).
"""

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError
from ..fileio import staging_path
from .export import ONNX_OPSET, OnnxAudioClassifier, export_onnx, quantize_int8, quantize_onnx_int8

BACKENDS = ("auto", "torch", "bf16", "int8", "onnx", "onnx-int8")
CPU_ONLY = ("int8", "onnx", "onnx-int8")
AUTO_INT8_MODEL_TYPES = ("exhubert", "hubert")
ONNX_FORMAT = "exhubert-onnx-1"  # bump when what the cache holds changes


def check_backend(name: str, device: torch.device) -> None:
    """`UsageError` for a backend that cannot run on `device` or whose packages are missing (before any model
    is loaded)."""
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
    if name in CPU_ONLY and device.type != "cpu":
        raise UsageError(f"the {name} backend runs on the CPU only, not on {device}; use torch or bf16 there")
    if name.startswith("onnx"):
        for module in ("onnxruntime", "onnx", "onnxscript"):
            try:
                __import__(module)
            except ImportError:
                raise UsageError(f"the {name} backend needs the {module!r} package: pip install 'exhubert-hf[onnx]'") from None


def resolve_backend(name: str, device: torch.device, model) -> tuple[str, str]:
    """The backend to use for `name` ("auto" resolved) and the reason, for the report."""
    if name != "auto":
        return name, "asked for"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "chosen automatically: a CUDA device with bfloat16 (--backend torch for float32)"
        return "torch", "chosen automatically: a CUDA device without bfloat16"
    if device.type == "cpu" and getattr(model.config, "model_type", None) in AUTO_INT8_MODEL_TYPES:
        return "int8", "chosen automatically: CPU and an ExHuBERT/HuBERT model (--backend torch for float32)"
    return "torch", f"chosen automatically: {device.type} and a {getattr(model.config, 'model_type', 'custom')} model"


@dataclass
class TorchBackend:
    """A torch model on a device, in a dtype; `batched`: whether windows go to it in batches."""

    name: str
    model: torch.nn.Module
    device: torch.device
    dtype: torch.dtype = torch.float32
    batched: bool = True
    description: str = ""
    reason: str = ""

    def _inputs(self, features: dict) -> dict:
        inputs = {"input_values": torch.from_numpy(features["input_values"]).to(self.device, self.dtype)}
        if "attention_mask" in features:
            inputs["attention_mask"] = torch.from_numpy(features["attention_mask"]).to(self.device)
        return inputs

    def outputs(self, features: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Float32 logits (batch x labels) and dimensions (batch x dimensions; None for a model without them), on
        the CPU, for preprocessed `features`."""
        outputs = self.model(**self._inputs(features))
        dimensions = getattr(outputs, "dimensions", None)
        return outputs.logits.float().cpu(), None if dimensions is None else dimensions.float().cpu()

    def hidden_states(self, features: dict, layer: int) -> torch.Tensor:
        """`hidden_states[layer]` as transformers returns it, float32 on the CPU (batch x frames x hidden)."""
        outputs = self.model.base_model(**self._inputs(features), output_hidden_states=True)
        return outputs.hidden_states[layer].float().cpu()


@dataclass
class OnnxBackend:
    """An exported model run by onnxruntime on the CPU, one window at a time."""

    name: str
    session: OnnxAudioClassifier
    batched: bool = False
    description: str = ""
    reason: str = ""

    def outputs(self, features: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, dimensions = self.session.outputs(features["input_values"], features.get("attention_mask"))
        return torch.from_numpy(logits), None if dimensions is None else torch.from_numpy(dimensions)

    def hidden_states(self, features: dict, layer: int) -> torch.Tensor:
        return torch.from_numpy(self.session.hidden_states(features["input_values"], features.get("attention_mask"))[layer])


def make_backend(name: str, model, device: torch.device, reason: str = ""):
    """The backend `name` (not "auto") for a loaded float32 `model`, moved to `device` where it runs there."""
    batched = device.type != "cpu"  # see the module docstring
    how = "batched" if batched else "one window at a time"
    if name == "torch":
        model = model.to(device).eval()
        return TorchBackend(name, model, device, batched=batched, description=f"PyTorch float32 on {device}, {how}", reason=reason)
    if name == "bf16":
        model = model.to(device, torch.bfloat16).eval()
        description = f"PyTorch bfloat16 on {device}, {how}"
        return TorchBackend(name, model, device, torch.bfloat16, batched, description, reason)
    if name == "int8":
        description = "PyTorch int8 dynamic quantization on the CPU (feature encoder as linears, head float32), one window at a time"
        return TorchBackend(name, quantize_int8(model), device, batched=False, description=description, reason=reason)
    if name in ("onnx", "onnx-int8"):
        import onnxruntime

        folder = cached_onnx_export(model)
        path = folder / ("model-int8.onnx" if name == "onnx-int8" else "model.onnx")
        kind = "int8 dynamic quantization" if name == "onnx-int8" else "float32"
        description = f"onnxruntime {onnxruntime.__version__} {kind} on the CPU, one window at a time (model in {folder})"
        return OnnxBackend(name, OnnxAudioClassifier(path), description=description, reason=reason)
    raise UsageError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")


def onnx_cache_root() -> Path:
    configured = os.environ.get("EXHUBERT_HF_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "exhubert_hf"


def model_fingerprint(model) -> str:
    """A hash of what an export depends on: the config, every tensor's name, shape and bytes, and the versions of
    the exporter."""
    import onnxruntime

    digest = hashlib.sha256(f"{ONNX_FORMAT} opset {ONNX_OPSET} torch {torch.__version__} ort {onnxruntime.__version__}".encode())
    digest.update(model.config.to_json_string(use_diff=False).encode())
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name} {tuple(tensor.shape)} {tensor.dtype}".encode())
        digest.update(tensor.view(torch.uint8).numpy().data if tensor.numel() else b"")
    return digest.hexdigest()


def cached_onnx_export(model) -> Path:
    """The cache folder holding `model.onnx` and `model-int8.onnx` for `model`, exported now if missing. A
    folder another process publishes first is used as it is."""
    folder = onnx_cache_root() / "onnx" / model_fingerprint(model)[:32]
    if (folder / "model-int8.onnx").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(folder)
    staging.mkdir()
    try:
        export_onnx(model, staging / "model.onnx", with_hidden_states=True, time_major_encoder=True)
        quantize_onnx_int8(staging / "model.onnx", staging / "model-int8.onnx", getattr(model.config, "conv_kernel", (0,))[0])
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / "model-int8.onnx").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def frame_sums(hidden: torch.Tensor, frames: torch.Tensor) -> list[tuple[np.ndarray, int]]:
    """Per row, the sum of the first `frames` hidden vectors (float64) and that count."""
    frames = frames.clamp(min=1, max=hidden.shape[1])
    mask = torch.arange(hidden.shape[1])[None, :] < frames[:, None]
    sums = (hidden * mask[..., None]).sum(dim=1).numpy().astype(np.float64)
    return list(zip(sums, frames.tolist()))


__all__ = [
    "BACKENDS",
    "CPU_ONLY",
    "OnnxBackend",
    "TorchBackend",
    "cached_onnx_export",
    "check_backend",
    "frame_sums",
    "make_backend",
    "model_fingerprint",
    "onnx_cache_root",
    "resolve_backend",
]

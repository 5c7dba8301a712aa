"""What stage 2 keeps of its layers for backward, exactly: `set_frozen_layer_memory(model, mode)`.

Backward runs through every frozen original (the copies below it need the gradient), so by default each keeps
almost what a trained layer keeps (docs/benchmarks.md, section 2). The modes:

* ``keep``: everything, as autograd saves it (the fastest step).
* ``compact``: the same gradients, bit for bit, from less: (1) the attention core (scores, softmax, attention
  dropout, weighted sum) is recomputed in backward from the kept queries, keys and values, with the dropout mask
  replayed from the saved random state; (2) every other saved tensor that holds two values only, i.e. the dropout
  masks (float noise of 0 and 1/(1-p) on CPU, booleans on GPU), is stored as one bit per element plus the value,
  after checking every element, so storing is lossless whatever the tensor is. Neither needs a layer to be frozen,
  so both apply to the trained copies too: the attention core is about 2 % of a layer's arithmetic and packing a
  mask costs a few elementwise passes, while the matrix products, the costly part of a layer, are never recomputed
  (docs/benchmarks.md, section 2: 0.4 GiB more of the peak and about 1 % of the step time on HuBERT Large at
  batch 8).
* ``recompute``: nothing of the originals is kept; they run forward twice (`recompute_frozen_layers()`).

`compact` changes every layer, `recompute` the originals only.
"""

from contextlib import nullcontext

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import AttentionInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.hubert.modeling_hubert import eager_attention_forward

FROZEN_LAYER_MODES = ("keep", "compact", "recompute")
RECOMPUTED_ATTENTION = "exhubert_recomputed_attention_core"
_MIN_PACKED_ELEMENTS = 4096  # smaller tensors are not worth a check
_PROBE = 256  # elements looked at first: most saved tensors (activations) show three distinct values among them
_BIT_SHIFTS = torch.arange(8, dtype=torch.uint8)
_SAME_WIDTH_INTEGER = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float64: torch.int64}


def set_frozen_layer_memory(model, mode: str) -> None:
    """Sets what the layers of a stage-2 ExHuBERT keep for backward (see the module docstring). Every mode
    gives the same gradients; `compact` and `recompute` need frozen originals."""
    if mode not in FROZEN_LAYER_MODES:
        raise ValueError(f"frozen layer memory must be one of {FROZEN_LAYER_MODES}, got {mode!r}")
    model.recompute_frozen_layers(mode == "recompute")  # checks that the originals are frozen
    if mode == "compact" and not model.config.freeze_original_layers:
        raise ValueError("the original layers are trained; compact frozen-layer memory needs them frozen")
    base = model.hubert if hasattr(model, "hubert") else model
    for layer in base.encoder.layers:
        for handle in getattr(layer, "_exhubert_packing_hooks", ()):
            handle.remove()
        layer._exhubert_packing_hooks = _pack_two_valued_tensors_during_forward(layer) if mode == "compact" else ()
        attention = layer.attention
        config = attention.config._config if isinstance(attention.config, _AttentionCoreRecomputed) else attention.config
        attention.config = _AttentionCoreRecomputed(config) if mode == "compact" else config


class _AttentionCoreRecomputed:
    """An attention module's view of the model config, naming the attention function that recomputes the core; every
    other attribute, including the model's own attention implementation, is read from the config itself."""

    _attn_implementation = RECOMPUTED_ATTENTION

    def __init__(self, config):
        self._config = config

    def __getattr__(self, name):
        if name.startswith("__") or name == "_config":  # copy and pickle protocols, and before __init__
            raise AttributeError(name)
        return getattr(self._config, name)


def _attention_core_recomputed_in_backward(module, query, key, value, attention_mask, **kwargs):
    """The model's own attention function, its intermediate tensors (scores, probabilities, dropout mask) not kept
    for backward but recomputed there; `checkpoint` replays the random state, so the dropout mask is the same."""
    core = ALL_ATTENTION_FUNCTIONS.get_interface(module.config._config._attn_implementation, eager_attention_forward)
    if not torch.is_grad_enabled():
        return core(module, query, key, value, attention_mask, **kwargs)
    return checkpoint(core, module, query, key, value, attention_mask, use_reentrant=False, **kwargs)


AttentionInterface.register(RECOMPUTED_ATTENTION, _attention_core_recomputed_in_backward)


def _pack_two_valued_tensors_during_forward(layer: nn.Module) -> tuple:
    """Forward hooks that store the layer's two-valued saved tensors as bits while its forward runs."""
    state = {"context": nullcontext()}

    def enter(module, args):
        state["context"] = torch.autograd.graph.saved_tensors_hooks(_pack, _unpack)
        state["context"].__enter__()

    def leave(module, args, output):
        state["context"].__exit__(None, None, None)

    return layer.register_forward_pre_hook(enter), layer.register_forward_hook(leave, always_call=True)


class _TwoValuedTensor:
    """A tensor whose elements are all `value` or zero (bit patterns), stored as one bit per element."""

    __slots__ = ("bits", "value", "shape", "dtype")

    def __init__(self, bits, value, shape, dtype):
        self.bits, self.value, self.shape, self.dtype = bits, value, shape, dtype


def _pack(tensor):
    if isinstance(tensor, nn.Parameter) or tensor.numel() < _MIN_PACKED_ELEMENTS or not tensor.is_contiguous():
        return tensor
    if tensor.dtype == torch.bool:
        return _TwoValuedTensor(_pack_bits(tensor.reshape(-1)), None, tensor.shape, tensor.dtype)
    integer = _SAME_WIDTH_INTEGER.get(tensor.dtype)
    if integer is None:
        return tensor
    patterns = tensor.reshape(-1).view(integer)  # compared as bit patterns: -0.0 and NaN payloads are not lost
    probe = patterns[:_PROBE]
    value = probe.max() if probe.any() else patterns.max()
    if not ((probe == 0) | (probe == value)).all():
        return tensor
    nonzero = patterns != 0
    if value == 0 or int(torch.count_nonzero(patterns == value)) != int(torch.count_nonzero(nonzero)):
        return tensor  # some nonzero element is not `value`
    return _TwoValuedTensor(_pack_bits(nonzero), value, tensor.shape, tensor.dtype)


def _unpack(packed):
    if not isinstance(packed, _TwoValuedTensor):
        return packed
    nonzero = _unpack_bits(packed.bits, packed.shape.numel())
    if packed.value is None:
        return nonzero.view(packed.shape)
    return nonzero.to(packed.value.dtype).mul_(packed.value).view(packed.dtype).view(packed.shape)  # 0 or value, exactly


# On the CPU NumPy's packbits / unpackbits, a few times faster than the shifts below (which any device can run): a
# training step packs and unpacks every dropout mask of the 48 layers.
def _pack_bits(flags: torch.Tensor) -> torch.Tensor:
    if flags.device.type == "cpu":
        return torch.from_numpy(np.packbits(flags.numpy(), bitorder="little"))
    padded = nn.functional.pad(flags.to(torch.uint8), (0, -flags.numel() % 8)).view(-1, 8)
    return (padded << _BIT_SHIFTS.to(padded.device)).sum(-1, dtype=torch.uint8)


def _unpack_bits(bits: torch.Tensor, count: int) -> torch.Tensor:
    if bits.device.type == "cpu":
        return torch.from_numpy(np.unpackbits(bits.numpy(), count=count, bitorder="little")).view(torch.bool)
    return ((bits.unsqueeze(-1) >> _BIT_SHIFTS.to(bits.device)) & 1).view(-1)[:count].bool()


__all__ = ["FROZEN_LAYER_MODES", "set_frozen_layer_memory"]

"""What stage 2 keeps of its layers for backward (`exhubert_hf.train.frozen_layers`): every mode gives the
gradients of plain stage 2 bit for bit, `compact` keeps measurably less, and the training switch reaches the model."""

import ctypes
import ctypes.util

import numpy as np
import pytest
import torch
from conftest import random_audio
from transformers import HubertForSequenceClassification

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.testing import tiny_hubert_config
from exhubert_hf.train import frozen_layers
from exhubert_hf.train.arguments import parse_training_arguments
from exhubert_hf.train.frozen_layers import FROZEN_LAYER_MODES, _pack, _unpack, set_frozen_layer_memory
from exhubert_hf.train.run import build_model

DROPOUT = dict(hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.1, layerdrop=0.0)


def tiny_exhubert(stable_layer_norm=True, **overrides):
    torch.manual_seed(0)
    model = ExHubertForSequenceClassification.from_hubert(
        HubertForSequenceClassification(tiny_hubert_config(stable_layer_norm, **DROPOUT, **overrides))
    )
    with torch.no_grad():  # copies that compute something, so that gradients flow through the originals
        for layer in model.hubert.encoder.layers:
            if layer.is_copy:
                layer.gate.weight.normal_(std=0.1)
    return model


def gradients(model, mode, audio, attention_mask):
    set_frozen_layer_memory(model, mode)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same dropout draws in every mode ...
    np.random.seed(1)  # ... and SpecAugment masks (transformers draws them with NumPy)
    model.train()(audio, attention_mask=attention_mask, labels=torch.tensor([1, 4])).loss.backward()
    return {name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None}


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("stable_layer_norm", [True, False], ids=["pre-LN", "post-LN"])
def test_every_mode_gives_the_gradients_of_plain_stage_2_bit_for_bit(stable_layer_norm, attention):
    model = tiny_exhubert(stable_layer_norm)
    model.config._attn_implementation = attention
    audio, attention_mask = random_audio(samples=8000)
    reference = gradients(model, "keep", audio, attention_mask)
    assert any(".layers.1." in name for name in reference)  # a copy trains, below the last original
    for mode in ("compact", "recompute", "keep"):
        result = gradients(model, mode, audio, attention_mask)
        assert result.keys() == reference.keys()
        for name in reference:
            assert torch.equal(result[name], reference[name]), f"{mode}: {name}"


def held_after_forward(model, mode, audio) -> int:
    """Bytes the allocator holds after a training forward pass (the activations kept for backward)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    libc.mallinfo2.restype = MallInfo2

    def in_use():
        info = libc.mallinfo2()
        return info.uordblks + info.hblkhd

    set_frozen_layer_memory(model, mode)
    torch.manual_seed(1)
    before = in_use()
    loss = model.train()(audio, labels=torch.tensor([1, 4])).loss
    held = in_use() - before
    loss.backward()
    return held


@pytest.mark.skipif(not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallinfo2"), reason="needs glibc's mallinfo2")
def test_compact_keeps_neither_the_attention_core_nor_float_masks(one_torch_thread, monkeypatch):
    # one original and its copy, HuBERT Large's width: the activations are megabytes, the allocator's noise kilobytes
    model = tiny_exhubert(hidden_size=1024, num_attention_heads=16, intermediate_size=4096, num_hidden_layers=1, mask_time_prob=0.0)
    audio = torch.randn(2, 16000)
    frames = int(model.hubert._get_feat_extract_output_lengths(16000))
    hidden_floats = 2 * frames * 1024 * 4  # bytes of one hidden-size float tensor of the batch
    attention_floats = 2 * 16 * frames * frames * 4  # ... and of one heads x T x T tensor
    held = {mode: held_after_forward(model, mode, audio) for mode in ("keep", "compact", "recompute")}
    with monkeypatch.context() as patch:
        patch.setattr(frozen_layers, "_pack", lambda tensor: tensor)
        held["compact without bits"] = held_after_forward(model, "compact", audio)
    with monkeypatch.context() as patch:
        patch.setattr(frozen_layers, "checkpoint", lambda core, *args, use_reentrant, **kwargs: core(*args, **kwargs))
        held["compact without the core recomputed"] = held_after_forward(model, "compact", audio)
    print({mode: round(value / hidden_floats, 2) for mode, value in held.items()}, "hidden-size float tensors")
    # the three dropout masks outside attention (1 + 4 + 1 hidden sizes) of the original and of its copy as bits
    # instead of floats (the attention dropout masks are recomputed with the core)
    assert held["compact without bits"] - held["compact"] >= 2 * 4.5 * hidden_floats
    # the attention probabilities, before and after dropout, of the original and of its copy are recomputed
    assert held["compact without the core recomputed"] - held["compact"] >= 3 * attention_floats
    assert max(held["recompute"], held["compact"]) < held["keep"]


def test_packing_is_lossless_and_leaves_other_tensors_alone():
    noise = torch.empty(8000).bernoulli_(0.9).div_(0.9)
    for tensor in (noise, noise.view(40, 200), torch.rand(8001) > 0.5, noise.half(), noise.double()):
        packed = _pack(tensor)
        assert not isinstance(packed, torch.Tensor), tensor.dtype  # stored as bits
        restored = _unpack(packed)
        assert restored.dtype == tensor.dtype and restored.shape == tensor.shape and torch.equal(restored, tensor)
    negative_zero = noise.clone()
    negative_zero[5] = -0.0  # equal to 0.0, another bit pattern: not two-valued
    three_valued = noise.clone()
    three_valued[-1] = 0.5
    for tensor in (torch.randn(8000), negative_zero, three_valued, torch.zeros(100), noise[::2]):
        assert _pack(tensor) is tensor
    assert _pack(torch.nn.Parameter(noise)).__class__ is torch.nn.Parameter


def test_modes_need_frozen_originals_and_the_training_switch_sets_them(tmp_path):
    model = tiny_exhubert()
    model.unfreeze_original_layers()
    for mode in ("compact", "recompute"):
        with pytest.raises(ValueError, match="original layers are trained"):
            set_frozen_layer_memory(model, mode)
    with pytest.raises(ValueError, match="must be one of"):
        set_frozen_layer_memory(model, "some")
    assert FROZEN_LAYER_MODES == ("keep", "compact", "recompute")

    model_args = parse_training_arguments(["--tiny", "true", "--stage", "stage2", "--frozen_layer_memory", "compact"])[0]
    built, _ = build_model(model_args)
    layers = built.hubert.encoder.layers  # originals and copies alike
    assert all(layer.attention.config._attn_implementation == "exhubert_recomputed_attention_core" for layer in layers)
    assert all(layer._exhubert_packing_hooks for layer in layers)
    set_frozen_layer_memory(built, "keep")  # and back
    assert all(layer.attention.config is built.config for layer in layers)
    assert not any(layer._exhubert_packing_hooks for layer in layers)
    # the paper's stage-2 configs, whose originals are frozen, use it
    for config in ("stage2_exhubert", "ablation_expanded_ls960", "ablation_xlarge"):
        assert parse_training_arguments(["--config", config])[0].frozen_layer_memory == "compact", config

"""HuBERT's convolutional feature encoder as matrix products over time-major frames, for fast inference.

transformers' `HubertFeatureEncoder` keeps activations channels-first (batch x channels x time): every layer
runs `nn.Conv1d`, and the layer-norm kind transposes twice around each `LayerNorm` (two full copies of the
largest activations of the model). On a CPU that encoder is about two thirds of the time of a 6-layer,
768-wide ExHuBERT and cannot be quantized by `torch.ao`'s dynamic quantization, which only knows `nn.Linear`.
`TimeMajorFeatureEncoder` computes the same function time-major (batch x time x channels): a convolution of
kernel k and stride s is `nn.Linear(channels * k, out)` over the k-frame windows that `Tensor.unfold` cuts
(im2col), the layer norm needs no transposes, and the linears can be quantized like the transformer's.
It is built from a loaded encoder's weights (the saved model is untouched) and agrees with it to float32
rounding (tests/test_export.py).
"""

import copy

import torch
from torch import nn


class TimeMajorConvLayer(nn.Module):
    """One convolution (as a linear over unfolded frames), its norm and activation; input and output are
    batch x time x channels."""

    def __init__(self, conv: nn.Conv1d, norm: nn.Module | None, activation: nn.Module):
        super().__init__()
        out_channels, in_channels, kernel = conv.weight.shape
        self.kernel, self.stride = kernel, conv.stride[0]
        self.linear = nn.Linear(in_channels * kernel, out_channels, bias=conv.bias is not None)
        with torch.no_grad():
            # unfold gives (batch, frames, in_channels, kernel): the flattened index is channel * kernel + tap,
            # which is the order of Conv1d's (out, in, kernel) weight flattened over its last two axes.
            self.linear.weight.copy_(conv.weight.reshape(out_channels, in_channels * kernel))
            if conv.bias is not None:
                self.linear.bias.copy_(conv.bias)
        self.norm = copy.deepcopy(norm)
        self.activation = activation

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, frames, channels = hidden_states.shape
        out_frames = (frames - self.kernel) // self.stride + 1
        windows = hidden_states.unfold(1, self.kernel, self.stride).reshape(batch, out_frames, channels * self.kernel)
        hidden_states = self.linear(windows)
        if isinstance(self.norm, nn.GroupNorm):  # HuBERT Base's first layer: each channel normalised over time
            hidden_states = self.norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        elif self.norm is not None:
            hidden_states = self.norm(hidden_states)
        return self.activation(hidden_states)


class TimeMajorFeatureEncoder(nn.Module):
    """A drop-in for a loaded `HubertFeatureEncoder` (or any encoder whose `conv_layers` each have a `conv`, an
    optional `layer_norm` and an `activation`): takes batch x samples, returns batch x channels x frames (a
    transposed view of the time-major result, which the model transposes back without a copy)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList(
            TimeMajorConvLayer(layer.conv, getattr(layer, "layer_norm", None), layer.activation) for layer in encoder.conv_layers
        )

    @staticmethod
    def supports(encoder: nn.Module) -> bool:
        layers = getattr(encoder, "conv_layers", None)
        if not layers:
            return False
        for layer in layers:
            conv, norm = getattr(layer, "conv", None), getattr(layer, "layer_norm", None)
            if not isinstance(conv, nn.Conv1d) or conv.padding != (0,) or conv.dilation != (1,) or conv.groups != 1:
                return False
            if norm is not None and not isinstance(norm, (nn.LayerNorm, nn.GroupNorm)):
                return False
            if isinstance(norm, nn.GroupNorm) and norm.num_groups != norm.num_channels:
                return False
            if not hasattr(layer, "activation"):
                return False
        return True

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        hidden_states = input_values[:, :, None]
        for layer in self.layers:
            hidden_states = layer(hidden_states)
        return hidden_states.transpose(1, 2)


def with_time_major_feature_encoder(model: nn.Module) -> nn.Module:
    """`model` (changed in place) with its feature encoder replaced by the time-major form when its structure
    is the one `TimeMajorFeatureEncoder` knows; otherwise unchanged."""
    base = getattr(model, "base_model", model)
    encoder = getattr(base, "feature_extractor", None)
    if encoder is not None and TimeMajorFeatureEncoder.supports(encoder):
        base.feature_extractor = TimeMajorFeatureEncoder(encoder).to(next(encoder.parameters()).device)
    return model


__all__ = ["TimeMajorConvLayer", "TimeMajorFeatureEncoder", "with_time_major_feature_encoder"]

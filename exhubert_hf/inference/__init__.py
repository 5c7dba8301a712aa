"""Inference: emotion probabilities and embeddings for recordings of any length.

`predictor` (the `EmotionPredictor` and its batching engine), `backends` (how the model runs: torch, bf16,
int8, onnx, onnx-int8, auto), `windows` (how recordings are cut), `results` (per-file results and their table),
`sources` (what `exhubert predict` accepts as PATH), `outputs` (the file formats), `export` (int8 and ONNX),
`fast_encoder` (the convolutional feature encoder as quantizable linears), `timeline` (emotion timelines as PNG),
`streaming` (live audio).
"""

from .predictor import EmotionPredictor
from .results import Embeddings, FilePrediction, Predictions, WindowPrediction
from .sources import collect_audio_paths
from .windows import window_bounds

__all__ = ["EmotionPredictor", "Embeddings", "FilePrediction", "Predictions", "WindowPrediction", "collect_audio_paths", "window_bounds"]

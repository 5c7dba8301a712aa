"""Fast CPU inference paths against fp32 eager PyTorch: int8 dynamic quantization (the linear layers and the
convolutional feature encoder rewritten as linears, `exhubert_hf.inference.fast_encoder`) and ONNX export run
with onnxruntime, float32 and int8 (the models the `onnx` / `onnx-int8` backends run). HuBERT-Large-shaped
ExHuBERT with random weights, real EMO-DB clips (each cut to at most 3 s, batch 1, per-utterance
normalisation as the feature extractor does).

    python benchmarks/bench_fast_inference.py [--data ../shared/data/emodb/wav] [--num-clips 40]

Prints time per clip and the speed-up against fp32 eager, and each path's top-class agreement with
fp32 eager and its largest probability difference. Target: int8 ≥ 2× faster with ≥ 99 % agreement.
The three paths run on the same clip one after another, so machine load hits them alike.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import describe_device
from transformers import HubertForSequenceClassification

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.configuration_exhubert import SAMPLING_RATE
from exhubert_hf.data.audio import find_audio_files, read_audio
from exhubert_hf.inference.export import OnnxAudioClassifier, export_onnx, quantize_int8, quantize_onnx_int8
from exhubert_hf.modeling_exhubert import default_feature_extractor
from exhubert_hf.testing import hubert_large_config

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"


def load_clips(folder: Path, count: int, config, seconds: float = 3.0) -> list[np.ndarray]:
    normalise = default_feature_extractor(config)
    clips = []
    for path in find_audio_files(folder)[:count]:
        audio = read_audio(path)[: int(seconds * SAMPLING_RATE)]
        clips.append(normalise(audio, sampling_rate=SAMPLING_RATE, return_tensors="np").input_values[0])
    return clips


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--num-clips", type=int, default=40)
    parser.add_argument("--skip-onnx", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = ExHubertForSequenceClassification.from_hubert(HubertForSequenceClassification(hubert_large_config()))
    model.eval()
    clips = load_clips(args.data, args.num_clips, model.config)
    print(f"device: {describe_device(torch.device('cpu'))}; {len(clips)} EMO-DB clips from {args.data}")

    def eager(path_model):
        def run(clip):
            with torch.inference_mode():
                return path_model(torch.from_numpy(clip)[None]).logits.numpy()

        return run

    paths = {"fp32 eager (PyTorch)": eager(model), "int8 dynamic quantization": eager(quantize_int8(model))}
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_onnx:
            start = time.perf_counter()
            exported = export_onnx(model, Path(folder) / "exhubert.onnx", time_major_encoder=True)
            print(f"ONNX export took {time.perf_counter() - start:.0f} s")
            onnx_model = OnnxAudioClassifier(exported)
            paths["ONNX (onnxruntime, fp32)"] = lambda clip: onnx_model(clip[None])
            quantized = quantize_onnx_int8(exported, Path(folder) / "exhubert-int8.onnx", model.config.conv_kernel[0])
            onnx_int8 = OnnxAudioClassifier(quantized)
            paths["ONNX (onnxruntime, int8)"] = lambda clip: onnx_int8(clip[None])
        seconds = {name: 0.0 for name in paths}
        probabilities = {name: [] for name in paths}
        for index, clip in enumerate(clips):
            for name, run in paths.items():
                start = time.perf_counter()
                logits = run(clip)
                if index > 0:  # the first clip warms up
                    seconds[name] += time.perf_counter() - start
                probabilities[name].append(softmax(logits)[0])

    reference_name = next(iter(paths))
    reference = np.stack(probabilities[reference_name])
    timed = max(len(clips) - 1, 1)
    print(f"\n{'':<30}{'ms/clip':>10}{'speed-up':>10}{'top-1 agree':>13}{'max |Δp|':>10}")
    for name in paths:
        candidate = np.stack(probabilities[name])
        agreement = float((candidate.argmax(-1) == reference.argmax(-1)).mean())
        speedup = seconds[reference_name] / seconds[name]
        print(
            f"{name:<30}{1000 * seconds[name] / timed:>10.1f}{speedup:>10.2f}"
            f"{100 * agreement:>12.1f}%{np.abs(candidate - reference).max():>10.4f}"
        )
    int8 = "int8 dynamic quantization"
    speedup = seconds[reference_name] / seconds[int8]
    agreement = float((np.stack(probabilities[int8]).argmax(-1) == reference.argmax(-1)).mean())
    verdict = "meets" if speedup >= 2 and agreement >= 0.99 else "MISSES"
    print(f"int8: {speedup:.2f}× faster, {100 * agreement:.1f} % agreement ({verdict} the ≥ 2×, ≥ 99 % target)")


if __name__ == "__main__":
    main()

"""Files per second of `exhubert predict` (the `EmotionPredictor` as the command builds it) against a plain loop of
`transformers.pipeline("audio-classification")` over the same EMO-DB files, same model, same process.

    python benchmarks/bench_predict.py [--data ../shared/data/emodb/wav] [--num-files 535] [--rounds 3]
                                       [--backends auto torch int8 onnx onnx-int8] [--device cpu|cuda]

Model: a random ExHuBERT built by block expansion from a 3-layer HuBERT of the Large kind (layer-norm feature
encoder, pre-LN layers) 768 wide with 12 heads and a 3072 feed-forward: 6 encoder layers, 53.8 M parameters,
gates drawn from N(0, 0.02) so the copies contribute. Both sides read every file with the package's decoder;
the pipeline gets each whole clip at batch 1 (its usual use), the predictor cuts 3 s windows (its default) and
runs them as its backend does. The files are split into `--rounds` chunks and every candidate runs each chunk in
turn, so load from other processes hits them alike; model loading (and the ONNX backends' one-off export) is
timed apart. Prints files/s, the ratio to the pipeline loop, and each backend's agreement with the float32
predictor (top class of every file and every window, largest probability difference).

Target (CPU): the automatically chosen backend >= 2.5x the pipeline loop with >= 99 % top-class agreement.
With a GPU (`--device cuda`), the bf16 row is the batched GPU path (`--gpu-batch-size` windows per batch).
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import describe_device
from transformers import HubertForSequenceClassification, pipeline

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.data.audio import find_audio_files, read_audio
from exhubert_hf.inference import EmotionPredictor
from exhubert_hf.modeling_exhubert import ExHubertGate, default_feature_extractor
from exhubert_hf.testing import hubert_large_config

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "wav"


def build_model(folder: Path) -> Path:
    torch.manual_seed(0)
    config = hubert_large_config(hidden_size=768, num_hidden_layers=3, num_attention_heads=12, intermediate_size=3072)
    model = ExHubertForSequenceClassification.from_hubert(HubertForSequenceClassification(config)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ExHubertGate):
                module.weight.normal_(std=0.02)
    model.save_pretrained(folder)
    default_feature_extractor(model.config).save_pretrained(folder)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    print(f"model: random ExHuBERT, {model.config.num_hidden_layers} layers, {model.config.hidden_size} wide, {parameters / 1e6:.1f} M parameters")
    return folder


def pipeline_loop(classifier):
    def run(files):
        return [classifier({"raw": read_audio(path), "sampling_rate": 16000}, top_k=None) for path in files]

    return run


def predictor_run(predictor):
    def run(files):
        return predictor.predict_files(files)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--num-files", type=int, default=None, help="the first N files (default: all)")
    parser.add_argument("--rounds", type=int, default=3, help="chunks of files, each run by every candidate in turn")
    parser.add_argument("--backends", nargs="+", help="default: auto torch int8 onnx onnx-int8 (CPU), auto torch bf16 (CUDA)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--gpu-batch-size", type=int, default=32)
    args = parser.parse_args()

    files = find_audio_files(args.data)[: args.num_files]
    seconds = sum(len(read_audio(path)) for path in files) / 16000
    device = torch.device(args.device)
    backends = args.backends or (["auto", "torch", "bf16"] if device.type == "cuda" else ["auto", "torch", "int8", "onnx", "onnx-int8"])
    print(f"device: {describe_device(device)}; {len(files)} files, {seconds:.0f} s of audio from {args.data}")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["EXHUBERT_HF_CACHE"] = str(Path(scratch) / "cache")  # the ONNX export is timed, then dropped
        folder = build_model(Path(scratch) / "model")
        candidates, setup = {}, {}
        start = time.perf_counter()
        classifier = pipeline("audio-classification", model=str(folder), trust_remote_code=True, device=device)
        setup["pipeline loop (batch 1, whole clips)"] = time.perf_counter() - start
        candidates["pipeline loop (batch 1, whole clips)"] = pipeline_loop(classifier)
        batch_size = args.gpu_batch_size if device.type == "cuda" else 8
        reference = "predictor float32 (torch)"
        for backend in dict.fromkeys(["torch", *backends]):  # float32 first: the agreement reference
            start = time.perf_counter()
            predictor = EmotionPredictor(folder, backend=backend, device=device, batch_size=batch_size, show_progress=False)
            name = reference if backend == "torch" else f"predictor {backend}" + (f" -> {predictor.backend.name}" if backend == "auto" else "")
            setup[name] = time.perf_counter() - start
            candidates[name] = predictor_run(predictor)
            print(f"{name}: {predictor.backend.description}; {predictor.backend.reason}")
        if device.type == "cpu":  # why every CPU backend takes one window at a time: float32 batched, as on a GPU
            predictor = EmotionPredictor(folder, backend="torch", device=device, batch_size=8, show_progress=False)
            predictor.backend.batched = True
            name = "predictor float32, batches of 8"
            setup[name], candidates[name] = 0.0, predictor_run(predictor)

        times = dict.fromkeys(candidates, 0.0)
        results = {name: [] for name in candidates}
        for run in candidates.values():  # warm-up: first calls allocate and, for onnxruntime, plan
            run(files[:2])
        for round_number, chunk in enumerate(np.array_split(np.array(files, dtype=object), args.rounds)):
            names = list(candidates) if round_number % 2 == 0 else list(candidates)[::-1]  # no candidate always first
            for name in names:
                start = time.perf_counter()
                results[name].append(candidates[name](list(chunk)))
                times[name] += time.perf_counter() - start

    baseline = next(iter(candidates))
    levels = {}
    for name in candidates:
        if name != baseline:
            frames = [predictions.to_frame() for predictions in results[name]]
            levels[name] = {level: np.concatenate([frame[frame.level == level].iloc[:, 5:11].to_numpy(float) for frame in frames]) for level in ("file", "window")}
    print(f"\n{'':<44}{'setup s':>9}{'run s':>9}{'files/s':>9}{'ratio':>8}{'files agree':>13}{'windows agree':>15}{'max |dp|':>10}")
    for name in candidates:
        row = f"{name:<44}{setup[name]:>9.1f}{times[name]:>9.1f}{len(files) / times[name]:>9.2f}{times[baseline] / times[name]:>8.2f}"
        if name in levels:
            agree = {level: (levels[name][level].argmax(1) == levels[reference][level].argmax(1)).mean() for level in ("file", "window")}
            difference = np.abs(levels[name]["window"] - levels[reference]["window"]).max()
            row += f"{100 * agree['file']:>12.1f}%{100 * agree['window']:>14.1f}%{difference:>10.4f}"
        print(row)
    automatic = next((name for name in candidates if name.startswith("predictor auto")), None)
    if automatic:
        ratio = times[baseline] / times[automatic]
        agreement = (levels[automatic]["file"].argmax(1) == levels[reference]["file"].argmax(1)).mean()
        verdict = "meets" if ratio >= 2.5 and agreement >= 0.99 else "MISSES"
        print(f"\n{automatic}: {ratio:.2f}x the pipeline loop, {100 * agreement:.1f} % top-class agreement with float32 "
              f"({verdict} the >= 2.5x, >= 99 % target)")  # fmt: skip


if __name__ == "__main__":
    main()

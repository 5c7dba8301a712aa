"""Inference time of ExHuBERT (48 layers) against stock HubertForSequenceClassification (24 layers), on
HuBERT-Large-shaped models with random weights, 3 s clips at 16 kHz, batch 1 and 8.

    python benchmarks/bench_inference.py [--device cuda] [--dtype bfloat16] [--attention eager] [--repeats 5]

Target: ExHuBERT / stock ≤ 2.10 (the extra 24 layers and the zero-initialised gates alone cost ~2.04×).
"""

import argparse

import torch
from timing import describe_device, interleaved_medians, print_ratio_table
from transformers import HubertForSequenceClassification

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.testing import hubert_large_config


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    torch.manual_seed(0)
    stock = HubertForSequenceClassification(hubert_large_config(attn_implementation=args.attention))
    exhubert = ExHubertForSequenceClassification.from_hubert(stock)
    models = {
        "stock HubertForSequenceClassification (24)": stock,
        "ExHubertForSequenceClassification (48)": exhubert,
    }
    for model in models.values():
        model.to(device=device, dtype=dtype).eval()
    print(f"device: {describe_device(device)}; dtype {args.dtype}; attention {args.attention}")

    ratios = {}
    for batch_size in args.batch_sizes:
        audio = torch.randn(batch_size, int(args.seconds * 16000), device=device, dtype=dtype)

        def forward(model):
            def run():
                with torch.inference_mode():
                    model(audio)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)

            return run

        medians = interleaved_medians({name: forward(model) for name, model in models.items()}, args.repeats)
        print_ratio_table(f"batch {batch_size}, {args.seconds:g} s clips: median forward time", medians, next(iter(models)))
        ratios[batch_size] = medians["ExHubertForSequenceClassification (48)"] / medians[next(iter(models))]
    for batch_size, ratio in ratios.items():
        verdict = "meets" if ratio <= 2.10 else "MISSES"
        print(f"batch {batch_size}: ExHuBERT / stock = {ratio:.3f} ({verdict} the ≤ 2.10 target)")


if __name__ == "__main__":
    main()

"""Training-step cost of stage 2 (ExHuBERT with originals and feature encoder frozen) against training all
48 layers, and against plain HuBERT Large fine-tuning (24 layers, feature encoder frozen): step time
(forward, backward, AdamW step) and peak memory, HuBERT-Large-shaped random weights, 3 s clips.

    python benchmarks/bench_training.py [--device cuda] [--batch-sizes 1 8] [--repeats 3] [--rounds 2]
    python benchmarks/bench_training.py --layers 2 --batch-sizes 8 --repeats 1 --rounds 1   # a quick check
    python benchmarks/bench_training.py --batch-sizes 8 --configurations stage2_compact   # one mode against all

Each configuration runs in a fresh child process so that its peak memory is its own (peak resident set
size on CPU, `torch.cuda.max_memory_allocated` on CUDA); the configurations alternate over `--rounds`
and the parent prints medians and ratios. Stage 2 runs in the three frozen-layer memory modes of
`exhubert train --frozen_layer_memory` (`exhubert_hf.train.frozen_layers`): keep, compact (the attention core
recomputed, dropout masks as bits) and recompute (one extra forward pass of the originals). `--layers N` builds
N source layers instead of 24 (2N after expansion), to check the script quickly; the ratios of the full model
need `--layers 24`. Targets: stage 2 / all 48 layers ≤ 0.70 × peak memory and ≤ 0.85 × step time.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

CONFIGURATIONS = {
    "stage 2, frozen layers: keep": "stage2_keep",
    "stage 2, frozen layers: compact": "stage2_compact",
    "stage 2, frozen layers: recompute": "stage2_recompute",
    "ExHuBERT, all layers trained": "all",
    "plain HuBERT Large fine-tuning": "hubert",
}
BASELINE = "ExHuBERT, all layers trained"


def build_model(configuration: str, layers: int):
    import torch
    from transformers import HubertForSequenceClassification

    from exhubert_hf import ExHubertForSequenceClassification
    from exhubert_hf.testing import hubert_large_config
    from exhubert_hf.train.frozen_layers import set_frozen_layer_memory

    torch.manual_seed(0)
    stock = HubertForSequenceClassification(hubert_large_config(layerdrop=0.0, num_hidden_layers=layers))
    stock.freeze_feature_encoder()
    if configuration == "hubert":
        return stock
    model = ExHubertForSequenceClassification.from_hubert(stock, freeze_original_layers=configuration.startswith("stage2"))
    del stock
    if configuration.startswith("stage2"):
        set_frozen_layer_memory(model, configuration.removeprefix("stage2_"))
    return model


def peak_resident_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_child(configuration: str, batch_size: int, repeats: int, device_name: str, layers: int) -> dict:
    import torch

    device = torch.device(device_name)
    model = build_model(configuration, layers).to(device).train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-5, betas=(0.9, 0.999), eps=1e-8
    )
    audio = torch.randn(batch_size, 48000, device=device)
    labels = torch.randint(0, 6, (batch_size,), device=device)

    def step():
        model(audio, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()  # allocates the optimizer state
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else peak_resident_bytes()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"step_s": statistics.median(times), "peak_bytes": peak, "trainable": trainable}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per child")
    parser.add_argument("--rounds", type=int, default=2, help="alternating child runs per configuration")
    parser.add_argument("--layers", type=int, default=24, help="source layers (24: HuBERT Large; fewer for a quick check)")
    parser.add_argument(
        "--configurations",
        nargs="+",
        choices=sorted(CONFIGURATIONS.values()),
        default=list(CONFIGURATIONS.values()),
        help="which to run (the baseline, all, always runs)",
    )
    parser.add_argument("--child", choices=sorted(CONFIGURATIONS.values()), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.batch_sizes[0], args.repeats, args.device, args.layers)))
        return

    import torch
    from timing import describe_device

    print(f"device: {describe_device(torch.device(args.device))}; {args.layers} source layers ({2 * args.layers} expanded)")
    for batch_size in args.batch_sizes:
        chosen = set(args.configurations) | {CONFIGURATIONS[BASELINE]}
        results = {name: [] for name, key in CONFIGURATIONS.items() if key in chosen}
        for round_index in range(args.rounds):
            names = list(results)
            for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
                command = [sys.executable, __file__, "--child", CONFIGURATIONS[name], "--device", args.device]
                command += ["--batch-sizes", str(batch_size), "--repeats", str(args.repeats), "--layers", str(args.layers)]
                output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                results[name].append(json.loads(output.strip().splitlines()[-1]))
        summary = {
            name: {
                "step_s": statistics.median(run["step_s"] for run in runs),
                "peak_gib": statistics.median(run["peak_bytes"] for run in runs) / 2**30,
                "trainable": runs[0]["trainable"],
            }
            for name, runs in results.items()
        }
        baseline = summary[BASELINE]
        print(f"\nbatch {batch_size}, 3 s clips (ratios against training all {2 * args.layers} layers)")
        print(f"{'':<40}{'trainable':>14}{'step s':>9}{'ratio':>8}{'peak GiB':>10}{'ratio':>8}")
        for name, row in summary.items():
            print(
                f"{name:<40}{row['trainable']:>14,}{row['step_s']:>9.2f}{row['step_s'] / baseline['step_s']:>8.3f}"
                f"{row['peak_gib']:>10.2f}{row['peak_gib'] / baseline['peak_gib']:>8.3f}"
            )
        for name in (name for name in summary if name.startswith("stage 2")):
            memory_ratio = summary[name]["peak_gib"] / baseline["peak_gib"]
            time_ratio = summary[name]["step_s"] / baseline["step_s"]
            print(
                f"{name} / all layers: memory {memory_ratio:.3f} ({'meets' if memory_ratio <= 0.70 else 'MISSES'} ≤ 0.70), "
                f"step time {time_ratio:.3f} ({'meets' if time_ratio <= 0.85 else 'MISSES'} ≤ 0.85)"
            )


if __name__ == "__main__":
    main()

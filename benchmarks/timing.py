"""Shared measurement helpers for the benchmark scripts: interleaved repeated timing (so that load from
other processes hits baseline and candidate alike) and a ratio table."""

import statistics
import time

import torch


def interleaved_medians(candidates: dict, repeats: int, warmup: int = 1) -> dict:
    """Median seconds of each zero-argument callable in `candidates`, run round-robin `repeats` times after
    `warmup` untimed rounds."""
    for _ in range(warmup):
        for run in candidates.values():
            run()
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def print_ratio_table(title: str, values: dict, baseline: str, unit: str = "s", scale: float = 1.0) -> None:
    print(f"\n{title}")
    print(f"{'':<44}{unit:>12}{'ratio':>9}")
    for name, value in values.items():
        print(f"{name:<44}{value * scale:>12.3f}{value / values[baseline]:>9.3f}")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"

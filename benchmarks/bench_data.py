"""Data throughput: how fast `prepare` turns real corpora into a dataset, and whether the training data
loader (round-robin sampler + collator) keeps the model busy.

    python benchmarks/bench_data.py [--data ../shared/data] [--batch-size 8] [--seconds 3] [--num-batches 50]

1. prepare EMO-DB + URDU from scratch into a temporary cache (files/s, decode + resample + Arrow write),
   then the cached reload.
2. Data-loader time per batch (RoundRobinBatchSampler + AudioCollator, crop to `--seconds`) against one
   stage-2 training step (forward, backward, AdamW) of a HuBERT-Large-shaped ExHuBERT on such a batch, in the
   same process. Target: loader ≤ 10 % of the step time.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from timing import describe_device
from torch.utils.data import DataLoader
from transformers import HubertForSequenceClassification

from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.data.collator import AudioCollator
from exhubert_hf.data.prepare import prepare_corpora
from exhubert_hf.data.sampler import RoundRobinBatchSampler
from exhubert_hf.modeling_exhubert import default_feature_extractor
from exhubert_hf.testing import hubert_large_config

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--num-batches", type=int, default=50)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps (after one warm-up step)")
    args = parser.parse_args()
    print(f"device: {describe_device(torch.device('cpu'))}")

    corpora = {"emodb": args.data / "emodb", "urdu": args.data / "urdu"}
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        prepared = prepare_corpora(corpora, cache_dir=cache_dir, show_progress=False)
        from_scratch = time.perf_counter() - start
        start = time.perf_counter()
        prepare_corpora(corpora, cache_dir=cache_dir, show_progress=False)
        cached = time.perf_counter() - start
        num_files = sum(len(split) for split in prepared.dataset.values()) + len(prepared.skipped)
        print(f"\nprepare EMO-DB + URDU ({num_files} files): {from_scratch:.1f} s from scratch "
              f"({num_files / from_scratch:.0f} files/s), {cached:.2f} s cached")

        train = prepared.dataset["train"].with_format("numpy")
        config = hubert_large_config(layerdrop=0.0)
        collator = AudioCollator(default_feature_extractor(config), max_seconds=args.seconds)
        sampler = RoundRobinBatchSampler.from_corpus_column(train["corpus"], args.batch_size, seed=0,
                                                            num_steps=args.num_batches)
        loader = DataLoader(train, batch_sampler=sampler, collate_fn=collator)
        start = time.perf_counter()
        batches = list(loader)
        loader_seconds = (time.perf_counter() - start) / len(batches)

    torch.manual_seed(0)
    stock = HubertForSequenceClassification(config)
    model = ExHubertForSequenceClassification.from_hubert(stock).train()
    del stock
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    step_times = []
    for index in range(args.steps + 1):
        batch = batches[index % len(batches)]
        start = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index:
            step_times.append(time.perf_counter() - start)
    step_seconds = statistics.median(step_times)
    shape = tuple(batches[0]["input_values"].shape)
    print(f"\ndata loader, batch {args.batch_size} (input {shape}): {1000 * loader_seconds:.1f} ms per batch")
    print(f"stage-2 training step, HuBERT-Large-shaped ExHuBERT: {step_seconds:.2f} s")
    ratio = loader_seconds / step_seconds
    verdict = "meets" if ratio <= 0.10 else "MISSES"
    print(f"loader / step = {ratio:.4f} ({verdict} the ≤ 0.10 target)")


if __name__ == "__main__":
    main()

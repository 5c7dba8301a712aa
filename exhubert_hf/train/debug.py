"""Instrumentation for the distributed-training tests, off unless `EXHUBERT_TRAIN_DEBUG_DIR` is set.

With the variable set, every process appends the dataset indices and corpora of each training batch it loads to
`batches-rank<r>.jsonl` in that folder, and writes a SHA-256 of its final weights to `weights-rank<r>.txt`; the
tests read both to check that the processes got disjoint single-corpus batches and ended with equal weights.
"""

import hashlib
import json
import os
from pathlib import Path

import torch

DEBUG_DIR_ENV = "EXHUBERT_TRAIN_DEBUG_DIR"


def debug_dir() -> Path | None:
    value = os.environ.get(DEBUG_DIR_ENV)
    if not value:
        return None
    folder = Path(value)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def state_dict_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def log_batches(dataset, corpora, rank: int):
    """`dataset`, wrapped so that every batch it serves is logged, when debugging is on; else `dataset`."""
    folder = debug_dir()
    return dataset if folder is None else _BatchLoggingDataset(dataset, corpora, folder / f"batches-rank{rank}.jsonl", rank)


def record_final_weights(model: torch.nn.Module, rank: int) -> None:
    folder = debug_dir()
    if folder is not None:
        (folder / f"weights-rank{rank}.txt").write_text(state_dict_sha256(model) + "\n")


class _BatchLoggingDataset(torch.utils.data.Dataset):
    """Wraps a dataset; appends the indices of every batch fetched (and their corpora) to a JSON-lines file."""

    def __init__(self, dataset, corpora, path: Path, rank: int):
        self.dataset = dataset
        self.corpora = list(corpora)
        self.path = path
        self.rank = rank
        self.calls = 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index]

    def __getitems__(self, indices):
        indices = [int(index) for index in indices]
        with open(self.path, "a") as handle:
            record = {"rank": self.rank, "batch": self.calls, "indices": indices}
            record["corpora"] = sorted({self.corpora[index] for index in indices})
            handle.write(json.dumps(record) + "\n")
        self.calls += 1
        return self.dataset.__getitems__(indices)


__all__ = ["DEBUG_DIR_ENV", "log_batches", "record_final_weights", "state_dict_sha256"]

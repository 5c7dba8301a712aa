"""Round-robin multi-corpus batch sampling, as in the ExHuBERT paper: every batch comes from one corpus and
the corpora take turns, so small corpora are seen as often as large ones.

Order and randomness
--------------------
* `corpus_order` is the order of the mapping given to the constructor; `from_corpus_column` sorts the corpus
  names, so the order does not depend on the order of the dataset rows.
* Step `s` uses corpus `corpus_order[s % num_corpora]`. Its *global* batch holds
  `batch_size * num_replicas` dataset indices of that corpus; rank `r` gets the `r`-th contiguous chunk of
  `batch_size`, so the processes of a distributed run get disjoint parts of the same step.
* Each corpus draws from its own stream of permutations: pass `q` of the corpus at position `p` is
  `numpy.random.default_rng([seed, p, q]).permutation(len(corpus))`. A pass yields
  `len(corpus) // global_batch` batches; the `len(corpus) % global_batch` indices left at the end of the
  permutation are dropped for that pass (a new permutation starts; so no index repeats within a pass or a
  step, and every index is used equally often in expectation).
* Everything is a pure function of `(seed, step)`: iterating from `start_step=k` yields exactly what an
  uninterrupted iteration yields from step `k` on. Jumping to step `k` costs one permutation per corpus, not
  a replay of `k` steps.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch

_SEED_MASK = (1 << 64) - 1


class RoundRobinBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields this rank's dataset indices, one list of `batch_size` per step, cycling over the corpora.

    Args:
        corpus_indices: corpus name -> the dataset indices of its clips (its order is `corpus_order`).
        batch_size: clips per step *per process*.
        seed: any integer; same seed, same order.
        num_replicas, rank: distributed layout; the global batch of a step is `batch_size * num_replicas`.
        num_steps: total steps of an iteration (counted from step 0). Default: one cycle-epoch,
            `num_corpora * ceil(largest corpus / global batch)`, i.e. the largest corpus is seen about once.
        start_step: first step that `__iter__` yields (resume).

    Raises:
        ValueError: no corpora, a corpus with fewer clips than the global batch (named), negative or repeated
            indices, or invalid sizes.

    Use with `DataLoader(dataset, batch_sampler=sampler, collate_fn=...)`. `len(sampler)` is the number of
    steps still to come, `num_steps - start_step`. Every `__iter__` starts again at `start_step`: to train
    longer than one cycle-epoch, pass the total as `num_steps`.
    """

    def __init__(
        self,
        corpus_indices: Mapping[str, Sequence[int]],
        batch_size: int,
        *,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        num_steps: int | None = None,
        start_step: int = 0,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if not corpus_indices:
            raise ValueError("no corpora given: corpus_indices is empty")
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = int(seed)
        self.global_batch_size = batch_size * num_replicas
        self.corpus_order: tuple[str, ...] = tuple(corpus_indices)
        self._indices: list[np.ndarray] = []
        for name in self.corpus_order:
            indices = np.asarray(list(corpus_indices[name]), dtype=np.int64).reshape(-1)
            if len(indices) < self.global_batch_size:
                raise ValueError(
                    f"corpus {name!r} has {len(indices)} clips, fewer than the global batch of "
                    f"{self.global_batch_size} (batch_size={batch_size} x num_replicas={num_replicas}); "
                    "lower the batch size or leave the corpus out"
                )
            if indices.min() < 0:
                raise ValueError(f"corpus {name!r} has negative dataset indices")
            self._indices.append(indices)
        all_indices = np.concatenate(self._indices)
        if len(np.unique(all_indices)) != len(all_indices):
            raise ValueError("a dataset index is listed twice (within a corpus or in two corpora)")
        self.corpus_sizes: tuple[int, ...] = tuple(len(indices) for indices in self._indices)
        self._batches_per_pass = tuple(size // self.global_batch_size for size in self.corpus_sizes)
        self._fingerprint = _fingerprint(self._indices)
        if num_steps is None:
            num_steps = self.num_corpora * math.ceil(max(self.corpus_sizes) / self.global_batch_size)
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
            raise ValueError(f"num_steps must be a non-negative integer, got {num_steps!r}")
        self.num_steps = num_steps
        self._permutation_cache: dict[int, tuple[int, np.ndarray]] = {}
        self.set_start_step(start_step)
        self._steps_yielded = self.start_step

    @classmethod
    def from_corpus_column(cls, corpora: Sequence[str], batch_size: int, **kwargs) -> RoundRobinBatchSampler:
        """Builds the sampler from a per-row corpus column: `corpora[i]` is the corpus of dataset row `i`
        (e.g. `dataset["corpus"]`). `corpus_order` is the sorted corpus names."""
        column = np.asarray(list(corpora), dtype=object)
        names = sorted(set(column.tolist()))
        corpus_indices = {name: np.flatnonzero(column == name) for name in names}
        return cls(corpus_indices, batch_size, **kwargs)

    @property
    def num_corpora(self) -> int:
        return len(self.corpus_order)

    def step_corpus(self, step: int) -> str:
        """The corpus that step `step` draws from."""
        return self.corpus_order[self._check_step(step) % self.num_corpora]

    def global_batch(self, step: int) -> list[int]:
        """All `batch_size * num_replicas` dataset indices of step `step` (every rank's chunk, in rank order)."""
        step = self._check_step(step)
        position = step % self.num_corpora
        corpus_batch = step // self.num_corpora  # how many batches this corpus gave before this step
        per_pass = self._batches_per_pass[position]
        pass_number, batch_in_pass = divmod(corpus_batch, per_pass)
        permutation = self._permutation(position, pass_number)
        start = batch_in_pass * self.global_batch_size
        return self._indices[position][permutation[start : start + self.global_batch_size]].tolist()

    def batch(self, step: int) -> list[int]:
        """This rank's dataset indices for step `step`."""
        start = self.rank * self.batch_size
        return self.global_batch(step)[start : start + self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.num_steps):
            batch = self.batch(step)
            self._steps_yielded = step + 1
            yield batch

    def __len__(self) -> int:
        return max(0, self.num_steps - self.start_step)

    def set_start_step(self, step: int) -> None:
        """Makes the next `__iter__` start at `step` (e.g. the trainer's global step after a resume)."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"start_step must be a non-negative integer, got {step!r}")
        self.start_step = int(step)
        self._steps_yielded = self.start_step

    def state_dict(self, step: int | None = None) -> dict:
        """What resuming needs. `start_step` is `step` when given (pass the trainer's count of optimizer
        steps done), else the steps this sampler has yielded so far; a DataLoader prefetches batches, so
        the sampler may run a few steps ahead of training: prefer passing `step`."""
        return {
            "seed": self.seed,
            "start_step": int(self._steps_yielded if step is None else step),
            "num_steps": self.num_steps,
            "batch_size": self.batch_size,
            "num_replicas": self.num_replicas,
            "corpus_order": list(self.corpus_order),
            "corpus_sizes": list(self.corpus_sizes),
            "fingerprint": self._fingerprint,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores seed, num_steps and the start step. The corpora and the global batch must be the same as
        when the state was saved (else the order would differ): a ValueError says what changed."""
        expected = {
            "corpus_order": list(self.corpus_order),
            "corpus_sizes": list(self.corpus_sizes),
            "fingerprint": self._fingerprint,
        }
        for key, value in expected.items():
            if key not in state:
                continue
            saved = state[key] if key == "fingerprint" else list(state[key])
            if saved != value:
                raise ValueError(f"sampler state does not match this dataset: {key} was {saved}, is {value}")
        saved_global = state.get("batch_size", self.batch_size) * state.get("num_replicas", self.num_replicas)
        if saved_global != self.global_batch_size:
            raise ValueError(
                f"sampler state has a global batch of {saved_global}, this sampler {self.global_batch_size}: "
                "resuming needs the same batch_size * num_replicas"
            )
        self.seed = int(state["seed"])
        self._permutation_cache.clear()
        self.num_steps = int(state.get("num_steps", self.num_steps))
        self.set_start_step(int(state["start_step"]))

    def _check_step(self, step: int) -> int:
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        return int(step)

    def _permutation(self, position: int, pass_number: int) -> np.ndarray:
        cached = self._permutation_cache.get(position)
        if cached is not None and cached[0] == pass_number:
            return cached[1]
        rng = np.random.default_rng([self.seed & _SEED_MASK, position, pass_number])
        permutation = rng.permutation(self.corpus_sizes[position])
        self._permutation_cache[position] = (pass_number, permutation)
        return permutation

    def __repr__(self) -> str:
        corpora = ", ".join(f"{name}={size}" for name, size in zip(self.corpus_order, self.corpus_sizes))
        return (
            f"{type(self).__name__}({corpora}; batch_size={self.batch_size}, num_replicas={self.num_replicas}, "
            f"rank={self.rank}, seed={self.seed}, steps {self.start_step}..{self.num_steps})"
        )


def _fingerprint(indices: list[np.ndarray]) -> int:
    checksum = 0
    for array in indices:
        checksum = zlib.crc32(np.ascontiguousarray(array, dtype="<i8").tobytes(), checksum)
    return checksum


__all__ = ["RoundRobinBatchSampler"]

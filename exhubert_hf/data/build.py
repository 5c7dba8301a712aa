"""Decoding the clips of a plan into cache entries: Arrow shards, `prepare_info.json` and `splits.csv` per corpus.

The work is cut into shards: runs of consecutive clips of one corpus and split (at most `SHARD_CLIPS`, and at
least `num_proc` per split where there are that many clips). Each shard is decoded (`read_audio`, 16 kHz mono)
and written to its own Arrow file by one process, the main one or one of `num_proc` forked workers, so audio
never travels between processes, memory holds at most one write batch per process whatever the corpus size, and
the rows come out in the plan's order whatever `num_proc` is. Unreadable files, sampling rates below
`MIN_SAMPLING_RATE` and files longer than `max_seconds` are skipped and reported with the reason; every other
clip is kept.
"""

import csv
import json
import math
import multiprocessing
import queue
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from ..configuration_exhubert import EXHUBERT_LABELS, SAMPLING_RATE
from .audio import AudioReadError, read_audio
from .cache import DATA_FOLDER, INFO_FILE, PREPARE_FORMAT_VERSION, SPLITS_FILE, PrepareSettings
from .labels import load_label_mapping
from .plan import PreparedRecord, PreparedRecords
from .records import SkippedFile
from .schema import DIMENSIONS, SPLITS, encode_audio, prepared_features

# Clips per Arrow file: a few hundred MB of audio, so that a dataset of 150,000 clips has a few hundred files.
SHARD_CLIPS = 2000
# An Arrow record batch is written after this many clips or samples (17 min at 16 kHz), whichever comes first:
# the bound on the audio a process holds.
WRITE_BATCH = 32
WRITE_BATCH_SAMPLES = 2**24


@dataclass(frozen=True)
class ShardJob:
    """Consecutive clips of one corpus and split, written to one Arrow file."""

    corpus: str
    split: str
    records: list[PreparedRecord]
    path: Path
    audio_dtype: str
    max_seconds: float


@dataclass
class ShardResult:
    kept: list[tuple[int, float]] = field(default_factory=list)  # (index in job.records, seconds)
    skipped: list[SkippedFile] = field(default_factory=list)
    clipped: int = 0  # clips with samples beyond the int16 range (clipped to it)


def shard_jobs(plan: PreparedRecords, folder: Path, settings: PrepareSettings, num_proc: int) -> list[ShardJob]:
    """The shards of one corpus's plan, their Arrow files in `folder / DATA_FOLDER`."""
    (spec,) = plan.specs
    jobs = []
    for split in SPLITS:
        records = sorted((r for r in plan.records if r.split == split), key=lambda r: r.path)
        count = max(1, min(num_proc, len(records)), math.ceil(len(records) / SHARD_CLIPS))
        for index, part in enumerate(np.array_split(np.arange(len(records)), count)):
            path = folder / DATA_FOLDER / f"{split}-{index:05d}-of-{count:05d}.arrow"
            chosen = [records[i] for i in part]
            jobs.append(ShardJob(spec.name, split, chosen, path, settings.audio_dtype, settings.max_seconds))
    return jobs


def decode_shards(jobs: list[ShardJob], num_proc: int, show_progress: bool) -> list[ShardResult]:
    """Write every shard (in `num_proc` processes), one progress bar for all of them; results in `jobs` order."""
    for job in jobs:
        job.path.parent.mkdir(parents=True, exist_ok=True)
    total = sum(len(job.records) for job in jobs)
    with tqdm(total=total, desc="exhubert prepare: decoding", unit="file", disable=not show_progress) as progress:
        if num_proc <= 1 or len(jobs) <= 1:
            return [write_shard(job, progress.update) for job in jobs]
        return _decode_in_workers(jobs, num_proc, progress)


def write_shard(job: ShardJob, report=None) -> ShardResult:
    """Decode the shard's clips and write them to `job.path`; `report(n)` every `WRITE_BATCH` files and at the end
    with the number of files done since the last report."""
    features = prepared_features(job.audio_dtype)
    result, batch, samples, done = ShardResult(), [], 0, 0
    # the Arrow stream format datasets reads (`Dataset.from_file`); the schema carries the features as metadata
    with pa.OSFile(str(job.path), "wb") as sink, pa.ipc.new_stream(sink, features.arrow_schema) as writer:
        for index, record in enumerate(job.records):
            audio, reason = _decode(record.path, job.max_seconds)
            done += 1
            if audio is None:
                result.skipped.append(SkippedFile(record.path, reason))
            else:
                stored, clipped = encode_audio(audio, job.audio_dtype)
                result.clipped += clipped > 0
                result.kept.append((index, len(audio) / SAMPLING_RATE))
                batch.append((record, stored))
                samples += len(stored)
            last = index == len(job.records) - 1
            if batch and (len(batch) >= WRITE_BATCH or samples >= WRITE_BATCH_SAMPLES or last):
                writer.write_table(_table(batch, features))
                batch, samples = [], 0
            if report is not None and (done >= WRITE_BATCH or last):
                report(done)
                done = 0
    return result


def _decode(path: str, max_seconds: float) -> tuple[np.ndarray | None, str | None]:
    try:
        audio = read_audio(path, SAMPLING_RATE, max_seconds=max_seconds)
    except AudioReadError as error:
        return None, error.reason
    except Exception as error:  # a decoder failure of a kind read_audio does not classify
        return None, f"could not be decoded ({type(error).__name__}: {error})"
    if audio.size == 0:
        return None, "contains no audio samples"
    return audio, None


def _table(batch: list[tuple[PreparedRecord, np.ndarray]], features) -> pa.Table:
    schema = features.arrow_schema
    offsets = np.cumsum([0] + [len(audio) for _, audio in batch], dtype=np.int64).astype(np.int32)
    values = pa.array(np.concatenate([audio for _, audio in batch]))
    data = {"audio": pa.ListArray.from_arrays(pa.array(offsets), values).cast(schema.field("audio").type)}
    for name in features:
        if name == "duration":
            data[name] = pa.array([len(audio) / SAMPLING_RATE for _, audio in batch], type=pa.float32())
        elif name in DIMENSIONS:  # NaN, not null, where unknown: the collator passes it on as "no target"
            values = [getattr(record, name) for record, _ in batch]
            data[name] = pa.array([math.nan if value is None else value for value in values], type=pa.float32())
        elif name != "audio":
            data[name] = pa.array([getattr(record, name) for record, _ in batch], type=schema.field(name).type)
    return pa.table(data, schema=schema)


def _rated_clips(records: list[PreparedRecord]) -> dict[str, int]:
    """Clips with each continuous rating (dimensions no clip has are left out)."""
    counts = {name: sum(getattr(record, name) is not None for record in records) for name in DIMENSIONS}
    return {name: count for name, count in counts.items() if count}


_progress_queue = None  # in a worker: where it reports finished files


def _start_worker(progress_queue) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _write_shard_in_worker(job: ShardJob) -> ShardResult:
    return write_shard(job, _progress_queue.put)


def _decode_in_workers(jobs: list[ShardJob], num_proc: int, progress) -> list[ShardResult]:
    context = multiprocessing.get_context("fork")  # workers inherit the loaded modules: no start-up cost
    progress_queue = context.Queue()
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i].records))  # largest first: balanced workers

    def drain() -> None:
        try:
            while True:
                progress.update(progress_queue.get_nowait())
        except queue.Empty:
            pass

    with context.Pool(min(num_proc, len(jobs)), initializer=_start_worker, initargs=(progress_queue,)) as pool:
        pending = pool.map_async(_write_shard_in_worker, [jobs[i] for i in order], chunksize=1)
        while not pending.ready():
            pending.wait(0.05)
            drain()
        finished = pending.get()  # raises a worker's exception (a full disk, ...) here
    results: list[ShardResult] = [ShardResult()] * len(jobs)
    for index, result in zip(order, finished):
        results[index] = result
    progress.update(progress.total - progress.n)
    return results


def write_entry_files(folder: Path, plan: PreparedRecords, key: str, settings: PrepareSettings, jobs, results) -> dict:
    """Write a corpus entry's `prepare_info.json` and `splits.csv` into `folder`; returns the info."""
    from .. import __version__

    (spec,) = plan.specs
    kept, skipped, stats, clipped = [], list(plan.skipped), {split: Counter() for split in SPLITS}, 0
    for job, result in zip(jobs, results):
        skipped.extend(result.skipped)
        clipped += result.clipped
        for index, seconds in result.kept:
            kept.append(job.records[index])
            stats[job.split]["clips"] += 1
            stats[job.split]["seconds"] += seconds
    with open(folder / SPLITS_FILE, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "corpus", "split", "split_source", "speaker", "original_label", "label"])
        for r in sorted(kept, key=lambda r: r.path):
            writer.writerow([r.path, r.corpus, r.split, r.split_source, r.speaker, r.original_label, EXHUBERT_LABELS[r.label]])
    info = {
        "format": PREPARE_FORMAT_VERSION,
        "key": key,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "exhubert_hf_version": __version__,
        "label_mapping_sha256": load_label_mapping().sha256,
        "sampling_rate": SAMPLING_RATE,
        **settings.as_dict(),
        "corpus": spec.name,
        "summary": {
            "adapter": spec.adapter,
            "root": str(spec.root),
            "splits": {s: {"clips": stats[s]["clips"], "hours": stats[s]["seconds"] / 3600} for s in SPLITS},
            "speakers": len({r.speaker for r in kept if r.speaker}),
            "split_sources": sorted({r.split_source for r in kept}),
            "original_labels": dict(sorted(Counter(r.original_label for r in kept).items())),
            "classes": dict(sorted(Counter(EXHUBERT_LABELS[r.label] for r in kept).items())),
            "dimensions": _rated_clips(kept),
            "skipped": len(skipped),
            "unlabeled": len(plan.unlabeled),
            "clipped": clipped,
        },
        "shards": {split: [job.path.name for job in jobs if job.split == split] for split in SPLITS},
        "skipped": [list(item) for item in sorted(skipped)],
        "unlabeled": [list(item) for item in plan.unlabeled],
    }
    (folder / INFO_FILE).write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return info


__all__ = [
    "SHARD_CLIPS",
    "WRITE_BATCH",
    "ShardJob",
    "ShardResult",
    "decode_shards",
    "shard_jobs",
    "write_entry_files",
    "write_shard",
]

"""Decoding a plan's clips and writing the prepared dataset, `prepare_info.json` and `splits.csv` into a folder.

Every clip is decoded to 16 kHz mono float32 with `read_audio` (in `num_proc` worker processes if asked) and
streamed to Arrow in batches of `WRITE_BATCH` clips, so memory stays bounded whatever the corpus size.
Unreadable files are skipped and reported with the reason; every readable clip is kept.
"""

import csv
import json
import multiprocessing
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from datasets import Dataset, DatasetDict, load_from_disk
from datasets.arrow_writer import ArrowWriter
from tqdm.auto import tqdm

from ..configuration_exhubert import EXHUBERT_LABELS, SAMPLING_RATE
from .audio import AudioReadError, read_audio
from .cache import DATASET_FOLDER, INFO_FILE, PREPARE_FORMAT_VERSION, SPLITS_FILE, save_dataset
from .labels import load_label_mapping
from .plan import PreparedRecord, PreparedRecords
from .records import SkippedFile
from .schema import SPLITS, prepared_features

# Clips per Arrow record batch while writing: bounds memory to a few batches of audio.
WRITE_BATCH = 32


def _decode(path: str) -> tuple[np.ndarray | None, str | None]:
    try:
        audio = read_audio(path, SAMPLING_RATE)
    except AudioReadError as error:
        return None, error.reason
    except Exception as error:  # a decoder failure of a kind read_audio does not classify
        return None, f"could not be decoded ({type(error).__name__}: {error})"
    if audio.size == 0:
        return None, "contains no audio samples"
    return audio, None


def _decoded(records: list[PreparedRecord], pool) -> Iterable[tuple[PreparedRecord, np.ndarray | None, str | None]]:
    paths = [record.path for record in records]
    results = pool.imap(_decode, paths, chunksize=4) if pool is not None else map(_decode, paths)
    for record, (audio, reason) in zip(records, results):
        yield record, audio, reason


def _write_split(records, path: Path, features, pool, progress, stats, skipped, owners) -> None:
    columns = [name for name in features if name != "audio"]
    batch: list[tuple[PreparedRecord, np.ndarray]] = []

    def flush(writer: ArrowWriter) -> None:
        if not batch:
            return
        lengths = np.array([0] + [len(audio) for _, audio in batch], dtype=np.int64)
        offsets = pa.array(np.cumsum(lengths), type=pa.int32() if lengths.sum() < 2**31 else pa.int64())
        values = pa.array(np.concatenate([audio for _, audio in batch]), type=pa.float32())
        audio_array = (pa.ListArray if offsets.type == pa.int32() else pa.LargeListArray).from_arrays(offsets, values)
        data = {"audio": audio_array.cast(features.arrow_schema.field("audio").type)}
        for name in columns:
            if name == "duration":
                data[name] = pa.array([len(audio) / SAMPLING_RATE for _, audio in batch], type=pa.float32())
            else:
                data[name] = pa.array([getattr(record, name) for record, _ in batch], type=features.arrow_schema.field(name).type)
        writer.write_table(pa.table(data, schema=features.arrow_schema))
        batch.clear()

    with ArrowWriter(features=features, path=str(path)) as writer:
        for record, audio, reason in _decoded(records, pool):
            progress.update(1)
            if audio is None:
                skipped.append(SkippedFile(record.path, reason))
                owners[record.path] = record.corpus
                continue
            corpus_stats = stats[record.corpus][record.split]
            corpus_stats["clips"] += 1
            corpus_stats["seconds"] += len(audio) / SAMPLING_RATE
            batch.append((record, audio))
            if len(batch) >= WRITE_BATCH:
                flush(writer)
        flush(writer)
        writer.finalize()


def build_prepared(plan: PreparedRecords, target: Path, key: str, seed: int, show_progress: bool, num_proc: int) -> None:
    """Decode and write the dataset, prepare_info.json and splits.csv into the (temporary) folder `target`."""
    from .. import __version__

    features = prepared_features()
    build = target / "build"
    build.mkdir(parents=True)
    stats: dict[str, dict[str, Counter]] = defaultdict(lambda: {split: Counter() for split in SPLITS})
    skipped = list(plan.skipped)
    owners = dict(plan.skipped_corpus)
    ordered = sorted(plan.records, key=lambda r: (SPLITS.index(r.split), r.corpus, r.path))
    pool = multiprocessing.get_context("fork").Pool(num_proc) if num_proc > 1 and len(ordered) > 1 else None
    try:
        with tqdm(total=len(ordered), desc="exhubert prepare: decoding", unit="file", disable=not show_progress) as progress:
            for split in SPLITS:
                records = [r for r in ordered if r.split == split]
                _write_split(records, build / f"{split}.arrow", features, pool, progress, stats, skipped, owners)
    finally:
        if pool is not None:
            pool.terminate()
    dataset = DatasetDict({split: Dataset.from_file(str(build / f"{split}.arrow")) for split in SPLITS})
    bars_were_disabled = datasets.are_progress_bars_disabled()
    if not show_progress:
        datasets.disable_progress_bars()
    try:
        save_dataset(dataset, target / DATASET_FOLDER)
        load_from_disk(str(target / DATASET_FOLDER))  # never publish a cache entry that does not load
    finally:
        if not show_progress and not bars_were_disabled:
            datasets.enable_progress_bars()
    del dataset
    shutil.rmtree(build)

    skipped_paths = {item.path for item in skipped}
    kept = [r for r in plan.records if r.path not in skipped_paths]
    with open(target / SPLITS_FILE, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "corpus", "split", "split_source", "speaker", "original_label", "label"])
        for r in sorted(kept, key=lambda r: (r.corpus, r.path)):
            writer.writerow([r.path, r.corpus, r.split, r.split_source, r.speaker, r.original_label, EXHUBERT_LABELS[r.label]])
    corpora = {}
    for spec in plan.specs:
        mine = [r for r in kept if r.corpus == spec.name]
        corpora[spec.name] = {
            "adapter": spec.adapter,
            "root": str(spec.root),
            "splits": {split: {"clips": stats[spec.name][split]["clips"], "hours": stats[spec.name][split]["seconds"] / 3600} for split in SPLITS},
            "speakers": len({r.speaker for r in mine if r.speaker}),
            "split_sources": sorted({r.split_source for r in mine}),
            "original_labels": dict(sorted(Counter(r.original_label for r in mine).items())),
            "classes": dict(sorted(Counter(EXHUBERT_LABELS[r.label] for r in mine).items())),
            "skipped": sum(1 for item in skipped if owners.get(item.path) == spec.name),
            "unlabeled": sum(1 for item in plan.unlabeled if item.corpus == spec.name),
        }
    info = {
        "format": PREPARE_FORMAT_VERSION,
        "key": key,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "exhubert_hf_version": __version__,
        "label_mapping_sha256": load_label_mapping().sha256,
        "seed": seed,
        "sampling_rate": SAMPLING_RATE,
        "corpora": corpora,
        "skipped": [list(item) for item in sorted(skipped)],
        "unlabeled": [list(item) for item in plan.unlabeled],
    }
    (target / INFO_FILE).write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


__all__ = ["WRITE_BATCH", "build_prepared"]

"""`exhubert prepare`: turn emotional-speech corpora in their original layout into one training dataset.

    result = prepare_corpora({"emodb": "data/emodb", "urdu": "data/urdu", "manifest:mine": "mine.csv"})
    result.dataset["train"]          # datasets.Dataset with exhubert_hf.schema.prepared_features()
    print(result.summary())          # clips per split, hours, skipped files per corpus

Steps: each corpus's adapter (exhubert_hf.corpora) lists its clips without decoding; every original
label is mapped to the six classes (exhubert_hf.labels, all unknown labels reported at once);
exhubert_hf.splits assigns train/validation/test; then every clip is decoded to 16 kHz mono float32
with exhubert_hf.audio.read_audio and streamed to Arrow in bounded memory. Unreadable files are skipped
and reported with the reason; every readable clip is kept.

The result is cached under `cache_dir/<key>/` (`dataset/` written by DatasetDict.save_to_disk,
`prepare_info.json` with the corpora, counts, skipped and unlabeled files, and `splits.csv` with the
split of every clip). The key hashes the corpus names and resolved roots, every file's size and
mtime, the labels/speakers/splits read from the corpora, the seed, the package version and the
label-mapping file, so a rerun on unchanged data loads in about a second. The cache is written to a
temporary folder and renamed into place, so an interrupted prepare never leaves a cache that is used.
"""

import argparse
import csv
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import datasets
import numpy as np
import pyarrow as pa
from datasets import Dataset, DatasetDict, load_from_disk
from datasets.arrow_writer import ArrowWriter
from tqdm.auto import tqdm

from .audio import SAMPLING_RATE, AudioReadError, read_audio
from .configuration_exhubert import EXHUBERT_LABELS
from .corpora import CORPORA, ClipRecord, SkippedFile, read_manifest, scan_corpus
from .labels import MANIFEST_SECTION, load_label_mapping
from .schema import SPLITS, prepared_features
from .splits import assign_splits

PREPARE_FORMAT_VERSION = 1
MANIFEST_PREFIX = "manifest:"
INFO_FILE = "prepare_info.json"
SPLITS_FILE = "splits.csv"
DATASET_FOLDER = "dataset"
# Clips per Arrow record batch while writing: bounds memory to a few batches of audio.
WRITE_BATCH = 32


class CorpusSpecError(ValueError):
    """An unusable corpus argument: unknown corpus name or a root that does not exist."""


@dataclass(frozen=True)
class CorpusSpec:
    """One corpus to prepare: `name` goes into the corpus column, `adapter` is a CORPORA key or "manifest"."""

    name: str
    adapter: str
    root: Path  # the corpus folder, or the manifest file

    @property
    def label_section(self) -> str:
        return MANIFEST_SECTION if self.adapter == "manifest" else self.adapter


@dataclass(frozen=True)
class PreparedRecord:
    """A clip with its six-class label and split, before decoding."""

    path: str
    corpus: str
    original_label: str
    label: int
    speaker: str
    gender: str
    language: str
    split: str
    split_source: str


class UnlabeledClip(NamedTuple):
    """A clip whose label the mapping marks as no emotion (null), e.g. IEMOCAP's "xxx"."""

    corpus: str
    path: str
    original_label: str


@dataclass
class PreparedRecords:
    """What `prepare_corpus_records` finds: labelled, split clips plus what was left out, nothing decoded."""

    specs: list[CorpusSpec]
    records: list[PreparedRecord]
    skipped: list[SkippedFile] = field(default_factory=list)
    unlabeled: list[UnlabeledClip] = field(default_factory=list)
    skipped_corpus: dict[str, str] = field(default_factory=dict)  # path of a skipped file -> corpus name


def default_cache_dir() -> Path:
    """`$EXHUBERT_CACHE/prepared` if EXHUBERT_CACHE is set, else `~/.cache/exhubert/prepared`."""
    base = os.environ.get("EXHUBERT_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "exhubert") / "prepared"


def parse_corpus_specs(corpora: Mapping[str, "str | os.PathLike"]) -> list[CorpusSpec]:
    """Validate {name: root}: registry names map to folders, "manifest:NAME" to a CSV/JSONL file."""
    if not corpora:
        raise CorpusSpecError("no corpora given")
    specs, names = [], set()
    for key, root in corpora.items():
        key = str(key).strip()
        root = Path(root).expanduser()
        if key.startswith(MANIFEST_PREFIX):
            name = key[len(MANIFEST_PREFIX) :].strip()
            if not name:
                raise CorpusSpecError(f"{key!r}: give the manifest corpus a name, as in manifest:NAME=path/to/manifest.csv")
            if not root.is_file():
                raise CorpusSpecError(f"{key}: manifest file {root} does not exist")
            spec = CorpusSpec(name, "manifest", root.resolve())
        else:
            if key not in CORPORA:
                raise CorpusSpecError(
                    f"unknown corpus {key!r}; known corpora: {', '.join(sorted(CORPORA))}, or manifest:NAME for a CSV/JSONL manifest"
                )
            if not root.is_dir():
                raise CorpusSpecError(f"{key}: corpus root {root} is not an existing folder")
            spec = CorpusSpec(key, key, root.resolve())
        if spec.name in names:
            raise CorpusSpecError(f"corpus name {spec.name!r} is given twice")
        names.add(spec.name)
        specs.append(spec)
    return specs


def prepare_corpus_records(corpora: "Mapping[str, str | os.PathLike] | list[CorpusSpec]", seed: int = 0) -> PreparedRecords:
    """List, label and split every clip of the given corpora without decoding any audio.

    Raises CorpusSpecError for unknown corpora or missing roots, corpora.ManifestError for bad manifests,
    and labels.UnknownLabelError naming every unmapped label and all files that carry it.
    """
    specs = corpora if isinstance(corpora, list) else parse_corpus_specs(corpora)
    mapping = load_label_mapping()
    scanned: list[tuple[CorpusSpec, list[ClipRecord]]] = []
    skipped: list[SkippedFile] = []
    skipped_corpus: dict[str, str] = {}
    for spec in specs:
        scan = read_manifest(spec.root) if spec.adapter == "manifest" else scan_corpus(spec.adapter, spec.root)
        scanned.append((spec, scan.records))
        skipped.extend(scan.skipped)
        skipped_corpus.update((item.path, spec.name) for item in scan.skipped)
    labels = mapping.map_labels((spec.label_section, r.original_label, r.path) for spec, records in scanned for r in records)
    records, unlabeled, position = [], [], 0
    for spec, clips in scanned:
        kept = []
        for clip in clips:
            label = labels[position]
            position += 1
            if label is None:
                unlabeled.append(UnlabeledClip(spec.name, clip.path, clip.original_label))
            else:
                kept.append((clip, label))
        assigned = assign_splits(
            [c.speaker for c, _ in kept], [c.split for c, _ in kept], seed, spec.name, [label for _, label in kept]
        )
        default_language = "" if spec.adapter == "manifest" else CORPORA[spec.adapter].language
        for (clip, label), (split, source) in zip(kept, assigned):
            records.append(
                PreparedRecord(
                    clip.path, spec.name, clip.original_label, label, clip.speaker, clip.gender,
                    clip.language or default_language, split, source,
                )
            )  # fmt: skip
    return PreparedRecords(specs, records, sorted(skipped), sorted(unlabeled), skipped_corpus)


def cache_key(plan: PreparedRecords, seed: int) -> str:
    """Hash of everything the prepared dataset depends on (see the module docstring)."""
    from . import __version__

    digest = hashlib.sha256()

    def add(value) -> None:
        digest.update(json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")

    add({
        "format": PREPARE_FORMAT_VERSION, "package": __version__, "mapping": load_label_mapping().sha256, "seed": seed,
        "corpora": [[s.name, s.adapter, str(s.root)] for s in plan.specs],
    })  # fmt: skip
    for spec in plan.specs:
        if spec.adapter == "manifest":
            add(["manifest", hashlib.sha256(spec.root.read_bytes()).hexdigest()])
    for record in plan.records:
        add([*asdict(record).values(), *_stat(record.path)])
    for item in plan.skipped:
        add(["skipped", item.path, item.reason, *_stat(item.path)])
    for item in plan.unlabeled:
        add(["unlabeled", *item])
    return digest.hexdigest()[:32]


def _stat(path: str) -> tuple[int, int]:
    try:
        stat = os.stat(path)
        return stat.st_size, stat.st_mtime_ns
    except OSError:
        return -1, -1


@dataclass
class PreparedCorpora:
    """The prepared DatasetDict plus what was left out and where the cache lives."""

    dataset: DatasetDict
    skipped: list[SkippedFile]
    unlabeled: list[UnlabeledClip]
    info: dict
    cache_path: Path
    from_cache: bool

    @property
    def split_assignment(self) -> dict[str, str]:
        """path -> split for every clip in the dataset (read from splits.csv)."""
        with open(self.cache_path / SPLITS_FILE, newline="", encoding="utf-8") as handle:
            return {row["path"]: row["split"] for row in csv.DictReader(handle)}

    def summary(self) -> str:
        return format_summary(self.info)

    def save(self, output, overwrite: bool = False) -> Path:
        """Copy the dataset (save_to_disk) and its prepare_info.json / splits.csv to `output`.

        Refuses an existing non-empty folder unless `overwrite`; the copy is written next to it and renamed.
        """
        output = Path(output).expanduser()
        if _non_empty(output) and not overwrite:
            raise FileExistsError(f"{output} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = output.parent / f".tmp-{output.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            _save_dataset(self.dataset, staging)
            for name in (INFO_FILE, SPLITS_FILE):
                shutil.copy2(self.cache_path / name, staging / name)
            _replace_folder(staging, output)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return output


def _save_dataset(dataset: DatasetDict, folder: Path) -> None:
    # one shard for empty splits: datasets cannot load a split saved with zero shards
    shards = {split: 1 if len(dataset[split]) == 0 else None for split in dataset}
    dataset.save_to_disk(str(folder), num_shards=shards)


def _replace_folder(staging: Path, target: Path) -> None:
    """Publish the complete folder `staging` as `target`: an existing `target` is moved aside first (a
    rename, so `target` is never half-written) and then deleted."""
    if target.exists():
        old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(staging, target)


def _non_empty(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


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


def _build(plan: PreparedRecords, target: Path, key: str, seed: int, show_progress: bool, num_proc: int) -> None:
    """Decode and write the dataset, prepare_info.json and splits.csv into the (temporary) folder `target`."""
    from . import __version__

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
        _save_dataset(dataset, target / DATASET_FOLDER)
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


def _is_complete(folder: Path) -> bool:
    return (folder / INFO_FILE).is_file() and (folder / SPLITS_FILE).is_file() and (folder / DATASET_FOLDER / "dataset_dict.json").is_file()


def _remove_abandoned(cache_root: Path, key: str) -> None:
    """Delete temporary folders of earlier prepares for this key whose process is gone."""
    for folder in cache_root.glob(f".tmp-{key}-*"):
        try:
            pid = int(folder.name.split("-")[2])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


def _load(folder: Path, from_cache: bool) -> PreparedCorpora:
    info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    dataset = load_from_disk(str(folder / DATASET_FOLDER))
    return PreparedCorpora(
        dataset=dataset,
        skipped=[SkippedFile(*item) for item in info["skipped"]],
        unlabeled=[UnlabeledClip(*item) for item in info["unlabeled"]],
        info=info,
        cache_path=folder,
        from_cache=from_cache,
    )


def prepare_corpora(
    corpora: "Mapping[str, str | os.PathLike]",
    cache_dir: "str | os.PathLike | None" = None,
    seed: int = 0,
    overwrite: bool = False,
    show_progress: bool = True,
    num_proc: int = 1,
) -> PreparedCorpora:
    """Prepare (or load from the cache) the six-class dataset of the given corpora.

    `corpora` maps a registry name (exhubert_hf.corpora.CORPORA) to the corpus's root folder, or
    "manifest:NAME" to a CSV/JSONL manifest file (NAME becomes the corpus column). `overwrite` rebuilds
    the cache entry even if it exists. `num_proc` > 1 decodes in that many worker processes.
    """
    plan = prepare_corpus_records(corpora, seed)
    key = cache_key(plan, seed)
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = cache_root / key
    if not overwrite and _is_complete(final):
        return _load(final, from_cache=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(cache_root, key)
    staging = cache_root / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _build(plan, staging, key, seed, show_progress, max(1, int(num_proc)))
        if not overwrite and _is_complete(final):  # another process finished the same key first
            shutil.rmtree(staging, ignore_errors=True)
            return _load(final, from_cache=True)
        _replace_folder(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return _load(final, from_cache=False)


def format_summary(info: dict) -> str:
    """A per-corpus table: clips per split, hours, speakers, split source, skipped and unlabeled counts."""
    header = ["corpus", "train", "validation", "test", "total", "hours", "speakers", "split", "skipped", "unlabeled"]
    rows, totals = [], Counter()
    for name, corpus in info["corpora"].items():
        clips = [corpus["splits"][split]["clips"] for split in SPLITS]
        hours = sum(corpus["splits"][split]["hours"] for split in SPLITS)
        row = [name, *clips, sum(clips), f"{hours:.2f}", corpus["speakers"], "+".join(corpus["split_sources"]) or "-", corpus["skipped"], corpus["unlabeled"]]
        rows.append([str(value) for value in row])
        totals.update(dict(zip(SPLITS, clips)), hours=hours, skipped=corpus["skipped"], unlabeled=corpus["unlabeled"], speakers=corpus["speakers"])
    total_clips = [totals[split] for split in SPLITS]
    rows.append(["total", *map(str, total_clips), str(sum(total_clips)), f"{totals['hours']:.2f}", str(totals["speakers"]), "", str(len(info["skipped"])), str(len(info["unlabeled"]))])
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]

    def line(cells):
        return "  ".join(cell.ljust(width) if i in (0, 7) else cell.rjust(width) for i, (cell, width) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows[:-1]), line(["-" * w for w in widths]), line(rows[-1])])


# --- command line ------------------------------------------------------------------------------------
def parse_corpus_entries(entries) -> dict[str, str]:
    """["emodb=/data/emodb", "manifest:mine=/x.csv"] -> {"emodb": "/data/emodb", "manifest:mine": "/x.csv"};
    a mapping is taken as it is. Raises CorpusSpecError for malformed or repeated entries."""
    if isinstance(entries, Mapping):
        return {str(name): str(root) for name, root in entries.items()}
    corpora = {}
    for entry in entries:
        name, separator, root = str(entry).partition("=")
        if not separator or not name.strip() or not root.strip():
            raise CorpusSpecError(f"{entry!r}: give corpora as NAME=ROOT, e.g. emodb=/data/emodb or manifest:mine=/data/mine.csv")
        if name.strip() in corpora:
            raise CorpusSpecError(f"corpus {name.strip()!r} is given twice")
        corpora[name.strip()] = root.strip()
    return corpora


def add_parser(subparsers) -> None:
    known = ", ".join(sorted(CORPORA))
    parser = subparsers.add_parser(
        "prepare",
        help="prepare emotional-speech corpora into a six-class training dataset",
        description=(
            "Read corpora in their original layout, map their labels to the six ExHuBERT classes, split them "
            "speaker-independently (or by the corpus's own split) and decode all audio to 16 kHz mono. "
            f"Known corpora: {known}; manifest:NAME=FILE reads a CSV/JSONL with columns path, label "
            "[, speaker, split, language, gender]. Exit status: 0 all files used, 1 some files skipped (output "
            "written), 2 usage or label-mapping errors (nothing written)."
        ),
    )
    parser.add_argument("corpora", nargs="+", metavar="NAME=ROOT", help="corpus and its root folder, e.g. emodb=/data/emodb")
    parser.add_argument("--cache-dir", help=f"cache folder (default: $EXHUBERT_CACHE/prepared or {Path('~/.cache/exhubert/prepared')})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the speaker and random splits (default 0)")
    parser.add_argument("--output", help="also write the dataset (DatasetDict.save_to_disk) and its split files to this folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output folder")
    parser.add_argument("--rebuild", action="store_true", help="prepare again even if the cache has this exact input")
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes for decoding (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run_prepare)


def _run_prepare(args: argparse.Namespace) -> int:
    from .corpora import ManifestError
    from .labels import UnknownLabelError

    def fail(message) -> int:
        print(f"exhubert prepare: error: {message}", file=sys.stderr)
        return 2

    try:
        corpora = parse_corpus_entries(args.corpora)
        parse_corpus_specs(corpora)
    except CorpusSpecError as error:
        return fail(error)
    if args.output and _non_empty(Path(args.output).expanduser()) and not args.overwrite:
        return fail(f"--output {args.output} exists and is not empty; pass --overwrite to replace it")
    try:
        result = prepare_corpora(corpora, args.cache_dir, args.seed, args.rebuild, not args.no_progress, args.num_proc)
    except (CorpusSpecError, ManifestError, UnknownLabelError) as error:
        return fail(error)
    print(result.summary())
    source = "loaded from cache" if result.from_cache else "prepared"
    print(f"\n{source}: {result.cache_path}")
    if result.unlabeled:
        counts = Counter((item.corpus, item.original_label) for item in result.unlabeled)
        print(f"{len(result.unlabeled)} clip(s) left out as unlabeled: " + ", ".join(f"{c} {label!r}: {n}" for (c, label), n in sorted(counts.items())))
    if args.output:
        try:
            output = result.save(args.output, overwrite=args.overwrite)
        except FileExistsError as error:
            return fail(error)
        print(f"written to {output}")
    if result.skipped:
        print(f"\n{len(result.skipped)} file(s) skipped:")
        for path, reason in result.skipped:
            print(f"  {path}: {reason}")
        return 1
    return 0


__all__ = [
    "CorpusSpec",
    "CorpusSpecError",
    "PreparedCorpora",
    "PreparedRecord",
    "PreparedRecords",
    "UnlabeledClip",
    "add_parser",
    "cache_key",
    "default_cache_dir",
    "format_summary",
    "parse_corpus_entries",
    "parse_corpus_specs",
    "prepare_corpora",
    "prepare_corpus_records",
]

"""The prepare cache: one entry per corpus, found again by a hash of everything that corpus's dataset depends on.

`cache_dir/<key>/` holds one corpus: `data/<split>-NNNNN-of-NNNNN.arrow` (its clips, memory-mapped when loaded),
`prepare_info.json` (counts, shards, skipped and unlabeled files) and `splits.csv` (every clip's split). The key
hashes the corpus's name, adapter and resolved root, every file's size and mtime, the labels, speakers, splits and
continuous ratings read from it, its section of the label mapping, the seed, the audio dtype and length limit, the
format and the package version; nothing about the other corpora prepared with it. So adding a corpus to a set decodes only that
corpus, and a rerun on unchanged data loads in about a second.

An entry is built in a temporary folder owned by its process (`exhubert_hf.fileio.owned_staging`) and renamed
into place under the entry's lock file (`filelock`), which is also held while an entry is checked and opened: two
processes (`--rebuild` or not, on one host or several sharing the folder) never see a half-replaced entry.
"""

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
from datasets import Dataset, DatasetDict, NamedSplit, concatenate_datasets

from ..fileio import file_lock, publish_folder
from .labels import MANIFEST_SECTION, load_label_mapping
from .plan import PreparedRecords
from .schema import SPLITS, prepared_features

PREPARE_FORMAT_VERSION = 3  # 3: the arousal, valence and dominance columns
INFO_FILE = "prepare_info.json"
SPLITS_FILE = "splits.csv"
DATA_FOLDER = "data"
LOCK_FOLDER = ".locks"


@dataclass(frozen=True)
class PrepareSettings:
    """What, besides the corpus itself, decides the content of its prepared dataset."""

    seed: int
    audio_dtype: str
    max_seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def default_cache_dir() -> Path:
    """`$EXHUBERT_CACHE/prepared` if EXHUBERT_CACHE is set, else `~/.cache/exhubert/prepared`."""
    base = os.environ.get("EXHUBERT_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "exhubert") / "prepared"


def cache_key(plan: PreparedRecords, settings: PrepareSettings) -> str:
    """Hash of everything one corpus's prepared dataset depends on (see the module docstring); `plan` holds
    exactly one corpus (`PreparedRecords.for_corpus`)."""
    from .. import __version__

    (spec,) = plan.specs
    digest = hashlib.sha256()

    def add(value) -> None:
        digest.update(json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")

    mapping = load_label_mapping()
    section = mapping.sections.get(spec.label_section)
    add({
        "format": PREPARE_FORMAT_VERSION, "package": __version__, "settings": settings.as_dict(),
        "corpus": [spec.name, spec.adapter, str(spec.root)],
        # the mapping as this corpus uses it: its section (manifests also fall back on the canonical emotions)
        "mapping": [section, mapping.emotions if spec.label_section == MANIFEST_SECTION else None],
    })  # fmt: skip
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


@contextmanager
def entry_lock(entry: Path):
    """Held while an entry is checked, published or opened (a lock file in `cache_dir/.locks/`)."""
    folder = entry.parent / LOCK_FOLDER
    folder.mkdir(exist_ok=True)
    with file_lock(folder / f"{entry.name}.lock"):
        yield


def read_info(entry: Path) -> dict | None:
    """The entry's prepare_info.json when the entry is complete (every listed file there), else None."""
    try:
        info = json.loads((entry / INFO_FILE).read_text(encoding="utf-8"))
        shards = [entry / DATA_FOLDER / name for split in SPLITS for name in info["shards"][split]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.get("format") != PREPARE_FORMAT_VERSION or not (entry / SPLITS_FILE).is_file():
        return None
    return info if all(path.is_file() for path in shards) else None


def load_entry(entry: Path, info: dict) -> DatasetDict:
    """The entry's splits, memory-mapped from its Arrow files (nothing is read into memory)."""
    splits = {}
    for split in SPLITS:
        files = [str(entry / DATA_FOLDER / name) for name in info["shards"][split]]
        parts = [Dataset.from_file(file, split=NamedSplit(split)) for file in files]
        splits[split] = parts[0] if len(parts) == 1 else concatenate_datasets(parts, split=NamedSplit(split))
    return DatasetDict(splits)


def check_entry(entry: Path, info: dict) -> None:
    """Raise OSError unless every shard of the entry reads back with the prepared schema and, together, the rows
    `info` counts (read through a memory map: headers only, no audio)."""
    schema = prepared_features(info["audio_dtype"]).arrow_schema
    for split in SPLITS:
        rows = 0
        for name in info["shards"][split]:
            with pa.memory_map(str(entry / DATA_FOLDER / name)) as source:
                reader = pa.ipc.open_stream(source)
                if not reader.schema.equals(schema, check_metadata=True):
                    raise OSError(f"{entry / DATA_FOLDER / name} was written with another schema")
                rows += sum(batch.num_rows for batch in reader)
        if rows != info["summary"]["splits"][split]["clips"]:
            raise OSError(f"{entry}: {split} reads back {rows} rows, {info['summary']['splits'][split]['clips']} were written")


def publish_entry(staging: Path, entry: Path, replace: bool) -> bool:
    """Rename the built `staging` to `entry` under the entry's lock. An entry another process completed meanwhile
    is kept unless `replace`; returns whether `staging` was published."""
    with entry_lock(entry):
        if not replace and read_info(entry) is not None:
            return False
        publish_folder(staging, entry)
        return True


__all__ = [
    "DATA_FOLDER",
    "INFO_FILE",
    "PREPARE_FORMAT_VERSION",
    "SPLITS_FILE",
    "PrepareSettings",
    "cache_key",
    "check_entry",
    "default_cache_dir",
    "entry_lock",
    "load_entry",
    "publish_entry",
    "read_info",
]

"""The prepare cache: one folder per exact input, found again by a hash of everything the dataset depends on.

`cache_dir/<key>/` holds `dataset/` (written by `DatasetDict.save_to_disk`), `prepare_info.json` (corpora,
counts, skipped and unlabeled files) and `splits.csv` (every clip's split). The key hashes the corpus names and
resolved roots, every file's size and mtime, the labels, speakers and splits read from the corpora, the seed, the
package version and the label-mapping file, so a rerun on unchanged data loads in about a second. An entry is
built in a temporary folder and renamed into place (`exhubert_hf.fileio`), so an interrupted prepare never
leaves an entry that is used.
"""

import csv
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from datasets import DatasetDict, load_from_disk

from ..fileio import STAGING_PREFIX, staged_folder
from .labels import load_label_mapping
from .plan import PreparedRecords, UnlabeledClip
from .records import SkippedFile

PREPARE_FORMAT_VERSION = 1
INFO_FILE = "prepare_info.json"
SPLITS_FILE = "splits.csv"
DATASET_FOLDER = "dataset"


def default_cache_dir() -> Path:
    """`$EXHUBERT_CACHE/prepared` if EXHUBERT_CACHE is set, else `~/.cache/exhubert/prepared`."""
    base = os.environ.get("EXHUBERT_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "exhubert") / "prepared"


def cache_key(plan: PreparedRecords, seed: int) -> str:
    """Hash of everything the prepared dataset depends on (see the module docstring)."""
    from .. import __version__

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
    """The prepared DatasetDict plus what was left out and where the cache entry lives."""

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
        from .prepare import format_summary

        return format_summary(self.info)

    def save(self, output, overwrite: bool = False) -> Path:
        """Copy the dataset (save_to_disk) and its prepare_info.json / splits.csv to the folder `output`.
        An existing non-empty `output` is replaced only with `overwrite` (`OutputExistsError`)."""
        with staged_folder(output, overwrite) as staging:
            save_dataset(self.dataset, staging)
            for name in (INFO_FILE, SPLITS_FILE):
                shutil.copy2(self.cache_path / name, staging / name)
        return Path(output).expanduser()


def save_dataset(dataset: DatasetDict, folder: Path) -> None:
    # one shard for empty splits: datasets cannot load a split saved with zero shards
    shards = {split: 1 if len(dataset[split]) == 0 else None for split in dataset}
    dataset.save_to_disk(str(folder), num_shards=shards)


def is_complete(folder: Path) -> bool:
    return (folder / INFO_FILE).is_file() and (folder / SPLITS_FILE).is_file() and (folder / DATASET_FOLDER / "dataset_dict.json").is_file()


def remove_abandoned(cache_root: Path, key: str) -> None:
    """Delete temporary folders of earlier prepares for this key whose process is gone."""
    for folder in cache_root.glob(f"{STAGING_PREFIX}{key}-*"):
        try:
            pid = int(folder.name.split("-")[2])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


def load_prepared(folder: Path, from_cache: bool) -> PreparedCorpora:
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


__all__ = [
    "DATASET_FOLDER",
    "INFO_FILE",
    "PREPARE_FORMAT_VERSION",
    "SPLITS_FILE",
    "PreparedCorpora",
    "cache_key",
    "default_cache_dir",
    "is_complete",
    "load_prepared",
    "remove_abandoned",
    "save_dataset",
]

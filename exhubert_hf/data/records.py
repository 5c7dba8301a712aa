"""What a corpus adapter or manifest reports: clips with their own labels, and files left out with the reason.

Shared by the adapters (`corpora`) and the manifest reader (`manifest`): the record types, the normalisation
of split and gender values and of continuous ratings, and the file-listing helpers that adapters build on.
"""

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ..errors import InputError
from .audio import AUDIO_SUFFIXES, find_audio_files

# The corpus's own split names, normalised to the prepared dataset's.
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "development": "validation",
    "evaluation": "validation",
    "eval": "validation",
    "test": "test",
    "testing": "test",
}


@dataclass(frozen=True)
class ClipRecord:
    """One clip as a corpus describes it. `split` is the corpus's own split (normalised) or None; `arousal`, `valence`
    and `dominance` its continuous ratings mapped to [0, 1] (`unit_interval`), None where the corpus has none."""

    path: str
    original_label: str
    speaker: str = ""
    gender: str = ""  # "female", "male" or ""
    language: str = ""  # ISO 639-1, "" for non-verbal material
    split: str | None = None
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None


class SkippedFile(NamedTuple):
    """A file left out, with the reason (unpacks as a (path, reason) tuple)."""

    path: str
    reason: str


@dataclass
class CorpusScan:
    records: list[ClipRecord] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

class ManifestError(InputError):
    """A manifest that cannot be read: missing columns or invalid values (every bad row is listed)."""


def normalise_split(value) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    split = SPLIT_ALIASES.get(str(value).strip().lower())
    if split is None:
        raise ValueError(f"unknown split {value!r}; use one of {sorted(SPLIT_ALIASES)}")
    return split


def normalise_gender(value) -> str:
    value = str(value or "").strip().lower()
    if value in ("f", "female", "w", "woman"):
        return "female"
    if value in ("m", "male", "man"):
        return "male"
    return ""


def unit_interval(value, scale: tuple[float, float]) -> float | None:
    """A rating on `scale` = (low, high) mapped linearly to [0, 1] (low -> 0, high -> 1; a reversed scale such as
    (9, 1) maps 9 -> 0); None for an empty value or NaN (unknown). ValueError for a value that is not a number or lies
    outside the scale."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if math.isnan(number):
        return None
    low, high = scale
    if not min(low, high) <= number <= max(low, high):
        raise ValueError(f"{value!r} lies outside its scale {low:g}..{high:g}")
    return (number - low) / (high - low)


def audio_files(root: Path, suffixes=AUDIO_SUFFIXES) -> list[Path]:
    """Audio files under root, leaving out hidden files such as macOS '._' resource forks. Broken symbolic links
    and folders named like audio files are listed too: decoding reports them as skipped, with the reason."""
    return [path for path in find_audio_files(root, suffixes, include_non_files=True) if not path.name.startswith(".")]


def not_matching(path: Path, corpus: str, expected: str) -> SkippedFile:
    return SkippedFile(str(path), f"file name does not follow the {corpus} naming ({expected})")


def by_name(root, pattern, corpus, expected, make, files=None) -> Iterator["ClipRecord | SkippedFile"]:
    regex = re.compile(pattern)
    for path in audio_files(root) if files is None else files:
        match = regex.fullmatch(path.stem)
        record = make(match, path) if match else None
        yield record if record is not None else not_matching(path, corpus, expected)


def ancestor(path: Path, root: Path, names) -> str | None:
    """Name of the nearest folder between path and root whose lower-cased name is in `names`."""
    for parent in path.parents:
        if parent == root:
            break
        if parent.name.lower() in names:
            return parent.name.lower()
    return None


__all__ = [
    "ClipRecord",
    "CorpusScan",
    "ManifestError",
    "SkippedFile",
    "normalise_gender",
    "normalise_split",
    "unit_interval",
]

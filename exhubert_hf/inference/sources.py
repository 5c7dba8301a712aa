"""What `exhubert predict` / `embed` take as PATH: audio files, folders, quoted globs and manifests.

A manifest is a `.txt` with one path per line (`#` starts a comment) or a `.csv` with a `file`, `file_name` or
`path` column (else its first column, the first row included); relative entries are relative to the manifest.
"""

import csv
import glob
import io
from collections.abc import Iterable
from pathlib import Path

from ..data.audio import AUDIO_SUFFIXES, find_audio_files

MANIFEST_SUFFIXES = (".csv", ".txt")
PATH_COLUMNS = ("file", "file_name", "path")


def collect_audio_paths(specs: Iterable[str]) -> tuple[list[str], list[str]]:
    """Files named by command-line PATHs (files, folders, globs, .txt/.csv manifests), in order without
    duplicates, and notes about PATHs that named nothing. Paths that do not exist are kept (they become
    failed results), except globs, which are reported in the notes."""
    files, notes = [], []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = find_audio_files(path)
            if not found:
                notes.append(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found in {spec}")
            files.extend(map(str, found))
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            entries = manifest_entries(path)
            if not entries:
                notes.append(f"manifest {spec} lists no files")
            files.extend(entries)
        elif not path.exists() and any(char in spec for char in "*?["):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                notes.append(f"no files match {spec}")
            for match in matches:
                files.extend(map(str, find_audio_files(match)) if Path(match).is_dir() else [match])
        else:
            files.append(spec)
    return list(dict.fromkeys(files)), notes


def manifest_entries(manifest: Path) -> list[str]:
    """The paths a `.txt` or `.csv` manifest lists (see the module docstring)."""
    text = manifest.read_text(encoding="utf-8-sig")
    if manifest.suffix.lower() == ".txt":
        entries = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    else:
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return []
        header = [name.strip().lower() for name in rows[0]]
        column = next((header.index(name) for name in PATH_COLUMNS if name in header), None)
        if column is None:  # no header we know: the first column, and the first row is a path too
            column, body = 0, rows
        else:
            body = rows[1:]
        entries = [row[column].strip() for row in body if len(row) > column and row[column].strip()]
    return [entry if Path(entry).is_absolute() else str(manifest.parent / entry) for entry in entries]


__all__ = ["MANIFEST_SUFFIXES", "collect_audio_paths", "manifest_entries"]

"""Generic CSV / JSONL manifests, for corpora without an adapter (`manifest:NAME=FILE`).

A row names its file in `path` or, as in the `datasets` `audiofolder` convention (`metadata.csv`), `file_name`;
relative paths are relative to the manifest's folder. Continuous ratings go in `arousal`, `valence` and `dominance`
columns whose names declare their scale: `arousal[1..5]`, `valence[-1..1]`, `dominance[1..7]` (a reversed scale such
as `valence[9..1]` works too; a name without a scale holds values in [0, 1] already). They are mapped to [0, 1]; an
empty cell (or null, NaN) is unknown, a value outside the scale an error.

The same file listed twice (however its path is spelled: relative, absolute, through a symbolic link) would put one
copy in train and another in test: with two different labels it is an error naming both rows; with the same label the
first row is kept and the other reported as skipped.
"""

import csv
import json
import os
import re
from pathlib import Path

from .labels import _normalise as normalise_label
from .records import (
    ClipRecord,
    CorpusScan,
    ManifestError,
    SkippedFile,
    normalise_gender,
    normalise_split,
    unit_interval,
)
from .schema import DIMENSIONS

# The columns that may name a row's file: ours, and the `audiofolder` metadata convention.
PATH_COLUMNS = ("path", "file_name")
_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*"
_DIMENSION_COLUMN = re.compile(rf"\s*({'|'.join(DIMENSIONS)})\s*(?:\[{_NUMBER}\.\.{_NUMBER}\])?\s*", re.IGNORECASE)


def read_manifest(manifest) -> CorpusScan:
    """Clips listed in a CSV (header row) or JSONL file: `path` (or `file_name`), `label`, and optionally
    speaker, split, language, gender. Missing files are kept (and reported as skipped when decoded); malformed
    rows and files listed twice with different labels raise ManifestError listing all of them."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest {manifest} does not exist")
    if manifest.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        rows = []
        with open(manifest, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        rows.append((number, json.loads(line)))
                    except json.JSONDecodeError as error:
                        raise ManifestError(f"{manifest}:{number}: not a JSON object ({error})") from error
    else:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            if not columns & set(PATH_COLUMNS) or "label" not in columns:
                raise ManifestError(
                    f"{manifest}: missing column(s): needs 'label' and 'path' (or 'file_name'); "
                    f"found {reader.fieldnames}"
                )
            if set(PATH_COLUMNS) <= columns:
                raise ManifestError(f"{manifest}: has both 'path' and 'file_name' columns; keep one")
            rows = list(enumerate(reader, 2))
    columns = dict.fromkeys(key for _, row in rows if isinstance(row, dict) for key in row)
    dimension_columns = read_dimension_columns(columns, manifest)
    result, problems = CorpusScan(), []
    first_row: dict[str, tuple[int, ClipRecord]] = {}  # the file's real path -> the first row listing it
    for number, row in rows:
        given = _path_values(row)
        if len(given) > 1:
            problems.append(f"{manifest}:{number}: 'path' and 'file_name' name different files")
            continue
        if not given or not str(row.get("label") or "").strip():
            problems.append(f"{manifest}:{number}: needs a non-empty 'path' (or 'file_name') and 'label'")
            continue
        try:
            split = normalise_split(row.get("split"))
            ratings = _ratings(row, dimension_columns)
        except ValueError as error:
            problems.append(f"{manifest}:{number}: {error}")
            continue
        path = Path(given.pop())
        path = path if path.is_absolute() else manifest.parent / path
        record = ClipRecord(
            str(path.absolute()),
            str(row["label"]).strip(),
            str(row.get("speaker") or "").strip(),
            normalise_gender(row.get("gender")),
            str(row.get("language") or "").strip().lower(),
            split,
            **ratings,
        )
        same_file = os.path.normcase(os.path.realpath(path))
        if same_file not in first_row:
            first_row[same_file] = (number, record)
            result.records.append(record)
            continue
        first_number, first = first_row[same_file]
        if normalise_label(first.original_label) != normalise_label(record.original_label):
            problems.append(
                f"{manifest}:{first_number} and {manifest}:{number} list the same file {same_file} with different "
                f"labels ({first.original_label!r}, {record.original_label!r})"
            )
        else:
            reason = f"listed again in {manifest}:{number} (row {first_number} is kept)"
            result.skipped.append(SkippedFile(record.path, reason))
    if problems:
        raise ManifestError("\n".join([f"{len(problems)} bad row(s) in {manifest}:"] + problems))
    result.records.sort(key=lambda record: record.path)
    return result


def read_dimension_columns(columns, manifest) -> dict[str, tuple[str, tuple[float, float]]]:
    """{dimension: (column, (low, high))} for the dimension columns among `columns` (module docstring). A column
    named like a dimension with a scale that cannot be read, a scale without extent, or a dimension in two columns
    raise ManifestError."""
    found, problems = {}, []
    for column in columns:
        text = str(column)
        match = _DIMENSION_COLUMN.fullmatch(text)
        if match is None:
            name = text.strip().lower()
            rest = [name[len(dimension) :].lstrip() for dimension in DIMENSIONS if name.startswith(dimension)]
            if rest and rest[0][:1] in ("[", "("):  # meant as a scale
                problems.append(f"column {text!r}: declare the scale as NAME[LOW..HIGH], e.g. arousal[1..5]")
            continue
        dimension = match[1].lower()
        scale = (float(match[2]), float(match[3])) if match[2] is not None else (0.0, 1.0)
        if scale[0] == scale[1]:
            problems.append(f"column {text!r}: the scale's ends are equal")
        elif dimension in found:
            problems.append(f"columns {found[dimension][0]!r} and {text!r} both give {dimension}")
        else:
            found[dimension] = (text, scale)
    if problems:
        raise ManifestError(f"{manifest}: " + "; ".join(problems))
    return found


def _ratings(row: dict, dimension_columns: dict) -> dict[str, float | None]:
    """The row's ratings in [0, 1] by dimension; ValueError naming the column of a value that is not usable."""
    ratings = {}
    for name, (column, scale) in dimension_columns.items():
        try:
            ratings[name] = unit_interval(row.get(column), scale)
        except ValueError as error:
            raise ValueError(f"{column}: {error}") from None
    return ratings


def _path_values(row) -> set[str]:
    """The file names the row gives in its path columns (empty when the row is not an object)."""
    if not isinstance(row, dict):
        return set()
    return {str(row.get(column) or "").strip() for column in PATH_COLUMNS} - {""}


__all__ = ["PATH_COLUMNS", "read_dimension_columns", "read_manifest"]

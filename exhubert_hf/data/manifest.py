"""Generic CSV / JSONL manifests, for corpora without an adapter (`manifest:NAME=FILE`)."""

import csv
import json
from pathlib import Path

from .records import ClipRecord, CorpusScan, ManifestError, normalise_gender, normalise_split


def read_manifest(manifest) -> CorpusScan:
    """Clips listed in a CSV (header row) or JSONL file: path, label, and optionally speaker, split,
    language, gender. Relative paths are relative to the manifest's folder. Missing files are kept (and
    reported as skipped when decoded); malformed rows raise ManifestError listing all of them.
    """
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
            missing = {"path", "label"} - set(reader.fieldnames or ())
            if missing:
                raise ManifestError(f"{manifest}: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
            rows = list(enumerate(reader, 2))
    result, problems = CorpusScan(), []
    for number, row in rows:
        if not isinstance(row, dict) or not str(row.get("path") or "").strip() or not str(row.get("label") or "").strip():
            problems.append(f"{manifest}:{number}: needs non-empty 'path' and 'label'")
            continue
        try:
            split = normalise_split(row.get("split"))
        except ValueError as error:
            problems.append(f"{manifest}:{number}: {error}")
            continue
        path = Path(str(row["path"]).strip())
        path = path if path.is_absolute() else manifest.parent / path
        result.records.append(
            ClipRecord(
                str(path.absolute()),
                str(row["label"]).strip(),
                str(row.get("speaker") or "").strip(),
                normalise_gender(row.get("gender")),
                str(row.get("language") or "").strip().lower(),
                split,
            )
        )
    if problems:
        raise ManifestError("\n".join([f"{len(problems)} bad row(s) in {manifest}:"] + problems))
    result.records.sort(key=lambda record: record.path)
    return result


__all__ = ["read_manifest"]

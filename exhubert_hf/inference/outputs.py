"""Prediction tables and embeddings as files: the formats of `exhubert predict` and `exhubert embed`.

Every file is written beside its target under a temporary name and renamed when complete
(`exhubert_hf.fileio`), so an existing output is never left truncated, and replaced only with `overwrite`.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..fileio import atomic_file, check_writable
from .results import Embeddings

FORMATS = ("table", "csv", "jsonl", "json")
FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".txt": "table"}
EMBEDDING_SUFFIXES = (".npy", ".parquet")


def output_format(requested: str | None, output: Path | None) -> str:
    """The format asked for, else the one `output`'s suffix implies, else a readable table."""
    if requested is not None:
        if requested not in FORMATS:
            raise UsageError(f"unknown format {requested!r}; use one of {', '.join(FORMATS)}")
        return requested
    return FORMAT_BY_SUFFIX.get(output.suffix.lower() if output else "", "table")


def format_predictions(frame: pd.DataFrame, fmt: str) -> str:
    """The prediction table as text: csv, jsonl (one record per line), json (an array) or a readable table
    (file, window, times, the class probabilities, top class and marginals)."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt in ("jsonl", "json"):
        text = frame.to_json(orient="records", lines=fmt == "jsonl", force_ascii=False, double_precision=15)
        return text if text.endswith("\n") else text + "\n"
    if fmt == "table":
        if frame.empty:
            return "(no rows)\n"
        table = frame.copy()
        table["window"] = [("" if pd.isna(value) else int(value)) for value in table["window"]]
        return table.to_string(index=False, float_format=lambda value: f"{value:.3f}", na_rep="") + "\n"
    raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def write_text(text: str, output: Path, overwrite: bool) -> None:
    with atomic_file(output, overwrite, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def embedding_outputs(output: Path) -> list[Path]:
    """The files `write_embeddings` writes for `output` (checked before any work is done)."""
    suffix = output.suffix.lower()
    if suffix not in EMBEDDING_SUFFIXES:
        raise UsageError(f"--output must end in .npy or .parquet, got {output.name}")
    return [output, output.with_suffix(".files.txt")] if suffix == ".npy" else [output]


def check_outputs(outputs: list[Path], overwrite: bool) -> None:
    for path in outputs:
        check_writable(path, overwrite)
        if path.is_dir():
            raise UsageError(f"{path} is a folder; give a file name")


def write_embeddings(embeddings: Embeddings, output: Path, overwrite: bool, metadata: dict | None = None) -> None:
    """OUT.npy (files x dimensions, float32) with the file names, one per line, in OUT.files.txt; or OUT.parquet
    with a `file` column and a fixed-size-list float32 `embedding` column (and the layer and `metadata` in the
    schema metadata)."""
    vectors = np.ascontiguousarray(embeddings.vectors, dtype=np.float32)
    if output.suffix.lower() == ".npy":
        with atomic_file(output, overwrite, "wb") as handle:
            np.save(handle, vectors)
        names = "".join(f"{name}\n" for name in embeddings.files)
        write_text(names, output.with_suffix(".files.txt"), overwrite)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "file": pa.array(embeddings.files, pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1]),
        }
    )
    metadata = {"layer": str(embeddings.layer), **(metadata or {})}
    table = table.replace_schema_metadata({f"exhubert.{key}": value for key, value in metadata.items()})
    with atomic_file(output, overwrite, "wb") as handle:
        pq.write_table(table, handle)


__all__ = [
    "EMBEDDING_SUFFIXES",
    "FORMATS",
    "check_outputs",
    "embedding_outputs",
    "format_predictions",
    "output_format",
    "write_embeddings",
    "write_text",
]

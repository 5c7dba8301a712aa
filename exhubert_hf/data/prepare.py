"""`prepare_corpora`: emotional-speech corpora in their original layout -> one cached training dataset.

    result = prepare_corpora({"emodb": "data/emodb", "urdu": "data/urdu", "manifest:mine": "mine.csv"})
    result.dataset["train"]          # datasets.Dataset with exhubert_hf.data.schema.prepared_features()
    print(result.summary())          # clips per split, hours, skipped files per corpus

The steps have their own modules: `plan` (list, label and split every clip, nothing decoded), `cache` (the
key and the cache folder), `build` (decode and write). This module ties them together and formats the summary.
"""

import os
import shutil
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path

from ..fileio import publish_folder, staging_path
from .build import build_prepared
from .cache import PreparedCorpora, cache_key, default_cache_dir, is_complete, load_prepared, remove_abandoned
from .plan import plan_corpora
from .schema import SPLITS


def prepare_corpora(
    corpora: "Mapping[str, str | os.PathLike]",
    cache_dir: "str | os.PathLike | None" = None,
    seed: int = 0,
    rebuild: bool = False,
    show_progress: bool = True,
    num_proc: int = 1,
    own_splits: "Collection[str]" = (),
) -> PreparedCorpora:
    """Prepare (or load from the cache) the six-class dataset of the given corpora.

    `corpora` maps a registry name (`exhubert_hf.data.corpora.CORPORA`) to the corpus's root folder, or
    "manifest:NAME" to a CSV/JSONL manifest file (NAME becomes the corpus column). `rebuild` builds the cache
    entry again even if it exists. `num_proc` > 1 decodes in that many worker processes. `own_splits` names corpora
    whose own split is kept although it shares speakers between its parts (default: made speaker-independent).
    """
    plan = plan_corpora(corpora, seed, own_splits)
    key = cache_key(plan, seed)
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = cache_root / key
    if not rebuild and is_complete(final):
        return load_prepared(final, from_cache=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    remove_abandoned(cache_root, key)
    staging = staging_path(final)
    try:
        build_prepared(plan, staging, key, seed, show_progress, max(1, int(num_proc)))
        if not rebuild and is_complete(final):  # another process finished the same key first
            return load_prepared(final, from_cache=True)
        publish_folder(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return load_prepared(final, from_cache=False)


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

    table = [line(header), line(["-" * w for w in widths]), *map(line, rows[:-1]), line(["-" * w for w in widths]), line(rows[-1])]
    resplit = [name for name, corpus in info["corpora"].items() if "resplit" in corpus["split_sources"]]
    if resplit:  # the paper's splits are speaker-independent; say where the corpus's own split was not used
        table.append(
            f"resplit: the own split of {', '.join(resplit)} puts speakers in more than one of train/validation/test, so a "
            "speaker-independent split was made instead (own splits kept with --own-splits NAME)"
        )
    return "\n".join(table)



__all__ = ["format_summary", "prepare_corpora"]

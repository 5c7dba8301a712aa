"""`prepare_corpora`: emotional-speech corpora in their original layout -> one training dataset, cached per corpus.

    result = prepare_corpora({"emodb": "data/emodb", "urdu": "data/urdu", "manifest:mine": "mine.csv"})
    result.dataset["train"]          # datasets.Dataset with exhubert_hf.data.schema.prepared_features()
    print(result.summary())          # clips per split, hours, skipped files per corpus

The steps have their own modules: `plan` (list, label and split every clip, nothing decoded), `cache` (one entry
per corpus, its key and lock), `build` (decode and write an entry). This module ties them together: corpora whose
entry is missing are decoded (one progress bar for all of them), and each split of the result is
`datasets.concatenate_datasets` of the corpora's memory-mapped splits, corpora in name order, so the round-robin
sampler finds each corpus's rows through the `corpus` column.
"""

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import DatasetDict, NamedSplit, concatenate_datasets, load_from_disk
from tqdm.auto import tqdm

from ..configuration_exhubert import SAMPLING_RATE
from ..errors import UsageError
from ..fileio import owned_staging, remove_abandoned, staged_folder
from .build import decode_shards, shard_jobs, write_entry_files
from .cache import (
    INFO_FILE,
    PREPARE_FORMAT_VERSION,
    SPLITS_FILE,
    PrepareSettings,
    cache_key,
    check_entry,
    default_cache_dir,
    entry_lock,
    load_entry,
    publish_entry,
    read_info,
)
from .labels import load_label_mapping
from .plan import EmptyCorpusError, PreparedRecords, UnlabeledClip, plan_corpora
from .records import SkippedFile
from .schema import AUDIO_DTYPES, DEFAULT_AUDIO_DTYPE, SPLITS

# Files whose decoded audio lasts longer are skipped (`--max-seconds`): emotion corpora hold utterances of
# seconds (the longest in IEMOCAP or MELD well under a minute), training crops clips to a few seconds, and the
# limit bounds what one file can cost: 10 minutes are 38 MB of float32 at 16 kHz.
DEFAULT_MAX_SECONDS = 600.0
# Above a day one clip's samples would overflow an Arrow list's 32-bit offsets.
MAX_SECONDS_LIMIT = 86400.0


@dataclass
class PreparedCorpora:
    """The prepared DatasetDict, what was left out, and the cache entry of every corpus.

    `dataset[split]` concatenates the corpora's splits (corpora in name order) and reads `audio` as NumPy arrays
    (int16 or float32, as stored; `AudioCollator` turns both into float32). `decoded` names the corpora this call
    decoded; the others came from the cache."""

    dataset: DatasetDict
    skipped: list[SkippedFile]
    unlabeled: list[UnlabeledClip]
    info: dict
    entries: dict[str, Path]
    decoded: list[str]

    @property
    def from_cache(self) -> bool:
        return not self.decoded

    @property
    def split_assignment(self) -> dict[str, str]:
        """path -> split for every clip in the dataset (read from the corpora's splits.csv)."""
        return {row["path"]: row["split"] for row in csv.DictReader(io.StringIO(self._splits_csv()))}

    def summary(self) -> str:
        return format_summary(self.info)

    def save(self, output, overwrite: bool = False, show_progress: bool = False) -> Path:
        """Write the dataset (`load_from_disk` reads it) and its prepare_info.json / splits.csv to the folder
        `output`. An existing non-empty `output` is replaced only with `overwrite` (`OutputExistsError`); an
        `output` that is, contains or lies inside a corpus, or the cache, is refused (`UsageError`)."""
        roots = [(name, corpus["adapter"], corpus["root"]) for name, corpus in self.info["corpora"].items()]
        paths = (path for split in self.dataset.values() for path in split["path"])
        check_output(output, roots, paths, next(iter(self.entries.values())).parent)
        with staged_folder(output, overwrite) as staging:
            self.write_to(staging, show_progress)
        return Path(output).expanduser()

    def write_to(self, folder: Path, show_progress: bool = False) -> None:
        """Write the dataset, prepare_info.json and splits.csv into the existing empty `folder`."""
        with datasets_progress_bars_off():
            total = sum(len(split) for split in self.dataset.values())
            bar = tqdm(total=total, desc="exhubert prepare: writing the output", unit="clip", disable=not show_progress)
            with bar:
                # DatasetDict.save_to_disk's layout, one split at a time for one progress bar
                for split in SPLITS:
                    part = self.dataset[split]
                    part.save_to_disk(str(folder / split), num_shards=1 if len(part) == 0 else None)
                    bar.update(len(part))
            (folder / datasets.config.DATASETDICT_JSON_FILENAME).write_text(json.dumps({"splits": list(SPLITS)}))
            info = json.dumps(self.info, indent=1, ensure_ascii=False) + "\n"
            (folder / INFO_FILE).write_text(info, encoding="utf-8")
            (folder / SPLITS_FILE).write_text(self._splits_csv(), encoding="utf-8", newline="")
            load_from_disk(str(folder))  # never publish an output that does not load

    def _splits_csv(self) -> str:
        entries = [entry for _, entry in sorted(self.entries.items())]
        texts = [(entry / SPLITS_FILE).read_text(encoding="utf-8").splitlines(keepends=True) for entry in entries]
        return "".join(texts[0][:1] + [line for lines in texts for line in lines[1:]])


def prepare_corpora(
    corpora: "Mapping[str, str | os.PathLike]",
    cache_dir: "str | os.PathLike | None" = None,
    seed: int = 0,
    rebuild: bool = False,
    show_progress: bool = True,
    num_proc: int = 1,
    audio_dtype: str = DEFAULT_AUDIO_DTYPE,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    output: "str | os.PathLike | None" = None,
    overwrite: bool = False,
    own_splits: "Collection[str]" = (),
) -> PreparedCorpora:
    """Prepare (or load from the cache) the six-class dataset of the given corpora.

    `corpora` maps a registry name (`exhubert_hf.data.corpora.CORPORA`) to the corpus's root folder, or
    "manifest:NAME" to a CSV/JSONL manifest file (NAME becomes the corpus column). Each corpus is cached on its
    own; `rebuild` decodes every one again. `num_proc` > 1 decodes in that many processes. `audio_dtype` is how
    samples are stored ("int16" PCM, or "float32"); files longer than `max_seconds` are skipped. `output` also
    writes the dataset there (`PreparedCorpora.save`), checked before anything is decoded. `own_splits` names
    corpora whose own split is kept although it shares speakers between its parts (default: made
    speaker-independent).

    Raises CorpusSpecError, ManifestError, UnknownLabelError before decoding, EmptyCorpusError for a corpus
    without a usable clip, OutputExistsError / UsageError for an `output` that exists or would destroy input.
    """
    settings = _settings(seed, audio_dtype, max_seconds)
    if isinstance(num_proc, bool) or not isinstance(num_proc, int) or num_proc < 1:
        raise UsageError(f"num_proc must be a positive integer, got {num_proc!r}")
    plan = plan_corpora(corpora, seed, own_splits)
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if output is None:
        return _prepare(plan, cache_root, settings, rebuild, show_progress, num_proc)
    roots = [(spec.name, spec.adapter, spec.root) for spec in plan.specs]
    check_output(output, roots, (record.path for record in plan.records), cache_root)
    with staged_folder(output, overwrite) as staging:
        result = _prepare(plan, cache_root, settings, rebuild, show_progress, num_proc)
        result.write_to(staging, show_progress)
    return result


def _settings(seed, audio_dtype, max_seconds) -> PrepareSettings:
    if audio_dtype not in AUDIO_DTYPES:
        raise UsageError(f"audio_dtype must be one of {', '.join(AUDIO_DTYPES)}, got {audio_dtype!r}")
    if not isinstance(max_seconds, (int, float)) or not (0 < max_seconds <= MAX_SECONDS_LIMIT):
        raise UsageError(f"max_seconds must be a number in (0, {MAX_SECONDS_LIMIT:g}], got {max_seconds!r}")
    return PrepareSettings(int(seed), audio_dtype, float(max_seconds))


def _prepare(plan: PreparedRecords, cache_root: Path, settings, rebuild, show_progress, num_proc) -> PreparedCorpora:
    parts = {spec.name: plan.for_corpus(spec) for spec in plan.specs}
    entries = {name: cache_root / cache_key(part, settings) for name, part in sorted(parts.items())}
    cache_root.mkdir(parents=True, exist_ok=True)
    remove_abandoned(cache_root)
    missing = [name for name, entry in entries.items() if rebuild or read_info(entry) is None]
    if missing:
        _build(missing, parts, entries, settings, rebuild, show_progress, num_proc)
    loaded, infos = {}, {}
    for name, entry in entries.items():
        with entry_lock(entry):
            infos[name] = read_info(entry)
            if infos[name] is None:
                raise OSError(f"the cache entry {entry} of {name} was removed while preparing; run again")
            loaded[name] = load_entry(entry, infos[name])
    splits = {}
    for split in SPLITS:
        pieces = [loaded[name][split] for name in entries]
        joined = pieces[0] if len(pieces) == 1 else concatenate_datasets(pieces, split=NamedSplit(split))
        splits[split] = joined.with_format(
            "numpy", columns=["audio"], output_all_columns=True, dtype=settings.audio_dtype
        )
    from .. import __version__

    skipped = sorted(SkippedFile(*item) for info in infos.values() for item in info["skipped"])
    unlabeled = [UnlabeledClip(*item) for info in infos.values() for item in info["unlabeled"]]
    info = {
        "format": PREPARE_FORMAT_VERSION,
        "exhubert_hf_version": __version__,
        "label_mapping_sha256": load_label_mapping().sha256,
        "sampling_rate": SAMPLING_RATE,
        **settings.as_dict(),
        "corpora": {name: {**entry["summary"], "cache_key": entry["key"]} for name, entry in infos.items()},
        "skipped": [list(item) for item in skipped],
        "unlabeled": [list(item) for item in unlabeled],
    }
    return PreparedCorpora(DatasetDict(splits), skipped, unlabeled, info, entries, missing)


def _build(names, parts, entries, settings, rebuild, show_progress, num_proc) -> None:
    """Decode the corpora `names` into entries of their own (one progress bar) and publish those with clips."""
    with ExitStack() as stack:
        stagings = {name: stack.enter_context(owned_staging(entries[name])) for name in names}
        jobs = {name: shard_jobs(parts[name], stagings[name], settings, num_proc) for name in names}
        results = iter(decode_shards([job for name in names for job in jobs[name]], num_proc, show_progress))
        unusable = []
        for name in names:
            corpus_results = [next(results) for _ in jobs[name]]
            staging, key = stagings[name], entries[name].name
            info = write_entry_files(staging, parts[name], key, settings, jobs[name], corpus_results)
            if not any(result.kept for result in corpus_results):
                failed = [item for result in corpus_results for item in result.skipped]
                example = f"{failed[0].path}: {failed[0].reason}"
                unusable.append(f"{name}: none of its {len(failed)} file(s) could be decoded (e.g. {example})")
                continue
            check_entry(staging, info)  # never publish an entry that does not read back
            publish_entry(staging, entries[name], replace=rebuild)
    if unusable:
        raise EmptyCorpusError("; ".join(unusable))


def check_output(output, roots: Iterable[tuple], paths: Iterable[str], cache_root: Path) -> None:
    """Refuse an `output` folder that replacing would destroy input: the current folder or one above it, a corpus
    root (or a folder inside one, or one holding one), a manifest or a file it lists, or the prepare cache.
    `roots` are (name, adapter, root) triples."""
    target = Path(os.path.realpath(Path(output).expanduser()))
    here = Path(os.path.realpath(os.getcwd()))
    if target == here or target in here.parents:
        raise UsageError(
            f"--output {output} is the current folder or a folder above it; give a new folder for the dataset"
        )

    def refuse(what: str, path) -> None:
        path = Path(os.path.realpath(path))
        relation = "is" if target == path else "contains" if target in path.parents else "lies inside"
        raise UsageError(f"--output {output} {relation} {what} ({path}); write the prepared dataset elsewhere")

    for name, adapter, root in roots:
        root = Path(os.path.realpath(root))
        if adapter == "manifest" and (target == root or target in root.parents):
            refuse(f"the manifest of {name}", root)
        if adapter != "manifest" and (target == root or target in root.parents or root in target.parents):
            refuse(f"the root of the corpus {name}", root)
    cache_root = Path(os.path.realpath(cache_root))
    if target == cache_root or target in cache_root.parents or cache_root in target.parents:
        refuse("the prepare cache", cache_root)
    prefixes = tuple({str(target) + os.sep, os.path.abspath(Path(output).expanduser()) + os.sep})
    inside = next((path for path in map(os.path.abspath, paths) if path.startswith(prefixes)), None)
    if inside is not None:
        raise UsageError(
            f"--output {output} contains {inside}, a file of the corpora; write the prepared dataset elsewhere"
        )


@contextmanager
def datasets_progress_bars_off():
    """datasets' own bars off while we show ours (one bar per long step)."""
    were_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not were_disabled:
            datasets.enable_progress_bars()


def format_summary(info: dict) -> str:
    """A per-corpus table: clips per split, hours, speakers, split source, skipped and unlabeled counts; then the
    corpora with continuous ratings (clips per dimension)."""
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
    rated = {name: corpus["dimensions"] for name, corpus in info["corpora"].items() if corpus.get("dimensions")}
    if rated:
        counts = {name: ", ".join(f"{count} {dimension}" for dimension, count in given.items()) for name, given in rated.items()}
        table.append("clips with continuous ratings: " + "; ".join(f"{name} ({count})" for name, count in counts.items()))
    resplit = [name for name, corpus in info["corpora"].items() if "resplit" in corpus["split_sources"]]
    if resplit:  # the paper's splits are speaker-independent; say where the corpus's own split was not used
        table.append(
            f"resplit: the own split of {', '.join(resplit)} puts speakers in more than one of train/validation/test, so a "
            "speaker-independent split was made instead (own splits kept with --own-splits NAME)"
        )
    return "\n".join(table)


__all__ = [
    "DEFAULT_MAX_SECONDS",
    "MAX_SECONDS_LIMIT",
    "PreparedCorpora",
    "check_output",
    "format_summary",
    "prepare_corpora",
]

"""The plan of a prepare: which clips of which corpora, with which six-class label, in which split.

    plan = plan_corpora({"emodb": "data/emodb", "manifest:mine": "mine.csv"}, seed=0)

Each corpus's adapter (`exhubert_hf.data.corpora`) lists its clips without decoding; every original label is
mapped to the six classes (`exhubert_hf.data.labels`, all unknown labels reported at once); `splits` assigns
train/validation/test. Nothing is decoded here: `build` does that.

Corpora are named three ways on the way in: command-line / config *entries* `NAME=ROOT`, a *mapping*
{name: root}, and validated `CorpusSpec`s; the dataset's `corpus` column holds the spec's name.
"""

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ..errors import InputError
from .corpora import CORPORA, scan_corpus
from .labels import MANIFEST_SECTION, load_label_mapping
from .manifest import read_manifest
from .records import ClipRecord, SkippedFile
from .splits import assign_splits

MANIFEST_PREFIX = "manifest:"


class CorpusSpecError(InputError):
    """An unusable corpus argument: unknown corpus name or a root that does not exist."""


class EmptyCorpusError(InputError):
    """A corpus with no clip to prepare: no audio files, or every one of them skipped or unlabeled."""


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
    """A clip with its six-class label, split and continuous ratings (in [0, 1], None where unknown), before
    decoding."""

    path: str
    corpus: str
    original_label: str
    label: int
    speaker: str
    gender: str
    language: str
    split: str
    split_source: str
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None


class UnlabeledClip(NamedTuple):
    """A clip whose label the mapping marks as no emotion (null), e.g. IEMOCAP's "xxx"."""

    corpus: str
    path: str
    original_label: str


@dataclass
class PreparedRecords:
    """What `plan_corpora` finds: labelled, split clips plus what was left out, nothing decoded."""

    specs: list[CorpusSpec]
    records: list[PreparedRecord]
    skipped: list[SkippedFile] = field(default_factory=list)
    unlabeled: list[UnlabeledClip] = field(default_factory=list)
    skipped_corpus: dict[str, str] = field(default_factory=dict)  # path of a skipped file -> corpus name

    def for_corpus(self, spec: CorpusSpec) -> "PreparedRecords":
        """The part of the plan that belongs to one corpus (each corpus is cached on its own)."""
        return PreparedRecords(
            [spec],
            [r for r in self.records if r.corpus == spec.name],
            [item for item in self.skipped if self.skipped_corpus.get(item.path) == spec.name],
            [item for item in self.unlabeled if item.corpus == spec.name],
            {path: name for path, name in self.skipped_corpus.items() if name == spec.name},
        )


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


def plan_corpora(
    corpora: "Mapping[str, str | os.PathLike] | list[CorpusSpec]", seed: int = 0, own_splits: Collection[str] = ()
) -> PreparedRecords:
    """List, label and split every clip of the given corpora without decoding any audio. `own_splits` names the
    corpora whose own split is kept even where it shares speakers between its parts (`splits.assign_splits`).

    Raises CorpusSpecError for unknown corpora or missing roots, corpora.ManifestError for bad manifests,
    labels.UnknownLabelError naming every unmapped label and all files that carry it, and EmptyCorpusError
    naming every corpus that has no labelled clip.
    """
    specs = corpora if isinstance(corpora, list) else parse_corpus_specs(corpora)
    unknown = sorted(set(own_splits) - {spec.name for spec in specs})
    if unknown:
        raise CorpusSpecError(f"own splits asked for {', '.join(unknown)}, which is not among the corpora given")
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
            [c.speaker for c, _ in kept], [c.split for c, _ in kept], seed, spec.name, [label for _, label in kept],
            keep_own=spec.name in own_splits,
        )
        default_language = "" if spec.adapter == "manifest" else CORPORA[spec.adapter].language
        for (clip, label), (split, source) in zip(kept, assigned):
            records.append(
                PreparedRecord(
                    clip.path, spec.name, clip.original_label, label, clip.speaker, clip.gender,
                    clip.language or default_language, split, source, clip.arousal, clip.valence, clip.dominance,
                )
            )  # fmt: skip
    plan = PreparedRecords(specs, records, sorted(skipped), sorted(unlabeled), skipped_corpus)
    _check_not_empty(plan)
    return plan


def _check_not_empty(plan: PreparedRecords) -> None:
    problems, with_clips = [], {record.corpus for record in plan.records}
    for spec in plan.specs:
        if spec.name in with_clips:
            continue
        part = plan.for_corpus(spec)
        where = f"manifest {spec.root}" if spec.adapter == "manifest" else spec.root
        if part.skipped:
            example = part.skipped[0]
            problems.append(
                f"{spec.name}: all {len(part.skipped)} file(s) in {where} were skipped "
                f"(e.g. {example.path}: {example.reason})"
            )
        elif part.unlabeled:
            count = len(part.unlabeled)
            problems.append(f"{spec.name}: all {count} clip(s) in {where} carry labels mapped to no emotion")
        else:
            problems.append(f"{spec.name}: no audio files found in {where}")
    if problems:
        raise EmptyCorpusError("; ".join(problems))


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


__all__ = [
    "MANIFEST_PREFIX",
    "CorpusSpec",
    "CorpusSpecError",
    "EmptyCorpusError",
    "PreparedRecord",
    "PreparedRecords",
    "UnlabeledClip",
    "parse_corpus_entries",
    "parse_corpus_specs",
    "plan_corpora",
]

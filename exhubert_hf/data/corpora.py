"""Corpus adapters: list the clips of an emotional-speech corpus in its original distribution layout.

Each adapter reads one corpus as its authors distribute it (file names, folder names, shipped metadata)
from a root folder and returns `ClipRecord`s: path, the corpus's own emotion label, speaker, gender,
language and, where the corpus ships one, its own split. Nothing is decoded here. Files whose names do
not follow the corpus's convention are returned as `SkippedFile`s with the reason, never guessed at.

`CORPORA` maps registry names to adapters; `scan_corpus(name, root)` runs one. The adapters live by the part
their corpus plays in the paper (`roles`): `emoset_corpora` (EmoSet++) and `other_corpora` (Table 2's unseen
test corpora and this package's extras). Corpora without an adapter are read from a manifest
(`exhubert_hf.data.manifest`). Labels are mapped to the six ExHuBERT classes by `exhubert_hf.data.labels`
(label_mapping.yaml), not here.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import emoset_corpora, other_corpora
from .records import ClipRecord, CorpusScan, SkippedFile


@dataclass(frozen=True)
class CorpusAdapter:
    name: str
    title: str
    language: str
    scan_function: Callable[[Path], Iterable["ClipRecord | SkippedFile"]]

    def scan(self, root) -> CorpusScan:
        root = Path(root)
        if not root.is_dir():
            raise NotADirectoryError(f"{self.name}: corpus root {root} is not a folder")
        result = CorpusScan()
        for item in self.scan_function(root):
            (result.records if isinstance(item, ClipRecord) else result.skipped).append(item)
        result.records.sort(key=lambda record: record.path)
        result.skipped.sort(key=lambda skipped: skipped.path)
        return result


CORPORA: dict[str, CorpusAdapter] = {
    name: CorpusAdapter(name, title, language, scan_function)
    for name, title, language, scan_function in (*emoset_corpora.ADAPTERS, *other_corpora.ADAPTERS)
}


def scan_corpus(name: str, root) -> CorpusScan:
    """Records and unparseable files of a registered corpus at `root`."""
    if name not in CORPORA:
        raise KeyError(f"unknown corpus {name!r}; known: {', '.join(sorted(CORPORA))} (or manifest:NAME)")
    return CORPORA[name].scan(root)


__all__ = ["CORPORA", "CorpusAdapter", "scan_corpus"]

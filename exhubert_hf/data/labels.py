"""From a corpus's own emotion labels to the six ExHuBERT classes, through `label_mapping.yaml`.

Each corpus label is mapped to a canonical emotion, and each canonical emotion to an arousal level
(low/high) and a valence level (negative/neutral/positive) on Russell's circumplex; the class index is
`emotion_class(arousal, valence)`. Labels mapped to null (e.g. IEMOCAP's "xxx") are "unlabeled": the clip
is left out and reported. A label with no entry at all is an error (`UnknownLabelError`) that names every
unknown label and every file carrying it, collected over the whole input before raising.
"""

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import yaml

from ..configuration_exhubert import AROUSAL_LEVELS, EXHUBERT_LABELS, VALENCE_LEVELS, emotion_class
from ..errors import InputError

MAPPING_FILE = "label_mapping.yaml"
# The label section used for generic manifests (see manifest.read_manifest).
MANIFEST_SECTION = "manifest"


class UnknownLabelError(InputError):
    """Original labels with no entry in the label mapping, with every file that carries each of them."""

    def __init__(self, unknown: dict[tuple[str, str], list[str]]):
        self.unknown = {key: sorted(files) for key, files in sorted(unknown.items())}
        lines = [f"{len(self.unknown)} label(s) have no arousal/valence mapping in {MAPPING_FILE}:"]
        for (corpus, label), files in self.unknown.items():
            lines.append(f"  {corpus}: {label!r} ({len(files)} file(s))")
            lines.extend(f"    {path}" for path in files)
        super().__init__("\n".join(lines))

    @property
    def labels(self) -> list[tuple[str, str]]:
        return list(self.unknown)

    @property
    def files(self) -> list[str]:
        return [path for files in self.unknown.values() for path in files]


@dataclass(frozen=True)
class LabelMapping:
    """The parsed mapping: canonical emotions and, per corpus section, original label -> (arousal, valence) or None."""

    emotions: dict[str, tuple[str, str]]
    sections: dict[str, dict[str, tuple[str, str] | None]]
    sha256: str

    def lookup(self, section: str, original_label: str) -> tuple[str, str] | None:
        """(arousal, valence) for a label, None for an explicitly unlabeled one; KeyError when unmapped."""
        key = _normalise(original_label)
        table = self.sections.get(section, {})
        if key in table:
            return table[key]
        if section == MANIFEST_SECTION:
            if key in self.emotions:
                return self.emotions[key]
            for index, name in enumerate(EXHUBERT_LABELS):
                if key == _normalise(name):
                    return AROUSAL_LEVELS[index // 3], VALENCE_LEVELS[index % 3]
        raise KeyError((section, original_label))

    def class_index(self, section: str, original_label: str) -> int | None:
        """Six-class index of a label, or None when the mapping marks it unlabeled (null)."""
        pair = self.lookup(section, original_label)
        return None if pair is None else emotion_class(*pair)

    def map_labels(self, items: Iterable[tuple[str, str, str]]) -> list[int | None]:
        """Class indices for (section, original_label, path) items; raises UnknownLabelError naming all gaps."""
        indices: list[int | None] = []
        unknown: dict[tuple[str, str], list[str]] = {}
        for section, label, path in items:
            try:
                indices.append(self.class_index(section, label))
            except KeyError:
                unknown.setdefault((section, label), []).append(str(path))
                indices.append(None)
        if unknown:
            raise UnknownLabelError(unknown)
        return indices


def _normalise(label: str) -> str:
    return " ".join(str(label).strip().lower().replace("_", " ").split())


def _pair(value, where: str, emotions: dict[str, tuple[str, str]] | None) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        arousal, valence = (str(v).strip().lower() for v in value)
        emotion_class(arousal, valence)  # validates
        return arousal, valence
    if isinstance(value, str) and emotions is not None:
        name = _normalise(value)
        if name not in emotions:
            raise ValueError(f"{MAPPING_FILE}: {where} refers to {value!r}, which is not a canonical emotion")
        return emotions[name]
    raise ValueError(f"{MAPPING_FILE}: {where} must be [arousal, valence]" + (", an emotion name or null" if emotions else ""))


def parse_label_mapping(text: str) -> LabelMapping:
    data = yaml.safe_load(text) or {}
    emotions = {}
    for name, value in (data.get("emotions") or {}).items():
        pair = _pair(value, f"emotions.{name}", None)
        if pair is None:
            raise ValueError(f"{MAPPING_FILE}: emotions.{name} must not be null")
        emotions[_normalise(name)] = pair
    sections = {}
    for corpus, table in (data.get("corpora") or {}).items():
        sections[corpus] = {
            _normalise(label): _pair(value, f"corpora.{corpus}.{label}", emotions) for label, value in (table or {}).items()
        }
    return LabelMapping(emotions, sections, hashlib.sha256(text.encode("utf-8")).hexdigest())


@functools.lru_cache(maxsize=1)
def load_label_mapping() -> LabelMapping:
    """The package's label_mapping.yaml, parsed and validated (cached)."""
    text = resources.files("exhubert_hf").joinpath("data", MAPPING_FILE).read_text(encoding="utf-8")
    return parse_label_mapping(text)


__all__ = [
    "MANIFEST_SECTION",
    "LabelMapping",
    "UnknownLabelError",
    "load_label_mapping",
    "parse_label_mapping",
]

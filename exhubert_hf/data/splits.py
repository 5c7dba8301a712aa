"""Train/validation/test assignment for one corpus, deterministic for a seed.

The paper makes every split speaker-independent. In order of preference, per clip:
1. "corpus": the corpus's own split, where its adapter gives one (ESD, MELD, a manifest's split column), if it is
   speaker-independent (no speaker in two of its parts) or the user asks to keep it (`keep_own`).
   "resplit": an own split that shares speakers between its parts (ESD's reuses every speaker in each part) is
   replaced by a speaker-independent split (2.) by default, where one can be made (speakers known, >= 3).
2. "speaker": a speaker-independent split: no speaker in two splits, about 80/10/10 by clip count.
   Speakers are shuffled with a seed derived from (seed, corpus). When the clips' labels are known, every
   class that at least MIN_SPEAKERS speakers carry gets one of its speakers in each of train, validation and
   test first (rarest class first), so no split silently lacks a class a split could have; URDU's anger,
   carried by four of its 29 speakers, otherwise ends up in train alone for many speaker orders. Then test
   and validation each get a speaker if they have none, and every further speaker goes to whichever of
   test/validation is furthest below its target while adding it brings that split closer to the target;
   otherwise to train (which always keeps at least one speaker). Needs >= 3 speakers. With labels,
   SPLIT_CANDIDATES such assignments (from differently seeded speaker orders) are scored and the best kept:
   first every such class in every split, then the class mix of validation and test as close as possible to
   the corpus's (total variation distance) and their sizes to 10 % each. This matters where speakers carry
   mostly one emotion (URDU's talk-show speakers).
3. "random": a seeded random 10 % validation / 10 % test split of the clips, for corpora (or clips)
   without speaker ids or with fewer than 3 speakers.
"""

import hashlib
import random
from collections import Counter
from collections.abc import Sequence

from .schema import SPLITS

VALIDATION_FRACTION = 0.1
TEST_FRACTION = 0.1
MIN_SPEAKERS = 3
SPLIT_CANDIDATES = 256


def _rng(seed: int, corpus: str, what: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\0{corpus}\0{what}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def speaker_split(
    speaker_counts: dict[str, int], seed: int = 0, corpus: str = "", speaker_labels: dict[str, Counter] | None = None
) -> dict[str, str]:
    """Split name for each speaker, given clips per speaker (needs at least MIN_SPEAKERS speakers) and,
    optionally, each speaker's label counts (then the best of SPLIT_CANDIDATES splits: every class carried by at
    least MIN_SPEAKERS speakers in every split if possible, then the most label-balanced)."""
    if len(speaker_counts) < MIN_SPEAKERS:
        raise ValueError(f"a speaker-independent split needs at least {MIN_SPEAKERS} speakers, got {len(speaker_counts)}")
    if speaker_labels is None:
        return _greedy_speaker_split(speaker_counts, _rng(seed, corpus, "speakers"), {})
    required = _classes_needed_in_every_split(speaker_labels)
    candidates = [
        _greedy_speaker_split(speaker_counts, _rng(seed, corpus, "speakers" if index == 0 else f"speakers {index}"), required)
        for index in range(SPLIT_CANDIDATES)
    ]
    return min(
        candidates,
        key=lambda assignment: (_missing_classes(assignment, required), _imbalance(assignment, speaker_counts, speaker_labels)),
    )


def _classes_needed_in_every_split(speaker_labels: dict[str, Counter]) -> dict:
    """{class: the speakers carrying it} for every class that at least MIN_SPEAKERS speakers carry."""
    carriers: dict = {}
    for speaker, labels in speaker_labels.items():
        for label, count in labels.items():
            if count > 0:
                carriers.setdefault(label, set()).add(speaker)
    return {label: speakers for label, speakers in carriers.items() if len(speakers) >= MIN_SPEAKERS}


def _missing_classes(assignment: dict[str, str], required: dict) -> int:
    """How many (class, split) pairs lack a speaker of that class."""
    return sum(1 for speakers in required.values() for split in SPLITS if split not in {assignment[s] for s in speakers})


def _imbalance(assignment: dict[str, str], speaker_counts: dict[str, int], speaker_labels: dict[str, Counter]) -> float:
    overall = sum(speaker_labels.values(), Counter())
    total = sum(overall.values())
    score = 0.0
    for split, target in (("validation", VALIDATION_FRACTION), ("test", TEST_FRACTION)):
        labels = sum((speaker_labels[speaker] for speaker, name in assignment.items() if name == split), Counter())
        size = sum(labels.values())
        score += 0.5 * sum(abs(labels[label] / size - overall[label] / total) for label in overall)
        score += 0.5 * abs(size / total - target) / target
    return score


def _greedy_speaker_split(speaker_counts: dict[str, int], rng: random.Random, required: dict) -> dict[str, str]:
    speakers = sorted(speaker_counts)
    rng.shuffle(speakers)
    assignment: dict[str, str] = {}
    for label, carriers in sorted(required.items(), key=lambda item: (len(item[1]), str(item[0]))):  # rarest first
        present = {assignment[s] for s in carriers if s in assignment}
        free = [s for s in speakers if s in carriers and s not in assignment]
        for split in ("test", "validation", "train"):
            if split not in present and free:
                assignment[free.pop(0)] = split
    total = sum(speaker_counts.values())
    targets = {"validation": VALIDATION_FRACTION * total, "test": TEST_FRACTION * total}
    counts = {split: sum(speaker_counts[s] for s, name in assignment.items() if name == split) for split in targets}
    remaining = [speaker for speaker in speakers if speaker not in assignment]
    for index, speaker in enumerate(remaining):
        size = speaker_counts[speaker]
        taken = set(assignment.values())
        if "test" not in taken or "validation" not in taken:
            split = "test" if "test" not in taken else "validation"
        elif "train" not in taken and index == len(remaining) - 1:
            split = "train"
        else:
            split = max(counts, key=lambda name: (targets[name] - counts[name]) / targets[name] if targets[name] else 0)
            if targets[split] - counts[split] <= size / 2:  # adding the speaker would not bring the split closer
                split = "train"
        assignment[speaker] = split
        if split in counts:
            counts[split] += size
    return assignment


def random_split(count: int, seed: int = 0, corpus: str = "") -> list[str]:
    """Seeded random split names for `count` clips: 10 % validation, 10 % test (at least one each from 3 clips)."""
    order = list(range(count))
    _rng(seed, corpus, "clips").shuffle(order)
    n_validation = round(VALIDATION_FRACTION * count)
    n_test = round(TEST_FRACTION * count)
    if count >= 3:
        n_validation, n_test = max(1, n_validation), max(1, n_test)
    splits = ["train"] * count
    for position, index in enumerate(order):
        if position < n_validation:
            splits[index] = "validation"
        elif position < n_validation + n_test:
            splits[index] = "test"
    return splits


def speaker_independent(speakers: Sequence[str], splits: Sequence[str]) -> bool:
    """Whether no known speaker appears in two of the given splits (unknown speakers, "", cannot tell: True)."""
    seen: dict[str, str] = {}
    for speaker, split in zip(speakers, splits):
        if speaker and seen.setdefault(speaker, split) != split:
            return False
    return True


def assign_splits(
    speakers: Sequence[str],
    own_splits: Sequence[str | None],
    seed: int = 0,
    corpus: str = "",
    labels: Sequence | None = None,
    keep_own: bool = False,
) -> list[tuple[str, str]]:
    """(split, split_source) for each clip of one corpus, given its speakers ("" = unknown), own splits and,
    optionally, labels (for class-covering, label-balanced speaker splits).

    Clips with an own split keep it ("corpus") when the own split is speaker-independent or `keep_own`; an own
    split that shares speakers between its parts is replaced by a speaker split ("resplit") where one can be
    made (every clip has a speaker, at least MIN_SPEAKERS of them). The other clips
    are split by speaker when they all have speakers and there are at least MIN_SPEAKERS of them ("speaker"),
    else at random ("random"). The result depends only on the inputs' order and values and on `seed`.
    """
    if len(speakers) != len(own_splits) or (labels is not None and len(labels) != len(speakers)):
        raise ValueError("speakers, own_splits and labels must have the same length")
    bad = sorted({split for split in own_splits if split is not None and split not in SPLITS})
    if bad:
        raise ValueError(f"unknown split {bad[0]!r}; expected one of {SPLITS}")
    own = [index for index, split in enumerate(own_splits) if split is not None]
    replace_own = (
        not keep_own
        and not speaker_independent([speakers[i] for i in own], [own_splits[i] for i in own])
        and "" not in speakers
        and len(set(speakers)) >= MIN_SPEAKERS  # else no speaker-independent split can replace it
    )
    result: list[tuple[str, str] | None] = [None] * len(speakers)
    if not replace_own:
        for index in own:
            result[index] = (own_splits[index], "corpus")
    rest = [index for index in range(len(speakers)) if result[index] is None]
    if rest:
        rest_speakers = [speakers[index] for index in rest]
        counts = Counter(rest_speakers)
        if "" not in counts and len(counts) >= MIN_SPEAKERS:
            speaker_labels = None
            if labels is not None:
                speaker_labels = {speaker: Counter() for speaker in counts}
                for index in rest:
                    speaker_labels[speakers[index]][labels[index]] += 1
            assignment = speaker_split(dict(counts), seed, corpus, speaker_labels)
            source = "resplit" if replace_own else "speaker"
            for index, speaker in zip(rest, rest_speakers):
                result[index] = (assignment[speaker], source)
        else:
            for index, split in zip(rest, random_split(len(rest), seed, corpus)):
                result[index] = (split, "random")
    return result  # type: ignore[return-value]


__all__ = [
    "MIN_SPEAKERS",
    "SPLIT_CANDIDATES",
    "TEST_FRACTION",
    "VALIDATION_FRACTION",
    "assign_splits",
    "random_split",
    "speaker_independent",
    "speaker_split",
]

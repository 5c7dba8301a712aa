"""Train/validation/test assignment for one corpus, deterministic for a seed.

In order of preference, per clip:
1. "corpus": the corpus's own split, where its adapter gives one (ESD, MELD, a manifest's split column).
2. "speaker": a speaker-independent split: no speaker in two splits, about 80/10/10 by clip count.
   Speakers are shuffled with a seed derived from (seed, corpus), the first one goes to test and the
   second to validation (so both are non-empty even for EMO-DB's 10 speakers), and each further speaker
   goes to whichever of test/validation is furthest below its target while adding it brings that split
   closer to the target; otherwise to train (which always keeps at least one speaker). Needs >= 3 speakers.
   When the clips' labels are known, SPLIT_CANDIDATES such assignments (from differently seeded speaker
   orders) are scored and the best is kept: the class mix of validation and test as close as possible to
   the corpus's (total variation distance), and their sizes to 10 % each. This matters where speakers
   carry mostly one emotion (URDU's talk-show speakers): one speaker order can leave a test split of
   nearly a single class.
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
    optionally, each speaker's label counts (then the most label-balanced of SPLIT_CANDIDATES splits)."""
    if len(speaker_counts) < MIN_SPEAKERS:
        raise ValueError(f"a speaker-independent split needs at least {MIN_SPEAKERS} speakers, got {len(speaker_counts)}")
    if speaker_labels is None:
        return _greedy_speaker_split(speaker_counts, _rng(seed, corpus, "speakers"))
    candidates = [
        _greedy_speaker_split(speaker_counts, _rng(seed, corpus, "speakers" if index == 0 else f"speakers {index}"))
        for index in range(SPLIT_CANDIDATES)
    ]
    return min(candidates, key=lambda assignment: _imbalance(assignment, speaker_counts, speaker_labels))


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


def _greedy_speaker_split(speaker_counts: dict[str, int], rng: random.Random) -> dict[str, str]:
    speakers = sorted(speaker_counts)
    rng.shuffle(speakers)
    total = sum(speaker_counts.values())
    targets = {"validation": VALIDATION_FRACTION * total, "test": TEST_FRACTION * total}
    counts = {"validation": 0, "test": 0}
    assignment = {speakers[0]: "test", speakers[1]: "validation"}
    counts["test"], counts["validation"] = speaker_counts[speakers[0]], speaker_counts[speakers[1]]
    remaining = speakers[2:]
    for index, speaker in enumerate(remaining):
        size = speaker_counts[speaker]
        no_train_yet = "train" not in assignment.values()
        if no_train_yet and index == len(remaining) - 1:
            assignment[speaker] = "train"
            continue
        split = max(counts, key=lambda name: (targets[name] - counts[name]) / targets[name] if targets[name] else 0)
        if targets[split] - counts[split] > size / 2:  # adding the speaker brings the split closer to its target
            assignment[speaker] = split
            counts[split] += size
        else:
            assignment[speaker] = "train"
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


def assign_splits(
    speakers: Sequence[str], own_splits: Sequence[str | None], seed: int = 0, corpus: str = "", labels: Sequence | None = None
) -> list[tuple[str, str]]:
    """(split, split_source) for each clip of one corpus, given its speakers ("" = unknown), own splits and,
    optionally, labels (for label-balanced speaker splits).

    Clips with an own split keep it ("corpus"). The others are split by speaker when they all have
    speakers and there are at least MIN_SPEAKERS of them ("speaker"), else at random ("random"). The
    result depends only on the inputs' order and values and on `seed`.
    """
    if len(speakers) != len(own_splits) or (labels is not None and len(labels) != len(speakers)):
        raise ValueError("speakers, own_splits and labels must have the same length")
    result: list[tuple[str, str] | None] = [None] * len(speakers)
    rest = []
    for index, split in enumerate(own_splits):
        if split is None:
            rest.append(index)
        elif split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        else:
            result[index] = (split, "corpus")
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
            for index, speaker in zip(rest, rest_speakers):
                result[index] = (assignment[speaker], "speaker")
        else:
            for index, split in zip(rest, random_split(len(rest), seed, corpus)):
                result[index] = (split, "random")
    return result  # type: ignore[return-value]


__all__ = ["MIN_SPEAKERS", "SPLIT_CANDIDATES", "TEST_FRACTION", "VALIDATION_FRACTION", "assign_splits", "random_split", "speaker_split"]

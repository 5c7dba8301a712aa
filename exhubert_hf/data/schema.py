"""The columns of a prepared emotion dataset: what `prepare` writes and what training and evaluation read.

One row per clip. `audio` holds the decoded 16 kHz mono samples, so training never decodes audio and
needs no FFmpeg or torchcodec.
"""

from datasets import ClassLabel, Features, Sequence, Value

from ..configuration_exhubert import EXHUBERT_LABELS

SPLITS = ("train", "validation", "test")

# How a clip's split was decided: the corpus's own partition, a speaker-independent split made here (instead of
# an own partition that shares speakers: "resplit"), or a seeded random split for corpora without speaker ids.
SPLIT_SOURCES = ("corpus", "speaker", "resplit", "random")


def prepared_features() -> Features:
    return Features(
        {
            "audio": Sequence(Value("float32")),
            "label": ClassLabel(names=list(EXHUBERT_LABELS)),
            "corpus": Value("string"),
            "speaker": Value("string"),  # "" where the corpus has no speaker ids
            "gender": Value("string"),  # "female", "male" or "" where unknown
            "original_label": Value("string"),
            "language": Value("string"),  # ISO 639-1 code
            "duration": Value("float32"),  # seconds
            "path": Value("string"),  # the source file, as given to prepare
            "split_source": Value("string"),  # one of SPLIT_SOURCES
        }
    )


__all__ = ["SPLITS", "SPLIT_SOURCES", "prepared_features"]

"""The columns of a prepared emotion dataset: what `prepare` writes and what training and evaluation read.

One row per clip. `audio` holds the decoded 16 kHz mono samples, so training never decodes audio and
needs no FFmpeg or torchcodec. They are stored as 16-bit PCM (`int16`, sample = round(x * 32768)) by default:
half the size of float32, and exact for 16-bit sources at 16 kHz (the common case: a 16-bit WAV reads as
integer / 32768, which is what the collator turns `int16` back into); resampled, down-mixed or higher-resolution
sources are rounded to 16 bits, as writing a 16-bit WAV would. `float32` keeps every decoded value.

`arousal`, `valence` and `dominance` hold a clip's continuous ratings where its corpus has them, mapped to [0, 1]
from the scale the corpus declares (`records.unit_interval`); NaN where unknown (a clip without them is left out of
the dimensional loss and metrics).
"""

import numpy as np
from datasets import ClassLabel, Features, Sequence, Value

from ..configuration_exhubert import EXHUBERT_LABELS

SPLITS = ("train", "validation", "test")
# The continuous emotion dimensions a corpus may rate (columns of the prepared dataset, in [0, 1], NaN where unknown).
DIMENSIONS = ("arousal", "valence", "dominance")

# How a clip's split was decided: the corpus's own partition, a speaker-independent split made here (instead of
# an own partition that shares speakers: "resplit"), or a seeded random split for corpora without speaker ids.
SPLIT_SOURCES = ("corpus", "speaker", "resplit", "random")

AUDIO_DTYPES = ("int16", "float32")
DEFAULT_AUDIO_DTYPE = "int16"
# int16 PCM <-> float: the scale libsndfile (soundfile) uses, so 16-bit files round-trip exactly
PCM16_SCALE = 32768.0


def prepared_features(audio_dtype: str = DEFAULT_AUDIO_DTYPE) -> Features:
    return Features(
        {
            "audio": Sequence(Value(audio_dtype)),
            "label": ClassLabel(names=list(EXHUBERT_LABELS)),
            "corpus": Value("string"),
            "speaker": Value("string"),  # "" where the corpus has no speaker ids
            "gender": Value("string"),  # "female", "male" or "" where unknown
            "original_label": Value("string"),
            "language": Value("string"),  # ISO 639-1 code
            "duration": Value("float32"),  # seconds
            "path": Value("string"),  # the source file, as given to prepare
            "split_source": Value("string"),  # one of SPLIT_SOURCES
            **{name: Value("float32") for name in DIMENSIONS},
        }
    )


def encode_audio(audio: np.ndarray, audio_dtype: str) -> tuple[np.ndarray, int]:
    """float32 samples -> the stored array, and how many samples fell outside the int16 range and were clipped."""
    if audio_dtype == "float32":
        return np.asarray(audio, dtype=np.float32), 0
    scaled = np.rint(audio * PCM16_SCALE)
    clipped = int(np.count_nonzero((scaled < -PCM16_SCALE) | (scaled > PCM16_SCALE - 1)))
    return np.clip(scaled, -PCM16_SCALE, PCM16_SCALE - 1).astype(np.int16), clipped


def decode_audio(stored: np.ndarray) -> np.ndarray:
    """A stored audio array -> float32 samples. Integers are 16-bit PCM, whatever integer type they arrive in
    (datasets' NumPy format gives int64, a Python list ints): divided by 32768, exactly; a value outside the
    int16 range raises ValueError. Floats are cast."""
    if stored.dtype.kind in "iu":
        if stored.size and (stored.min() < -PCM16_SCALE or stored.max() > PCM16_SCALE - 1):
            raise ValueError("integer audio must be 16-bit PCM samples in [-32768, 32767]")
        return stored.astype(np.float32) / np.float32(PCM16_SCALE)
    return stored.astype(np.float32)


__all__ = [
    "AUDIO_DTYPES",
    "DEFAULT_AUDIO_DTYPE",
    "DIMENSIONS",
    "PCM16_SCALE",
    "SPLITS",
    "SPLIT_SOURCES",
    "decode_audio",
    "encode_audio",
    "prepared_features",
]

"""Reading audio files into 16 kHz mono float32 arrays, with one error type for every way a file can be bad.

Decoding uses soundfile (libsndfile: WAV in every sample format, FLAC, OGG/Vorbis, MP3 with libsndfile
>= 1.1) and falls back to librosa's audioread path for anything else, so WAV/FLAC/OGG need no FFmpeg.
Resampling uses soxr (through librosa), the resampler the `datasets` library uses too.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile

from ..configuration_exhubert import SAMPLING_RATE
from ..errors import InputError, error_summary

# Suffixes `process_folder`-style functions look for; decoding itself does not depend on the suffix.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".au", ".webm")


class AudioReadError(InputError):
    """A file that cannot be used as audio: missing, empty, not decodable, no samples, or non-finite samples.

    `path` and `reason` are kept separately so batch jobs can report them as columns.
    """

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    sampling_rate: int
    channels: int
    num_frames: int

    @property
    def duration(self) -> float:
        return self.num_frames / self.sampling_rate


def audio_info(path) -> AudioInfo:
    """Sample rate, channel count and length of a file, read from its header where soundfile can (other
    formats are decoded). Raises `AudioReadError` like `read_audio`."""
    _check_file(path)
    try:
        info = soundfile.info(str(path))
        return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))
    except Exception:
        try:
            signal, sampling_rate = _decode_with_librosa(path, offset=0.0, duration=None)
        except Exception as error:
            raise AudioReadError(path, f"not a readable audio file ({error_summary(error)})") from error
        return AudioInfo(sampling_rate, signal.shape[0], signal.shape[1])


def read_audio(path, sampling_rate: int = SAMPLING_RATE, offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """The file's samples as a 1-d float32 array at `sampling_rate`, channels averaged to mono.

    `offset` and `duration` (seconds) read only part of the file, so long recordings can be processed in
    bounded memory. Raises `AudioReadError` naming the file and the problem for anything unusable.
    """
    _check_file(path)
    if offset < 0 or (duration is not None and duration <= 0):
        raise ValueError(f"offset must be >= 0 and duration > 0, got offset={offset}, duration={duration}")
    try:
        signal, native_rate = _decode_with_soundfile(path, offset, duration)
    except Exception as soundfile_error:
        try:
            signal, native_rate = _decode_with_librosa(path, offset, duration)
        except Exception:
            raise AudioReadError(path, f"not a readable audio file ({error_summary(soundfile_error)})") from soundfile_error
    if signal.shape[1] == 0:
        where = "" if offset == 0 and duration is None else f" in the requested segment (offset {offset} s)"
        raise AudioReadError(path, f"contains no audio samples{where}")
    mono = signal.mean(axis=0, dtype=np.float32) if signal.shape[0] > 1 else signal[0]
    if not np.isfinite(mono).all():
        raise AudioReadError(path, "contains NaN or infinite samples")
    if native_rate != sampling_rate:
        mono = librosa.resample(mono, orig_sr=native_rate, target_sr=sampling_rate, res_type="soxr_hq")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _check_file(path) -> None:
    path = Path(path)
    if not path.exists():
        raise AudioReadError(path, "no such file")
    if not path.is_file():
        raise AudioReadError(path, "not a file")
    if path.stat().st_size == 0:
        raise AudioReadError(path, "empty file (0 bytes)")


def _decode_with_soundfile(path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    with soundfile.SoundFile(str(path)) as audio:
        native_rate = audio.samplerate
        start = int(round(offset * native_rate))
        if start:
            audio.seek(min(start, audio.frames))
        frames = -1 if duration is None else int(round(duration * native_rate))
        signal = audio.read(frames, dtype="float32", always_2d=True)
    return signal.T, native_rate


def _decode_with_librosa(path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    with warnings.catch_warnings():  # librosa warns on every fallback to audioread; the caller gets an error or audio
        warnings.simplefilter("ignore")
        signal, native_rate = librosa.load(str(path), sr=None, mono=False, offset=offset, duration=duration, dtype=np.float32)
    return np.atleast_2d(signal), int(native_rate)


def find_audio_files(folder, suffixes=AUDIO_SUFFIXES, recursive: bool = True) -> list[Path]:
    """Audio files in `folder` (and its subfolders if `recursive`), sorted, by suffix (case-insensitive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(path for path in candidates if path.is_file() and path.suffix.lower() in suffixes)


__all__ = ["AUDIO_SUFFIXES", "SAMPLING_RATE", "AudioInfo", "AudioReadError", "audio_info", "find_audio_files", "read_audio"]

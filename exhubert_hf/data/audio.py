"""Reading audio files into 16 kHz mono float32 arrays, with one error type for every way a file can be bad.

Decoding uses soundfile (libsndfile: WAV in every sample format, FLAC, OGG/Vorbis, MP3 with libsndfile
>= 1.1) and falls back to librosa's audioread path for anything else, so WAV/FLAC/OGG need no FFmpeg.
Resampling uses soxr (through librosa), the resampler the `datasets` library uses too.

Headers are not trusted to size memory: a sampling rate below `MIN_SAMPLING_RATE` is refused (a 20 KB WAV whose
header says 1 Hz would otherwise be resampled into 2.8 hours of 16 kHz audio), and `read_audio(max_seconds=...)`
refuses a file longer than that before decoding it (from the header, or by decoding at most that much).
"""

import os
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
# The lowest sampling rate accepted (Hz). Real speech recordings start at 8 kHz (telephone); lower rates are
# broken or hostile headers, and resampling them to 16 kHz multiplies their length.
MIN_SAMPLING_RATE = 1000


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
        result = AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))
    except Exception:
        try:
            signal, sampling_rate = _decode_with_librosa(path, offset=0.0, duration=None)
        except Exception as error:
            raise AudioReadError(path, f"not a readable audio file ({error_summary(error)})") from error
        result = AudioInfo(sampling_rate, signal.shape[0], signal.shape[1])
    _check_sampling_rate(path, result.sampling_rate)
    return result


def read_audio(
    path,
    sampling_rate: int = SAMPLING_RATE,
    offset: float = 0.0,
    duration: float | None = None,
    max_seconds: float | None = None,
) -> np.ndarray:
    """The file's samples as a 1-d float32 array at `sampling_rate`, channels averaged to mono.

    `offset` and `duration` (seconds) read only part of the file, so long recordings can be processed in
    bounded memory. `max_seconds` refuses a file (or requested part) that lasts longer, before decoding it where
    the header tells its length and after decoding at most `max_seconds` of it otherwise. Raises
    `AudioReadError` naming the file and the problem for anything unusable, including sampling rates below
    `MIN_SAMPLING_RATE`.
    """
    _check_file(path)
    if offset < 0 or (duration is not None and duration <= 0):
        raise ValueError(f"offset must be >= 0 and duration > 0, got offset={offset}, duration={duration}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    try:
        signal, native_rate = _decode_with_soundfile(path, offset, duration, max_seconds)
    except AudioReadError:
        raise
    except Exception as soundfile_error:
        # at most just over max_seconds is decoded, so a longer file is recognised without holding all of it
        limited = duration if max_seconds is None else min(duration or np.inf, max_seconds + 0.01)
        try:
            signal, native_rate = _decode_with_librosa(path, offset, limited)
        except Exception:
            raise AudioReadError(path, f"not a readable audio file ({error_summary(soundfile_error)})") from soundfile_error
        _check_sampling_rate(path, native_rate)
        _check_length(path, signal.shape[1] / native_rate, max_seconds)
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
        if path.is_symlink():
            raise AudioReadError(path, f"broken symbolic link (its target {os.readlink(path)} does not exist)")
        raise AudioReadError(path, "no such file")
    if not path.is_file():
        raise AudioReadError(path, "not a file")
    if path.stat().st_size == 0:
        raise AudioReadError(path, "empty file (0 bytes)")


def _check_sampling_rate(path, native_rate: int) -> None:
    if native_rate < MIN_SAMPLING_RATE:
        raise AudioReadError(path, f"sampling rate {native_rate} Hz is below {MIN_SAMPLING_RATE} Hz (a broken header?)")


def _check_length(path, seconds: float, max_seconds: float | None) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise AudioReadError(path, f"lasts {seconds:.1f} s, longer than the limit of {max_seconds:g} s (max_seconds)")


def _decode_with_soundfile(path, offset: float, duration: float | None, max_seconds: float | None):
    with soundfile.SoundFile(str(path)) as audio:
        native_rate = audio.samplerate
        _check_sampling_rate(path, native_rate)
        start = min(int(round(offset * native_rate)), audio.frames)
        if start:
            audio.seek(start)
        frames = audio.frames - start
        if duration is not None:
            frames = min(int(round(duration * native_rate)), frames)
        _check_length(path, frames / native_rate, max_seconds)
        signal = audio.read(-1 if duration is None else frames, dtype="float32", always_2d=True)
    return signal.T, native_rate


def _decode_with_librosa(path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    with warnings.catch_warnings():  # librosa warns on every fallback to audioread; the caller gets an error or audio
        warnings.simplefilter("ignore")
        signal, native_rate = librosa.load(str(path), sr=None, mono=False, offset=offset, duration=duration, dtype=np.float32)
    return np.atleast_2d(signal), int(native_rate)


def find_audio_files(folder, suffixes=AUDIO_SUFFIXES, recursive: bool = True, include_non_files: bool = False):
    """Audio files in `folder` (and its subfolders if `recursive`), sorted, by suffix (case-insensitive).

    `include_non_files` also lists entries with an audio suffix that are no file: broken symbolic links, folders
    named like `x.wav`. Reading one raises `AudioReadError` with the reason, so a batch job that lists them
    reports them as skipped instead of leaving them out unseen."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    listed = (path for path in candidates if path.suffix.lower() in suffixes)
    return sorted(path for path in listed if include_non_files or path.is_file())


__all__ = [
    "AUDIO_SUFFIXES",
    "MIN_SAMPLING_RATE",
    "SAMPLING_RATE",
    "AudioInfo",
    "AudioReadError",
    "audio_info",
    "find_audio_files",
    "read_audio",
]

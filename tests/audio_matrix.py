"""The bad-input matrix shared by the audio, prepare and predict tests: good files in every supported format
and oddity, and bad files with the reason each must be reported with."""

import io
import wave

import numpy as np
import soundfile

TONE_SECONDS = 0.5


def tone(sampling_rate, channels=1, seconds=TONE_SECONDS):
    time = np.arange(int(seconds * sampling_rate)) / sampling_rate
    mono = 0.5 * np.sin(2 * np.pi * 440 * time)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


GOOD_FILES = {  # name: (samples, sampling rate, soundfile format/subtype)
    "pcm16 16k.wav": (tone(16000), 16000, {"subtype": "PCM_16"}),
    "8 kHz.wav": (tone(8000), 8000, {"subtype": "PCM_16"}),
    "48 kHz stereo.wav": (tone(48000, channels=2), 48000, {"subtype": "PCM_16"}),
    "24-bit.wav": (tone(44100), 44100, {"subtype": "PCM_24"}),
    "float.wav": (tone(22050), 22050, {"subtype": "FLOAT"}),
    "lossless.flac": (tone(16000), 16000, {"format": "FLAC"}),
    "vorbis.ogg": (tone(32000, channels=2), 32000, {"format": "OGG", "subtype": "VORBIS"}),
    "émotion ärger 怒り.wav": (tone(16000), 16000, {"subtype": "PCM_16"}),
}


def bad_files(folder):
    real = io.BytesIO()
    soundfile.write(real, tone(16000), 16000, format="WAV")
    nan_path = folder / "nan.wav"
    soundfile.write(nan_path, np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, subtype="FLOAT")
    inf_path = folder / "inf.wav"
    soundfile.write(inf_path, np.array([0.1, np.inf], dtype=np.float32), 16000, subtype="FLOAT")
    no_frames = folder / "no frames.wav"
    with wave.open(str(no_frames), "wb") as empty:
        empty.setnchannels(1), empty.setsampwidth(2), empty.setframerate(16000)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "truncated.wav").write_bytes(real.getvalue()[:30])
    (folder / "text.wav").write_text("this is not audio\n" * 20)
    (folder / "a folder.wav").mkdir()
    return {
        "empty.wav": "empty file",
        "truncated.wav": "not a readable audio file",
        "text.wav": "not a readable audio file",
        "nan.wav": "NaN or infinite",
        "inf.wav": "NaN or infinite",
        "no frames.wav": "no audio samples",
        "a folder.wav": "not a file",
        "missing.wav": "no such file",
    }




def write_good_files(folder):
    """Writes GOOD_FILES into `folder`; returns {name: expected duration in seconds}."""
    durations = {}
    for name, (samples, sampling_rate, options) in GOOD_FILES.items():
        soundfile.write(folder / name, samples, sampling_rate, **options)
        durations[name] = len(samples) / sampling_rate
    soundfile.write(folder / "silence.wav", np.zeros(16000), 16000)
    soundfile.write(folder / "one sample.wav", np.array([0.25]), 16000)
    soundfile.write(folder / "10 ms.wav", tone(16000, seconds=0.01), 16000)
    durations.update({"silence.wav": 1.0, "one sample.wav": 1 / 16000, "10 ms.wav": 0.01})
    return durations

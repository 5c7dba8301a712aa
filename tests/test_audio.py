"""Audio reading: every format and oddity a corpus or a user folder may hold gives 16 kHz mono float32 or an
`AudioReadError` naming the file; fuzzed bytes and shapes never raise anything else."""

import io
import wave

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exhubert_hf.audio import AudioReadError, audio_info, find_audio_files, read_audio

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


@pytest.mark.parametrize("name", GOOD_FILES)
def test_every_supported_format_reads_as_16k_mono_float32(tmp_path, name):
    samples, sampling_rate, options = GOOD_FILES[name]
    path = tmp_path / name
    soundfile.write(path, samples, sampling_rate, **options)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - TONE_SECONDS * 16000) <= 2
    assert 0.3 < np.abs(audio).max() < 0.6, "amplitude survives decoding, down-mixing and resampling"
    info = audio_info(path)
    assert (info.sampling_rate, info.channels) == (sampling_rate, samples.ndim if samples.ndim == 1 else samples.shape[1])
    assert info.duration == pytest.approx(TONE_SECONDS, abs=1e-3)


@pytest.mark.parametrize(
    "samples, expected_length",
    [(np.zeros(16000), 16000), (np.array([0.25]), 1), (tone(16000, seconds=0.01), 160)],
    ids=["silence", "a single sample", "10 ms"],
)
def test_silence_and_very_short_files_are_audio(tmp_path, samples, expected_length):
    soundfile.write(tmp_path / "short.wav", samples, 16000)
    assert len(read_audio(tmp_path / "short.wav")) == expected_length


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


def test_bad_files_raise_audio_read_error_naming_file_and_reason(tmp_path):
    for name, reason in bad_files(tmp_path).items():
        with pytest.raises(AudioReadError) as raised:
            read_audio(tmp_path / name)
        assert raised.value.path == str(tmp_path / name)
        assert reason in raised.value.reason
        assert str(tmp_path / name) in str(raised.value)


def test_segments_read_only_the_requested_part(tmp_path):
    ramp = np.linspace(-0.5, 0.5, 48000)
    soundfile.write(tmp_path / "ramp.wav", ramp, 16000, subtype="FLOAT")
    segment = read_audio(tmp_path / "ramp.wav", offset=1.0, duration=0.5)
    np.testing.assert_allclose(segment, ramp[16000:24000], atol=1e-7)
    assert len(read_audio(tmp_path / "ramp.wav", offset=2.9)) == 1600
    with pytest.raises(AudioReadError, match="no audio samples in the requested segment"):
        read_audio(tmp_path / "ramp.wav", offset=5.0)


def test_find_audio_files_is_recursive_sorted_and_case_insensitive(tmp_path):
    for name in ("b/2.WAV", "a/1.flac", "a/notes.txt", "c.ogg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [path.relative_to(tmp_path).as_posix() for path in find_audio_files(tmp_path)] == ["a/1.flac", "b/2.WAV", "c.ogg"]
    with pytest.raises(NotADirectoryError):
        find_audio_files(tmp_path / "c.ogg")


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_audio_or_audio_read_error(path):
    try:
        audio = read_audio(path)
    except AudioReadError as error:
        assert error.path == str(path) and error.reason
        return
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0 and np.isfinite(audio).all()


@FUZZ
@given(content=st.binary(max_size=4096), suffix=st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".bin"]))
def test_random_bytes_give_audio_or_the_documented_error(tmp_path, content, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    assert_audio_or_audio_read_error(path)


@FUZZ
@given(
    frames=st.integers(0, 3000),
    channels=st.integers(1, 4),
    sampling_rate=st.sampled_from([1000, 8000, 11025, 16000, 44100, 96000]),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "PCM_U8"]),
    cut=st.one_of(st.none(), st.integers(0, 4000)),
    special=st.sampled_from([None, np.nan, np.inf, -np.inf, 1e30]),
)
def test_random_shapes_and_truncations_give_audio_or_the_documented_error(
    tmp_path, frames, channels, sampling_rate, subtype, cut, special
):
    samples = np.random.default_rng(frames).uniform(-1, 1, size=(frames, channels))
    if special is not None and frames:
        samples[frames // 2, 0] = special
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sampling_rate, format="WAV", subtype=subtype)
    content = buffer.getvalue() if cut is None else buffer.getvalue()[:cut]
    path = tmp_path / "fuzz.wav"
    path.write_bytes(content)
    assert_audio_or_audio_read_error(path)

"""Audio reading: every format and oddity a corpus or a user folder may hold gives 16 kHz mono float32 or an
`AudioReadError` naming the file; fuzzed bytes and shapes never raise anything else."""

import io

import numpy as np
import pytest
import soundfile
from audio_matrix import GOOD_FILES, TONE_SECONDS, bad_files, tone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exhubert_hf.data.audio import AudioReadError, audio_info, find_audio_files, read_audio


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


def test_bad_files_raise_audio_read_error_naming_file_and_reason(tmp_path):
    for name, reason in bad_files(tmp_path).items():
        with pytest.raises(AudioReadError) as raised:
            read_audio(tmp_path / name)
        assert raised.value.path == str(tmp_path / name)
        assert reason in raised.value.reason
        assert str(tmp_path / name) in str(raised.value)
    for name in ("empty.wav", "truncated.wav", "text.wav", "a folder.wav", "missing.wav"):
        with pytest.raises(AudioReadError, match="not a readable audio file|empty file|not a file|no such file"):
            audio_info(tmp_path / name)


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
    (tmp_path / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    (tmp_path / "folder.wav").mkdir()
    assert [path.relative_to(tmp_path).as_posix() for path in find_audio_files(tmp_path)] == ["a/1.flac", "b/2.WAV", "c.ogg"]
    listed = find_audio_files(tmp_path, include_non_files=True)
    assert [path.relative_to(tmp_path).as_posix() for path in listed] == ["a/1.flac", "b/2.WAV", "c.ogg", "dangling.wav", "folder.wav"]
    with pytest.raises(AudioReadError, match="broken symbolic link .*gone.wav"):
        read_audio(tmp_path / "dangling.wav")
    with pytest.raises(NotADirectoryError):
        find_audio_files(tmp_path / "c.ogg")


def write_at(path, sampling_rate, seconds):
    soundfile.write(path, np.zeros(max(1, int(sampling_rate * seconds)), dtype=np.int16), sampling_rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    "sampling_rate, seconds, max_seconds, offset, duration, problem",
    [
        (1, 10000, None, 0.0, None, "sampling rate 1 Hz is below 1000 Hz"),  # 20 KB that would decode to 2.8 hours
        (999, 1.0, None, 0.0, None, "sampling rate 999 Hz is below 1000 Hz"),
        (1000, 1.0, None, 0.0, None, None),
        (16000, 3.0, 2.0, 0.0, None, "lasts 3.0 s, longer than the limit of 2 s"),
        (16000, 3.0, 3.0, 0.0, None, None),
        (44100, 3.0, 2.5, 1.0, None, None),  # what is read counts: 2 s from 1 s on
        (44100, 3.0, 1.5, 0.0, 2.0, "lasts 2.0 s, longer than the limit of 1.5 s"),
    ],
)
def test_headers_cannot_make_a_small_file_decode_into_hours(
    tmp_path, sampling_rate, seconds, max_seconds, offset, duration, problem
):
    path = write_at(tmp_path / "clip.wav", sampling_rate, seconds)
    read = lambda: read_audio(path, max_seconds=max_seconds, offset=offset, duration=duration)  # noqa: E731
    if problem is None:
        expected = (seconds - offset if duration is None else duration) * 16000
        assert abs(len(read()) - expected) <= 2
        return
    with pytest.raises(AudioReadError) as raised:
        read()
    assert raised.value.path == str(path) and problem in raised.value.reason
    if "Hz" in problem:
        with pytest.raises(AudioReadError, match=problem):
            audio_info(path)


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

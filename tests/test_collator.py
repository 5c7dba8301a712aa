"""AudioCollator: shapes, padding and masks, deterministic cropping, per-clip normalisation, and one error type
(CollationError) for every kind of bad row, fuzzed with hypothesis."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from exhubert_hf import ExHubertConfig
from exhubert_hf.data.collator import AudioCollator, CollationError
from exhubert_hf.modeling_exhubert import default_feature_extractor


def extractor(layer_norm=True):
    return default_feature_extractor(ExHubertConfig(feat_extract_norm="layer" if layer_norm else "group"))


def clip(samples, seed=0, scale=0.3, offset=0.1):
    return (np.random.default_rng(seed).standard_normal(samples) * scale + offset).astype(np.float32)


def test_shapes_padding_mask_and_labels():
    collate = AudioCollator(extractor())
    rows = [{"audio": clip(1600).tolist(), "label": 2}, {"audio": clip(1000, 1), "label": np.int64(5)}]
    batch = collate(rows)
    assert set(batch) == {"input_values", "attention_mask", "labels"}
    assert batch["input_values"].shape == (2, 1600) and batch["input_values"].dtype == torch.float32
    assert batch["attention_mask"].dtype == torch.long
    assert batch["attention_mask"].sum(1).tolist() == [1600, 1000]
    assert batch["attention_mask"][1, :1000].all() and not batch["attention_mask"][1, 1000:].any()
    assert torch.all(batch["input_values"][1, 1000:] == 0)
    assert batch["labels"].tolist() == [2, 5] and batch["labels"].dtype == torch.long


@pytest.mark.parametrize("layer_norm", [True, False])
def test_each_clip_is_normalised_like_the_feature_extractor_alone(layer_norm):
    feature_extractor = extractor(layer_norm)
    collate = AudioCollator(feature_extractor)
    clips = [clip(2000, 0, 0.5, 0.2), clip(700, 1, 2.0, -1.0), clip(1200, 2, 0.01, 0.0)]
    batch = collate([{"audio": audio, "label": 0} for audio in clips])
    assert ("attention_mask" in batch) == layer_norm
    for row, audio in enumerate(clips):
        alone = feature_extractor(audio, sampling_rate=16000, return_tensors="np")["input_values"][0]
        np.testing.assert_allclose(batch["input_values"][row, : len(audio)].numpy(), alone, atol=1e-5)
        assert abs(float(batch["input_values"][row, : len(audio)].mean())) < 1e-4
        assert torch.all(batch["input_values"][row, len(audio) :] == 0)


def test_long_clips_keep_their_first_max_seconds():
    feature_extractor = extractor()
    collate = AudioCollator(feature_extractor, max_seconds=0.1)
    long_clip = clip(5000)
    batch = collate([{"audio": long_clip, "label": 1}, {"audio": clip(800), "label": 0}])
    assert batch["input_values"].shape == (2, 1600)
    expected = feature_extractor(long_clip[:1600], sampling_rate=16000, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(batch["input_values"][0].numpy(), expected, atol=1e-5)
    again = collate([{"audio": long_clip, "label": 1}, {"audio": clip(800), "label": 0}])
    assert torch.equal(batch["input_values"], again["input_values"])


def test_short_clips_are_padded_to_the_minimum_and_the_padding_counts_as_audio():
    batch = AudioCollator(extractor())([{"audio": clip(100), "label": 0}, {"audio": [0.5], "label": 3}])
    assert batch["input_values"].shape == (2, 400)
    assert batch["attention_mask"].sum(1).tolist() == [400, 400]  # the model needs one frame: 400 samples
    batch = AudioCollator(extractor(), min_samples=50)([{"audio": clip(30), "label": 0}])
    assert batch["input_values"].shape == (1, 50)


def test_audio_dicts_and_tensors_are_accepted():
    collate = AudioCollator(extractor())
    batch = collate(
        [
            {"audio": {"array": clip(500), "sampling_rate": 16000}, "label": 1},
            {"audio": torch.from_numpy(clip(600)), "label": torch.tensor(4)},
        ]
    )
    assert batch["input_values"].shape == (2, 600) and batch["labels"].tolist() == [1, 4]


def test_integer_audio_is_16_bit_pcm_in_whatever_type_it_arrives():
    """prepare stores int16 PCM; datasets' NumPy format hands it over as int64, an unformatted dataset as Python
    ints, a DataLoader maybe as a tensor: each is divided by 32768, exactly as soundfile reads a 16-bit file."""
    pcm = np.concatenate([[-32768, 32767, 0, 1, -1], np.random.default_rng(0).integers(-32768, 32768, 995)]).astype(np.int16)
    extractor_without_normalisation = default_feature_extractor(ExHubertConfig(feat_extract_norm="layer"))
    extractor_without_normalisation.do_normalize = False  # the scale itself reaches the model
    collate = AudioCollator(extractor_without_normalisation)
    expected = collate([{"audio": pcm.astype(np.float32) / 32768, "label": 0}])["input_values"]
    assert expected[0, :2].tolist() == [-1.0, 32767 / 32768]
    for audio in (pcm, pcm.astype(np.int64), pcm.tolist(), torch.from_numpy(pcm), torch.from_numpy(pcm.astype(np.int32))):
        assert torch.equal(collate([{"audio": audio, "label": 0}])["input_values"], expected), type(audio)


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"audio": [], "label": 0, "path": "empty.wav"}, "empty"),
        ({"audio": [0, 32768], "label": 0, "path": "int.wav"}, "16-bit PCM"),
        ({"audio": np.array([-32769, 0]), "label": 0, "path": "int.wav"}, "16-bit PCM"),
        ({"audio": [[0.1, 0.2], [0.3, 0.4]], "label": 0, "path": "stereo.wav"}, "1-d"),
        ({"audio": 0.5, "label": 0, "path": "scalar.wav"}, "1-d"),
        ({"audio": [0.1, float("nan")], "label": 0, "path": "nan.wav"}, "NaN"),
        ({"audio": [0.1, float("inf")], "label": 0, "path": "inf.wav"}, "NaN"),
        ({"audio": [0.1, 1e300], "label": 0, "path": "huge.wav"}, "overflowing"),
        ({"audio": [0.1, 1e20], "label": 0, "path": "big.wav"}, "too large"),
        ({"audio": ["a", "b"], "label": 0, "path": "text.wav"}, "real numbers"),
        ({"audio": [0.1, 0.2], "label": 6, "path": "label.wav"}, "outside"),
        ({"audio": [0.1, 0.2], "label": -1, "path": "label.wav"}, "outside"),
        ({"audio": [0.1, 0.2], "label": 1.5, "path": "label.wav"}, "integer"),
        ({"audio": [0.1, 0.2], "label": True, "path": "label.wav"}, "integer"),
        ({"label": 0, "path": "noaudio.wav"}, "'audio'"),
        ({"audio": [0.1], "path": "nolabel.wav"}, "'label'"),
        ({"audio": {"array": [0.1], "sampling_rate": 8000}, "label": 0, "path": "rate.wav"}, "8000 Hz"),
    ],
)
def test_invalid_rows_raise_collation_error_naming_the_file(row, reason):
    good = {"audio": clip(500), "label": 0, "path": "good.wav"}
    with pytest.raises(CollationError, match=reason) as caught:
        AudioCollator(extractor())([good, row])
    assert caught.value.path == row["path"] and caught.value.index == 1
    assert row["path"] in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_batches_that_are_not_lists_of_rows():
    collate = AudioCollator(extractor())
    for rows in ([], {"audio": [0.1], "label": 0}, [[0.1, 0.2]], None):
        with pytest.raises(CollationError):
            collate(rows)


def test_invalid_settings():
    with pytest.raises(ValueError, match="sampling_rate"):
        AudioCollator(extractor(), sampling_rate=8000)
    with pytest.raises(ValueError, match="max_seconds"):
        AudioCollator(extractor(), max_seconds=0)


finite_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
audio_values = st.one_of(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int16, np.int64, np.uint8, np.bool_, np.complex64]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40),
    ),
    st.lists(finite_floats, max_size=50),
    st.lists(st.lists(finite_floats, max_size=4), max_size=5),
    st.lists(st.integers(-(2**70), 2**70), max_size=20),
    finite_floats,
    st.integers(),
    st.text(max_size=5),
    st.none(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
labels = st.one_of(st.integers(-3, 9), st.floats(), st.booleans(), st.none(), st.text(max_size=2))
valid_rows = st.fixed_dictionaries(
    {
        "audio": st.one_of(
            hnp.arrays(np.float32, st.integers(1, 900), elements=st.floats(-1, 1, width=32)),
            st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30),
        ),
        "label": st.integers(0, 5),
    },
    optional={"path": st.text(max_size=8)},
)
rows = st.one_of(
    valid_rows,
    valid_rows,
    st.fixed_dictionaries({"audio": audio_values, "label": labels}, optional={"path": st.text(max_size=8)}),
    st.fixed_dictionaries({"audio": audio_values}),
    st.integers(),
)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, min_size=0, max_size=4), st.booleans(), st.sampled_from([None, 0.001, 1.0]))
def test_fuzzed_rows_give_a_correct_batch_or_a_collation_error(batch_rows, layer_norm, max_seconds):
    collate = AudioCollator(extractor(layer_norm), max_seconds=max_seconds)
    try:
        batch = collate(batch_rows)
    except CollationError:
        return
    assert len(batch_rows) > 0
    lengths = [min(np.asarray(row["audio"]).size, collate.max_samples or 10**9) for row in batch_rows]
    assert batch["input_values"].shape == (len(batch_rows), max(max(lengths), 400))
    assert batch["input_values"].dtype == torch.float32 and torch.isfinite(batch["input_values"]).all()
    assert batch["labels"].tolist() == [int(row["label"]) for row in batch_rows]
    assert all(0 <= label < 6 for label in batch["labels"].tolist())
    if layer_norm:
        assert batch["attention_mask"].sum(1).tolist() == [max(length, 400) for length in lengths]

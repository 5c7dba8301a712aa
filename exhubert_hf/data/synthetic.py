"""Synthetic emotional "speech" for the offline demo and the tests: no download, no real data needed.

Each clip is a train of voiced "syllables": harmonic complexes (a glottal-pulse-like source with a
spectral tilt) through one speaker-specific formant, with pauses, breath noise and background noise. The
six ExHuBERT classes (arousal x valence) differ the way acted emotional speech tends to:

* valence -> pitch: negative low (and falling), neutral mid (flat), positive high (and rising);
* arousal -> tempo, loudness and brightness: high arousal has more, shorter syllables, a louder voice (the
  feature extractor normalises each clip, so loudness alone would not survive) and more energy in the
  upper harmonics.

Speakers differ in pitch (x0.85..1.15), tempo (x0.9..1.1), formant and noise level, and every clip has
its own random variation, so a model must learn the class cues rather than memorise clips. Files are
16 kHz mono PCM16 WAVs with a CSV manifest (`path,label,speaker,gender,language,split`) readable by
`exhubert_hf.corpora.read_manifest` (labels are the six class names).

Rated corpora (`generate_corpus(..., rated=True)`) carry continuous arousal, valence and dominance instead, each
drawn uniformly from [0, 1] per clip and each a known function of the signal (`synthesize_rated_clip`):

* arousal -> loudness: the voice's RMS level, 0.01 x 12^arousal (0.01 to 0.12, even in dB: 21.6 dB apart; its
  peaks stay below 1), over a background hiss that is the same in every clip (white noise of RMS 0.01 high-passed at
  6 kHz, above the voice's harmonics, which stop at 5 kHz). The level itself does not survive the feature
  extractor's normalisation; its distance to the hiss does, and the hiss masks neither pitch nor brightness;
* valence -> pitch: f0 = 100 Hz x 2.5^valence (100 to 250 Hz, even on a log scale), the same for every speaker;
* dominance -> brightness: the spectral tilt of the harmonics, 1 / h^(2.4 - 1.8 x dominance).

Their manifests declare three different scales (`arousal[1..5]`, `valence[-1..1]`, `dominance[1..7]`) and the
six-class label that the ratings imply (high arousal from 0.5 on; valence in thirds).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import butter, lfilter, sosfilt

from ..configuration_exhubert import EXHUBERT_LABELS, SAMPLING_RATE

MANIFEST_NAME = "manifest.csv"

# per valence level: base pitch (Hz), pitch slope over a syllable (fraction of f0)
_VALENCE_PITCH = {0: (105.0, -0.25), 1: (165.0, 0.0), 2: (255.0, 0.3)}
# per arousal level: syllables per second, syllable duty cycle, spectral tilt exponent, loudness
_AROUSAL_STYLE = {0: (2.2, 0.75, 2.2, 0.25), 1: (6.0, 0.55, 0.9, 0.9)}
# Rated clips: the scales their manifest declares (module docstring), and the signal's fixed settings.
RATING_SCALES = {"arousal": (1.0, 5.0), "valence": (-1.0, 1.0), "dominance": (1.0, 7.0)}
_RATED_STYLE = dict(rate=4.0, duty=0.65, noise_level=0.01, level="rms", top_hz=5000.0, hiss_hz=6000.0)


@dataclass(frozen=True)
class Speaker:
    name: str
    gender: str
    pitch_factor: float
    tempo_factor: float
    formant_hz: float
    noise_level: float


def make_speakers(corpus: str, count: int, seed: int) -> list[Speaker]:
    rng = np.random.default_rng([seed, _stable_hash(corpus), 1])
    speakers = []
    for index in range(count):
        gender = "female" if index % 2 else "male"
        base = 1.08 if gender == "female" else 0.93
        speakers.append(
            Speaker(
                name=f"{corpus}_spk{index:02d}",
                gender=gender,
                pitch_factor=float(base * rng.uniform(0.92, 1.08)),
                tempo_factor=float(rng.uniform(0.9, 1.1)),
                formant_hz=float(rng.uniform(500.0, 1400.0)),
                noise_level=float(rng.uniform(0.005, 0.02)),
            )
        )
    return speakers


def synthesize_clip(label: int, speaker: Speaker, rng: np.random.Generator, duration: float = 1.5) -> np.ndarray:
    """One clip of class `label` (0..5, `EXHUBERT_LABELS` order) as float32 samples in [-1, 1] at 16 kHz."""
    arousal, valence = divmod(int(label), 3)
    base_f0, slope = _VALENCE_PITCH[valence]
    rate, duty, tilt, loudness = _AROUSAL_STYLE[arousal]
    f0 = base_f0 * speaker.pitch_factor * rng.uniform(0.93, 1.07)
    rate = rate * speaker.tempo_factor * rng.uniform(0.9, 1.1)
    return _voice(f0, slope, rate, duty, tilt, loudness, speaker.formant_hz, speaker.noise_level, rng, duration)


def synthesize_rated_clip(ratings: dict, speaker: Speaker, rng: np.random.Generator, duration: float = 1.5):
    """One clip whose loudness, pitch and brightness are the functions of its `ratings` ({"arousal", "valence",
    "dominance"} in [0, 1]) that the module docstring gives; the speaker adds tempo and formant only."""
    f0 = 100.0 * 2.5 ** ratings["valence"]
    tilt = 2.4 - 1.8 * ratings["dominance"]
    loudness = 0.01 * 12.0 ** ratings["arousal"]
    style = dict(_RATED_STYLE, rate=_RATED_STYLE["rate"] * speaker.tempo_factor)
    return _voice(f0=f0, slope=0.0, tilt=tilt, loudness=loudness, formant_hz=speaker.formant_hz, rng=rng,
                  duration=duration, **style)  # fmt: skip


def rated_class(ratings: dict) -> int:
    """The six-class label the ratings imply: high arousal from 0.5 on, valence negative / neutral / positive in
    thirds."""
    return 3 * int(ratings["arousal"] >= 0.5) + min(2, int(3 * ratings["valence"]))


def _voice(f0, slope, rate, duty, tilt, loudness, formant_hz, noise_level, rng, duration, level="peak", top_hz=7000.0,
           hiss_hz=None):
    """Syllables of pitch `f0` (changing by `slope` over each), `rate` per second for `duty` of their period, with
    up to 23 harmonics below `top_hz` falling as 1 / h^tilt, through a formant at `formant_hz`, at `loudness` (the
    `level` "peak" or "rms" of the voice), over white noise of RMS `noise_level` (high-passed at `hiss_hz` if given)."""
    num_samples = int(duration * SAMPLING_RATE)
    t = np.arange(num_samples) / SAMPLING_RATE
    signal = np.zeros(num_samples)
    period = 1.0 / rate
    start = rng.uniform(0.0, 0.3 * period)
    while start < duration:
        length = period * duty * rng.uniform(0.8, 1.2)
        begin, end = int(start * SAMPLING_RATE), min(num_samples, int((start + length) * SAMPLING_RATE))
        if end - begin > 40:
            local = t[begin:end] - t[begin]
            progress = local / max(length, 1e-6)
            contour = f0 * (1.0 + slope * (progress - 0.5)) * (1.0 + 0.02 * np.sin(2 * np.pi * 5.0 * local))
            phase = 2 * np.pi * np.cumsum(contour) / SAMPLING_RATE
            voiced = np.zeros_like(local)
            for harmonic in range(1, 24):
                if harmonic * contour.max() > top_hz:
                    break
                voiced += np.sin(harmonic * phase) / harmonic**tilt
            envelope = np.sin(np.pi * np.clip(progress, 0.0, 1.0)) ** 0.7
            signal[begin:end] += voiced * envelope * rng.uniform(0.8, 1.2)
        start += period * rng.uniform(0.85, 1.15)
    signal = _formant(signal, formant_hz, bandwidth=180.0) + 0.3 * signal
    peak = np.abs(signal).max() if level == "peak" else np.sqrt(np.mean(signal**2))
    if peak > 0:
        signal = signal / peak * loudness
    noise = rng.normal(0.0, noise_level, num_samples)
    signal += noise if hiss_hz is None else sosfilt(butter(8, hiss_hz, "highpass", fs=SAMPLING_RATE, output="sos"), noise)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def _rating_columns(ratings: dict) -> dict[str, float]:
    """The ratings as the manifest's columns, each in its scale: `arousal[1..5]` and so on."""
    columns = {}
    for name, (low, high) in RATING_SCALES.items():
        columns[f"{name}[{low:g}..{high:g}]"] = round(low + (high - low) * float(ratings[name]), 6)
    return columns


def _formant(signal: np.ndarray, frequency: float, bandwidth: float) -> np.ndarray:
    """A two-pole resonator (one vocal-tract formant)."""
    r = np.exp(-np.pi * bandwidth / SAMPLING_RATE)
    theta = 2 * np.pi * frequency / SAMPLING_RATE
    return lfilter([1.0 - r], [1.0, -2 * r * np.cos(theta), r * r], signal)


def _stable_hash(text: str) -> int:
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") ^ len(text)


def generate_corpus(
    root,
    name: str,
    *,
    num_speakers: int = 8,
    clips_per_class: int = 4,
    split_speakers: Sequence[int] = (5, 1, 2),
    duration: float = 1.5,
    seed: int = 0,
    language: str = "xx",
    rated: bool = False,
) -> Path:
    """Writes `root/name/<speaker>/<clip>.wav` and `root/name/manifest.csv`; returns the manifest's path.

    `clips_per_class` clips of each class per speaker; with `rated`, as many clips per speaker with random ratings
    (`synthesize_rated_clip`; the manifest's rating columns in the scales of `RATING_SCALES`). `split_speakers` =
    speakers in (train, validation, test), in speaker order (speaker-independent splits, given in the manifest's
    `split` column); their sum must be `num_speakers`. Existing files are overwritten; the result depends only on
    the arguments."""
    if sum(split_speakers) != num_speakers:
        raise ValueError(f"split_speakers {tuple(split_speakers)} must add up to num_speakers={num_speakers}")
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    speakers = make_speakers(name, num_speakers, seed)
    splits = [split for split, count in zip(("train", "validation", "test"), split_speakers) for _ in range(count)]
    rows = []
    for speaker_index, (speaker, split) in enumerate(zip(speakers, splits)):
        rng = np.random.default_rng([seed, _stable_hash(name), 2, speaker_index])
        (folder / speaker.name).mkdir(exist_ok=True)
        for label in range(len(EXHUBERT_LABELS)):
            for take in range(clips_per_class):
                clip_duration = duration * rng.uniform(0.85, 1.15)
                ratings = dict(zip(RATING_SCALES, rng.uniform(0.0, 1.0, 3))) if rated else None
                if rated:
                    label = rated_class(ratings)
                    audio = synthesize_rated_clip(ratings, speaker, rng, clip_duration)
                    relative = f"{speaker.name}/{speaker.name}_rated_{len(rows):04d}.wav"
                else:
                    audio = synthesize_clip(label, speaker, rng, clip_duration)
                    relative = f"{speaker.name}/{speaker.name}_c{label}_{take:02d}.wav"
                soundfile.write(folder / relative, audio, SAMPLING_RATE, subtype="PCM_16")
                rows.append(
                    {
                        "path": relative,
                        "label": EXHUBERT_LABELS[label],
                        "speaker": speaker.name,
                        "gender": speaker.gender,
                        "language": language,
                        "split": split,
                        **({} if ratings is None else _rating_columns(ratings)),
                    }
                )
    manifest = folder / MANIFEST_NAME
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


__all__ = [
    "MANIFEST_NAME",
    "RATING_SCALES",
    "Speaker",
    "generate_corpus",
    "make_speakers",
    "rated_class",
    "synthesize_clip",
    "synthesize_rated_clip",
]

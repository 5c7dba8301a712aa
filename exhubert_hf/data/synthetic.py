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
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import lfilter

from ..configuration_exhubert import EXHUBERT_LABELS, SAMPLING_RATE

MANIFEST_NAME = "manifest.csv"

# per valence level: base pitch (Hz), pitch slope over a syllable (fraction of f0)
_VALENCE_PITCH = {0: (105.0, -0.25), 1: (165.0, 0.0), 2: (255.0, 0.3)}
# per arousal level: syllables per second, syllable duty cycle, spectral tilt exponent, loudness
_AROUSAL_STYLE = {0: (2.2, 0.75, 2.2, 0.25), 1: (6.0, 0.55, 0.9, 0.9)}


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
                if harmonic * contour.max() > 7000:
                    break
                voiced += np.sin(harmonic * phase) / harmonic**tilt
            envelope = np.sin(np.pi * np.clip(progress, 0.0, 1.0)) ** 0.7
            signal[begin:end] += voiced * envelope * rng.uniform(0.8, 1.2)
        start += period * rng.uniform(0.85, 1.15)
    signal = _formant(signal, speaker.formant_hz, bandwidth=180.0) + 0.3 * signal
    peak = np.abs(signal).max()
    if peak > 0:
        signal = signal / peak * loudness
    signal += rng.normal(0.0, speaker.noise_level, num_samples)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


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
) -> Path:
    """Writes `root/name/<speaker>/<clip>.wav` and `root/name/manifest.csv`; returns the manifest's path.

    `clips_per_class` clips of each class per speaker. `split_speakers` = speakers in (train, validation,
    test), in speaker order (speaker-independent splits, given in the manifest's `split` column); their sum
    must be `num_speakers`. Existing files are overwritten; the result depends only on the arguments."""
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
                    }
                )
    manifest = folder / MANIFEST_NAME
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


__all__ = ["MANIFEST_NAME", "Speaker", "generate_corpus", "make_speakers", "synthesize_clip"]

"""Emotion prediction and embeddings for audio files and signals, and the `predict` / `embed` commands.

    from exhubert_hf.inference import EmotionPredictor

    predictor = EmotionPredictor("path/to/model-or-hub-id", revision="<40-hex commit>", window=3.0)
    table = predictor.predict_folder("recordings/")          # a pandas DataFrame
    files = table[table.level == "file"]                     # one aggregated row per file
    embeddings = predictor.embed_files(["a.wav", "b.flac"])  # Embeddings(files, vectors, failed)

Windowing (in the style of audinterface: the windowing is part of the predictor)
    A file of N samples is cut into windows of `window` seconds that start every `hop` seconds (0, hop,
    2 hop, ...). A window starts only if it begins before the end of the file and the previous window did
    not already reach the end, so with hop <= window the windows cover the whole file and the last one may
    be shorter than `window`: 1 + ceil(max(N - window, 0) / hop) windows (60 s, window 3 s, hop 3 s: 20;
    hop 1.5 s: 39; 61 s: 21 and 40, the last one 1 s / 2.5 s long). A file shorter than the window is one
    window. Rows report the real start and end of each window, never the padding.

Padding (follows the model's feature extractor)
    Every window is normalised by the feature extractor over its real samples only. A window shorter than
    the feature encoder's receptive field (400 samples = 25 ms for HuBERT; computed from `conv_kernel` /
    `conv_stride`) is zero-padded to it, and those zeros count as audio: the model needs one frame.
    Models whose feature extractor returns an attention mask (layer-norm feature encoders, HuBERT Large)
    get batches padded to their longest window with an attention mask, so a window's result does not
    depend on its batch. Models without one (group-norm feature encoders, and the converted published
    checkpoint, trained on zero-padded 3 s clips) get every window zero-padded to `window` seconds, the
    regime they were trained in, and again no dependence on the batch.

Aggregation
    The file row holds the mean of the window probabilities weighted by each window's real duration (a
    short last window counts less); with non-overlapping windows this is the mean over time. Embeddings
    are the mean over all frames of `hidden_states[layer]`, i.e. windows weighted by their frame counts.

Memory
    Files longer than `block_seconds` (60 s) are read block by block with `read_audio(offset, duration)`;
    blocks end on window boundaries, so no window straddles two blocks. At most about `pool_samples`
    samples of windows wait for the model at once, so a one-hour file needs a few tens of MB, not the
    230 MB of its decoded samples. (Formats that libsndfile cannot read, e.g. AAC/M4A, fall back to a
    decoder that reads the whole file.)

Bad files
    Anything `read_audio` / `audio_info` cannot use (missing, empty, undecodable, NaN samples, ...) becomes
    a row with `error` = the reason and no probabilities; the other files are predicted.

Command line
    exhubert predict PATH... [--model M] [--revision R] [--window 3] [--hop H] [--batch-size 8]
                             [--format table|csv|jsonl|json] [--level both|file|window]
                             [--output FILE [--overwrite]] [--no-progress]
    exhubert embed PATH... [--model M] [--revision R] [--layer -1] --output OUT.npy|OUT.parquet [...]

    PATH is an audio file, a folder (searched recursively for audio suffixes), a glob (quote it) or a
    manifest: a .txt with one path per line or a .csv with a `file` or `path` column (else its first
    column); relative manifest entries are relative to the manifest. `embed` writes OUT.npy (files x dims,
    float32) with the file names, one per line, in OUT.files.txt, or OUT.parquet with a `file` column and an
    `embedding` fixed-size-list column.

    Exit status: 0 every file was processed; 1 some files failed (each reported on stderr as
    "PATH: reason", the others written); 2 usage error or nothing to do (no audio found, the model cannot
    be loaded, --output exists without --overwrite).
"""

import argparse
import csv
import glob
import io
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, PreTrainedModel

from .audio import AUDIO_SUFFIXES, AudioReadError, audio_info, error_summary, find_audio_files, read_audio
from .configuration_exhubert import AROUSAL_LEVELS, EXHUBERT_LABELS, VALENCE_LEVELS
from .export import quantize_int8
from .modeling_exhubert import default_feature_extractor, receptive_field

# The Hub repository the project publishes its model to; `predict` uses it when no --model is given.
DEFAULT_MODEL = "exhubert-hf/exhubert-large"

BLOCK_SECONDS = 60.0
POOL_SAMPLES = 2**22  # about 262 s of 16 kHz audio (16 MB) waiting for the model at most
VALENCE_COLUMNS = tuple(f"valence_{level}" for level in VALENCE_LEVELS)
FORMATS = ("table", "csv", "jsonl", "json")
_FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".txt": "table"}


def window_bounds(num_samples: int, window: int, hop: int) -> Iterator[tuple[int, int]]:
    """(start, end) sample positions of the windows of a signal of `num_samples` samples (see the module
    docstring for the rule); at least one window, the last one possibly shorter than `window`."""
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be at least one sample, got {window} and {hop}")
    start = 0
    while True:
        end = min(start + window, num_samples)
        yield start, end
        start += hop
        if end >= num_samples or start >= num_samples:
            return


@dataclass
class Embeddings:
    """Per-file embeddings: `vectors[i]` belongs to `files[i]`; files that could not be read are in
    `failed` (path -> reason) and have no row."""

    files: list[str]
    vectors: np.ndarray
    failed: dict[str, str] = field(default_factory=dict)
    layer: int = -1

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({"file": self.files, "embedding": list(self.vectors)})


@dataclass
class _FileState:
    name: str
    num_samples: int = 0
    error: str = ""
    pending: int = 0
    read_done: bool = False
    reported: bool = False
    outputs: dict = field(default_factory=dict)  # window index -> (start, end, output)


@dataclass
class _Window:
    file: _FileState
    index: int
    start: int
    end: int
    samples: np.ndarray


class EmotionPredictor:
    """Six-class emotion probabilities (and embeddings) for signals, files and folders.

    Args:
        model: a folder saved with `save_pretrained`, a Hub id, or a loaded audio-classification model.
        revision: Hub branch, tag or (recommended) full commit hash, for Hub ids.
        window: window length in seconds; `hop`: window step in seconds (default: `window`).
        batch_size: windows per forward pass (windows are sorted by length first, to cut padding).
        device: torch device (default: CUDA if available, else CPU).
        feature_extractor: overrides the model's own (`preprocessor_config.json`; the default
            ExHuBERT one when the folder has none).
        show_progress: a tqdm progress bar over files.
        block_seconds, pool_samples: memory bounds for long files (see the module docstring).
        int8: run the encoder's linear layers as int8 dynamic quantization (CPU only; the head stays
            float32). About 2x faster on CPU with the same top class on EMO-DB (docs/benchmarks.md).
    """

    def __init__(
        self,
        model=DEFAULT_MODEL,
        revision: str | None = None,
        window: float = 3.0,
        hop: float | None = None,
        batch_size: int = 8,
        device=None,
        feature_extractor=None,
        show_progress: bool = True,
        block_seconds: float = BLOCK_SECONDS,
        pool_samples: int = POOL_SAMPLES,
        int8: bool = False,
    ):
        hop = window if hop is None else hop
        if not (window > 0 and hop > 0):
            raise ValueError(f"window and hop must be positive seconds, got window={window}, hop={hop}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.feature_extractor = _load(model, revision, feature_extractor)
        if int8:
            if self.device.type != "cpu":
                raise ValueError(f"int8 dynamic quantization runs on the CPU only, not on {self.device}")
            self.model = quantize_int8(self.model)
        self.model.to(self.device).eval()
        self.sampling_rate = int(self.feature_extractor.sampling_rate)
        self.window, self.hop = float(window), float(hop)
        self.window_samples = max(1, round(window * self.sampling_rate))
        self.hop_samples = max(1, round(hop * self.sampling_rate))
        self.min_samples = receptive_field(self.model.config)
        self.uses_attention_mask = bool(getattr(self.feature_extractor, "return_attention_mask", False))
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.block_samples = max(self.window_samples, round(block_seconds * self.sampling_rate))
        self.pool_samples = pool_samples
        id2label = self.model.config.id2label
        self.labels = [id2label[index] for index in range(len(id2label))]
        self.has_emotion_marginals = set(self.labels) == set(EXHUBERT_LABELS)
        if self.has_emotion_marginals:  # model class index -> (arousal index, valence index), by label name
            levels = [divmod(EXHUBERT_LABELS.index(label), len(VALENCE_LEVELS)) for label in self.labels]
            self._high_arousal = [i for i, (arousal, _) in enumerate(levels) if arousal == AROUSAL_LEVELS.index("high")]
            self._valence = [[i for i, (_, level) in enumerate(levels) if level == valence] for valence in range(len(VALENCE_LEVELS))]

    # ------------------------------------------------------------------ predictions

    def predict_signal(self, signal, sampling_rate: int, file: str = "") -> pd.DataFrame:
        """Rows for one signal (1-d, or channels x samples, averaged): its windows and the aggregate."""
        signal = self._prepare_signal(signal, sampling_rate)
        state = _FileState(file, num_samples=len(signal))
        windows = ((i, s, e, signal[s:e]) for i, (s, e) in enumerate(window_bounds(len(signal), self.window_samples, self.hop_samples)))
        self._run([(state, windows)], self._probabilities, total=1)
        return self._prediction_frame([state])

    def predict_file(self, path) -> pd.DataFrame:
        return self.predict_files([path])

    def predict_files(self, paths: Iterable) -> pd.DataFrame:
        """Rows for every file, in the given order: the file row (aggregate, or the error) then its windows."""
        paths = [str(path) for path in paths]
        states = self._run(self._file_sources(paths), self._probabilities, total=len(paths))
        return self._prediction_frame(states)

    def predict_folder(self, folder, recursive: bool = True) -> pd.DataFrame:
        return self.predict_files(find_audio_files(folder, recursive=recursive))

    # ------------------------------------------------------------------ embeddings

    def embed_signal(self, signal, sampling_rate: int, layer: int = -1) -> np.ndarray:
        """Mean over time of `hidden_states[layer]` for one signal (a 1-d vector)."""
        signal = self._prepare_signal(signal, sampling_rate)
        state = _FileState("", num_samples=len(signal))
        windows = ((i, s, e, signal[s:e]) for i, (s, e) in enumerate(window_bounds(len(signal), self.window_samples, self.hop_samples)))
        self._run([(state, windows)], lambda batch: self._frame_sums(batch, layer), total=1)
        return _mean_embedding(state)

    def embed_files(self, paths: Iterable, layer: int = -1) -> Embeddings:
        """Per-file mean over time of `hidden_states[layer]` as transformers returns them (0 = the input to
        the first encoder layer, -1 = the output of the last layer; for pre-LN models that is before the
        encoder's final layer norm, which only `last_hidden_state` has); windows weighted by frames."""
        paths = [str(path) for path in paths]
        states = self._run(self._file_sources(paths), lambda batch: self._frame_sums(batch, layer), total=len(paths))
        good = [state for state in states if not state.error]
        dims = self.model.config.hidden_size
        vectors = np.stack([_mean_embedding(state) for state in good]) if good else np.zeros((0, dims), np.float32)
        failed = {state.name: state.error for state in states if state.error}
        return Embeddings([state.name for state in good], vectors, failed, layer)

    def embed_folder(self, folder, layer: int = -1, recursive: bool = True) -> Embeddings:
        return self.embed_files(find_audio_files(folder, recursive=recursive), layer)

    # ------------------------------------------------------------------ machinery

    def _prepare_signal(self, signal, sampling_rate: int) -> np.ndarray:
        if isinstance(signal, torch.Tensor):
            signal = signal.detach().cpu().numpy()
        signal = np.asarray(signal, dtype=np.float32)
        if signal.ndim == 2:
            signal = signal.mean(axis=0)
        if signal.ndim != 1 or signal.size == 0:
            raise ValueError(f"expected a non-empty 1-d signal (or channels x samples), got shape {signal.shape}")
        if not np.isfinite(signal).all():
            raise ValueError("the signal contains NaN or infinite samples")
        if sampling_rate != self.sampling_rate:
            import librosa

            signal = librosa.resample(signal, orig_sr=sampling_rate, target_sr=self.sampling_rate, res_type="soxr_hq")
        return np.ascontiguousarray(signal, dtype=np.float32)

    def _file_sources(self, paths: list[str]) -> Iterator[tuple[_FileState, Iterator]]:
        for path in paths:
            state = _FileState(path)
            yield state, self._file_windows(path, state)

    def _file_windows(self, path: str, state: _FileState) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """The windows of a file, read whole when short and block by block when long."""
        rate = self.sampling_rate
        info = audio_info(path)
        estimated = math.ceil(info.num_frames * rate / info.sampling_rate) if info.sampling_rate else 0
        if estimated <= self.block_samples:
            signal = read_audio(path, rate)
            state.num_samples = len(signal)
            for index, (start, end) in enumerate(window_bounds(len(signal), self.window_samples, self.hop_samples)):
                yield index, start, end, signal[start:end]
            return
        state.num_samples = estimated
        bounds = list(window_bounds(estimated, self.window_samples, self.hop_samples))
        first = 0
        while first < len(bounds):
            block_start, last = bounds[first][0], first
            while last + 1 < len(bounds) and bounds[last + 1][1] - block_start <= self.block_samples:
                last += 1
            block_end = bounds[last][1]
            try:
                block = read_audio(path, rate, offset=block_start / rate, duration=(block_end - block_start) / rate)
            except AudioReadError as error:
                if first > 0 and "no audio samples" in error.reason:  # the header promised more than there is
                    state.num_samples = block_start
                    return
                raise
            for index in range(first, last + 1):
                start, end = bounds[index]
                piece = block[start - block_start : end - block_start]
                if piece.size == 0:
                    state.num_samples = start
                    return
                yield index, start, start + len(piece), piece
            first = last + 1

    def _run(self, sources, compute, total: int) -> list[_FileState]:
        """Streams the windows of every source through the model in sorted batches; fills `outputs`."""
        states, pool, pooled = [], [], 0
        progress = tqdm(total=total, unit="file", disable=not self.show_progress, desc="exhubert")

        def flush():
            nonlocal pool, pooled
            pool.sort(key=lambda item: len(item.samples), reverse=True)
            for begin in range(0, len(pool), self.batch_size):
                batch = pool[begin : begin + self.batch_size]
                for item, output in zip(batch, compute(batch)):
                    item.file.outputs[item.index] = (item.start, item.end, output)
                    item.file.pending -= 1
            pool, pooled = [], 0
            report_finished()

        def report_finished():
            for state in states:
                if state.read_done and state.pending == 0 and not state.reported:
                    state.reported = True
                    progress.update(1)

        with torch.inference_mode():
            for state, windows in sources:
                states.append(state)
                try:
                    for index, start, end, samples in windows:
                        pool.append(_Window(state, index, start, end, samples))
                        state.pending += 1
                        pooled += max(len(samples), self.min_samples)
                        if pooled >= self.pool_samples and len(pool) >= self.batch_size:
                            flush()
                except AudioReadError as error:
                    state.error = error.reason
                    pool = [item for item in pool if item.file is not state]
                    pooled = sum(len(item.samples) for item in pool)
                    state.pending, state.outputs = 0, {}
                state.read_done = True
                report_finished()
            flush()
        progress.close()
        return states

    def _inputs(self, batch: list[_Window]) -> tuple[dict, torch.Tensor]:
        arrays = [
            item.samples if len(item.samples) >= self.min_samples else np.pad(item.samples, (0, self.min_samples - len(item.samples)))
            for item in batch
        ]
        lengths = torch.tensor([len(array) for array in arrays])
        if self.uses_attention_mask:
            padding = dict(padding="longest")
        else:
            padding = dict(padding="max_length", max_length=max(self.window_samples, int(lengths.max())))
        # The mask is always computed so that normalisation covers the real samples only; the model gets
        # it only if its feature extractor says so.
        features = self.feature_extractor(
            arrays, sampling_rate=self.sampling_rate, return_attention_mask=True, return_tensors="pt", **padding
        )
        input_name = self.feature_extractor.model_input_names[0]
        inputs = {input_name: features[input_name].to(self.device, self.model.dtype)}
        if self.uses_attention_mask:
            inputs["attention_mask"] = features["attention_mask"].to(self.device)
        return inputs, lengths

    def _probabilities(self, batch: list[_Window]) -> list[np.ndarray]:
        inputs, _ = self._inputs(batch)
        logits = self.model(**inputs).logits.float()
        return list(torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float64))

    def _frame_sums(self, batch: list[_Window], layer: int) -> list[tuple[np.ndarray, int]]:
        inputs, lengths = self._inputs(batch)
        outputs = self.model.base_model(**inputs, output_hidden_states=True)
        hidden = outputs.hidden_states[layer].float()
        frames = self.model._get_feat_extract_output_lengths(lengths).clamp(min=1, max=hidden.shape[1]).to(hidden.device)
        mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]
        sums = (hidden * mask[..., None]).sum(dim=1).cpu().numpy().astype(np.float64)
        return list(zip(sums, frames.cpu().tolist()))

    def _prediction_frame(self, states: list[_FileState]) -> pd.DataFrame:
        rows = []
        for state in states:
            if state.error:
                rows.append(self._row(state.name, "file", None, math.nan, math.nan, None, state.error))
                continue
            windows = [state.outputs[index] for index in sorted(state.outputs)]
            weights = np.array([end - start for start, end, _ in windows], dtype=np.float64)
            probabilities = np.stack([output for _, _, output in windows])
            mean = (probabilities * weights[:, None]).sum(axis=0) / weights.sum()
            duration = max(state.num_samples, windows[-1][1]) / self.sampling_rate
            rows.append(self._row(state.name, "file", None, 0.0, duration, mean))
            for index, (start, end, output) in zip(sorted(state.outputs), windows):
                rows.append(self._row(state.name, "window", index, start / self.sampling_rate, end / self.sampling_rate, output))
        frame = pd.DataFrame(rows, columns=self.columns)
        frame["window"] = frame["window"].astype("Int64")
        return frame

    @property
    def columns(self) -> list[str]:
        marginals = ["arousal", *VALENCE_COLUMNS] if self.has_emotion_marginals else []
        return ["file", "level", "window", "start", "end", *self.labels, "top_class", *marginals, "error"]

    def _row(self, file, level, window, start, end, probabilities, error="") -> dict:
        row = {"file": file, "level": level, "window": window, "start": start, "end": end}
        if probabilities is None:
            row.update({label: math.nan for label in self.labels}, top_class="")
        else:
            row.update({label: float(p) for label, p in zip(self.labels, probabilities)})
            row["top_class"] = self.labels[int(np.argmax(probabilities))]
        if self.has_emotion_marginals:
            row["arousal"] = math.nan if probabilities is None else float(probabilities[self._high_arousal].sum())
            for column, indices in zip(VALENCE_COLUMNS, self._valence):
                row[column] = math.nan if probabilities is None else float(probabilities[indices].sum())
        row["error"] = error
        return row


def _mean_embedding(state: _FileState) -> np.ndarray:
    total = sum(output[0] for _, _, output in state.outputs.values())
    frames = sum(output[1] for _, _, output in state.outputs.values())
    return (total / frames).astype(np.float32)


def _load(model, revision, feature_extractor):
    if isinstance(model, PreTrainedModel):
        source = model.name_or_path if model.name_or_path and Path(model.name_or_path).is_dir() else None
        loaded = model
    else:
        source = str(model)
        if Path(source).exists() and not Path(source).is_dir():
            raise OSError(f"{source} is not a model folder")
        # With exhubert_hf imported, ExHuBERT configs resolve to this package's classes; trust_remote_code
        # only matters for other model types whose code lives in their repository.
        loaded = AutoModelForAudioClassification.from_pretrained(source, revision=revision, trust_remote_code=True)
    if feature_extractor is None:
        feature_extractor = default_feature_extractor(loaded.config)
        if source is not None:
            try:
                feature_extractor = AutoFeatureExtractor.from_pretrained(source, revision=revision)
            except (OSError, ValueError):
                pass
    return loaded, feature_extractor


# ---------------------------------------------------------------------- command line


def collect_audio_paths(specs: Iterable[str]) -> tuple[list[str], list[str]]:
    """Files named by command-line PATHs (files, folders, globs, .txt/.csv manifests), in order without
    duplicates, and notes about PATHs that named nothing. Paths that do not exist are kept (they become
    error rows), except globs, which are reported in the notes."""
    files, notes = [], []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = find_audio_files(path)
            if not found:
                notes.append(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found in {spec}")
            files.extend(map(str, found))
        elif path.is_file() and path.suffix.lower() in (".csv", ".txt"):
            entries = _manifest_entries(path)
            if not entries:
                notes.append(f"manifest {spec} lists no files")
            files.extend(entries)
        elif not path.exists() and any(char in spec for char in "*?["):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                notes.append(f"no files match {spec}")
            for match in matches:
                files.extend(map(str, find_audio_files(match)) if Path(match).is_dir() else [match])
        else:
            files.append(spec)
    return list(dict.fromkeys(files)), notes


def _manifest_entries(manifest: Path) -> list[str]:
    text = manifest.read_text(encoding="utf-8-sig")
    if manifest.suffix.lower() == ".txt":
        entries = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    else:
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return []
        header = [name.strip().lower() for name in rows[0]]
        column = next((header.index(name) for name in ("file", "path") if name in header), None)
        if column is None:  # no header we know: the first column, and the first row is a path too
            column, body = 0, rows
        else:
            body = rows[1:]
        entries = [row[column].strip() for row in body if len(row) > column and row[column].strip()]
    return [entry if Path(entry).is_absolute() else str(manifest.parent / entry) for entry in entries]


def _add_common_arguments(parser: argparse.ArgumentParser, model_required: bool) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders, globs, or .txt/.csv manifests")
    parser.add_argument(
        "--model",
        required=model_required,
        default=None if model_required else DEFAULT_MODEL,
        help="model folder or Hub id" + ("" if model_required else f" (default: {DEFAULT_MODEL})"),
    )
    parser.add_argument("--revision", help="Hub branch, tag or full 40-hex commit (pin a commit for reproducible results)")
    parser.add_argument("--window", type=float, default=3.0, help="window length in seconds (default: 3)")
    parser.add_argument("--hop", type=float, help="window step in seconds (default: the window length)")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default: 8)")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    parser.add_argument(
        "--int8", action="store_true", help="CPU: int8 dynamic quantization of the encoder (about 2x faster, see docs/benchmarks.md)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parser(subparsers) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="predict emotion probabilities for audio files",
        description=(
            "Six-class emotion probabilities (arousal x valence) per window and per file. Exit status: 0 all "
            "files predicted, 1 some files failed (reported on stderr), 2 usage error or nothing to do."
        ),
    )
    _add_common_arguments(predict, model_required=False)
    predict.add_argument("--format", choices=FORMATS, help="output format (default: from --output's suffix, else table)")
    predict.add_argument(
        "--level", choices=("both", "file", "window"), default="both", help="rows to write: file aggregates, windows or both"
    )
    predict.add_argument("--output", "-o", help="file to write (default: standard output)")
    predict.set_defaults(func=_run_predict)

    embed = subparsers.add_parser(
        "embed",
        help="per-file embeddings (mean hidden state of a layer)",
        description=(
            "Per-file embeddings: the mean over time of hidden_states[LAYER]. Writes OUT.npy (plus OUT.files.txt) "
            "or OUT.parquet. Exit status: 0 all files embedded, 1 some failed, 2 usage error or nothing to do."
        ),
    )
    _add_common_arguments(embed, model_required=True)
    embed.add_argument("--layer", type=int, default=-1, help="hidden-state index (default: -1, the last layer)")
    embed.add_argument("--output", "-o", required=True, help="OUT.npy or OUT.parquet")
    embed.set_defaults(func=_run_embed)


def _error(command: str, message: str) -> int:
    print(f"exhubert {command}: error: {message}", file=sys.stderr)
    return 2


def _prepare_run(args, command: str, outputs: list[Path]):
    """Shared checks; returns (predictor, files) or an exit status."""
    for output in outputs:
        if output.exists() and not args.overwrite:
            return _error(command, f"{output} exists; pass --overwrite to replace it")
    if args.window <= 0 or (args.hop is not None and args.hop <= 0) or args.batch_size < 1:
        return _error(command, "--window and --hop must be positive and --batch-size at least 1")
    files, notes = collect_audio_paths(args.paths)
    for note in notes:
        print(f"exhubert {command}: {note}", file=sys.stderr)
    if not files:
        return _error(command, "no audio files to process")
    try:
        predictor = EmotionPredictor(
            args.model,
            revision=args.revision,
            window=args.window,
            hop=args.hop,
            batch_size=args.batch_size,
            device=args.device,
            show_progress=not args.no_progress,
            int8=args.int8,
        )
    except (OSError, ValueError) as error:
        return _error(command, f"cannot load the model {args.model!r}: {error_summary(error)}")
    return predictor, files


def _report_failures(command: str, failed: dict[str, str], total: int) -> int:
    if not failed:
        return 0
    print(f"exhubert {command}: {len(failed)} of {total} files failed:", file=sys.stderr)
    for path, reason in failed.items():
        print(f"  {path}: {reason}", file=sys.stderr)
    return 1


def _run_predict(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else None
    prepared = _prepare_run(args, "predict", [output] if output else [])
    if isinstance(prepared, int):
        return prepared
    predictor, files = prepared
    frame = predictor.predict_files(files)
    failed = dict(zip(frame.loc[frame.error != "", "file"], frame.loc[frame.error != "", "error"]))
    if args.level != "both":
        frame = frame[frame.level == args.level]
    text = format_predictions(frame, args.format or _FORMAT_BY_SUFFIX.get(output.suffix.lower() if output else "", "table"))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return _report_failures("predict", failed, len(files))


def format_predictions(frame: pd.DataFrame, fmt: str) -> str:
    """The prediction table as text: csv, jsonl (one record per line), json (an array) or a readable table."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt in ("jsonl", "json"):
        text = frame.to_json(orient="records", lines=fmt == "jsonl", force_ascii=False, double_precision=15)
        return text if text.endswith("\n") else text + "\n"
    if fmt == "table":
        columns = [column for column in frame.columns if column in ("file", "level", "window", "start", "end", "top_class", "arousal", *VALENCE_COLUMNS, "error")]
        if frame.empty:
            return "(no rows)\n"
        table = frame[columns].copy()
        if "window" in table:
            table["window"] = [("" if pd.isna(value) else int(value)) for value in table["window"]]
        return table.to_string(index=False, float_format=lambda value: f"{value:.3f}", na_rep="") + "\n"
    raise ValueError(f"unknown format {fmt!r}; use one of {FORMATS}")


def _run_embed(args: argparse.Namespace) -> int:
    output = Path(args.output)
    suffix = output.suffix.lower()
    if suffix not in (".npy", ".parquet"):
        return _error("embed", f"--output must end in .npy or .parquet, got {output.name}")
    sidecar = output.with_suffix(".files.txt")
    prepared = _prepare_run(args, "embed", [output, sidecar] if suffix == ".npy" else [output])
    if isinstance(prepared, int):
        return prepared
    predictor, files = prepared
    embeddings = predictor.embed_files(files, layer=args.layer)
    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        np.save(output, embeddings.vectors.astype(np.float32))
        sidecar.write_text("".join(f"{name}\n" for name in embeddings.files), encoding="utf-8")
    else:
        write_embeddings_parquet(embeddings, output, metadata={"model": str(args.model), "revision": str(args.revision)})
    print(f"wrote {len(embeddings.files)} embeddings of {embeddings.vectors.shape[1]} dimensions to {output}", file=sys.stderr)
    return _report_failures("embed", embeddings.failed, len(files))


def write_embeddings_parquet(embeddings: Embeddings, path, metadata: dict | None = None) -> None:
    """A Parquet file with a `file` column and a fixed-size-list float32 `embedding` column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.ascontiguousarray(embeddings.vectors, dtype=np.float32)
    dims = vectors.shape[1]
    table = pa.table(
        {
            "file": pa.array(embeddings.files, pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dims),
        }
    )
    metadata = {"layer": str(embeddings.layer), **(metadata or {})}
    table = table.replace_schema_metadata({f"exhubert.{key}": value for key, value in metadata.items()})
    pq.write_table(table, path)


__all__ = [
    "DEFAULT_MODEL",
    "EmotionPredictor",
    "Embeddings",
    "collect_audio_paths",
    "format_predictions",
    "receptive_field",
    "window_bounds",
    "write_embeddings_parquet",
]

"""Emotion timelines: a recording's emotional course as a picture, and a one-page summary of many recordings.

    exhubert predict recordings/ --model M --plot plots/      # plots/<file>.png per file, plots/summary.png

A timeline (`timeline_figure`) has, over the recording's time in seconds (each window drawn at its centre):
the six class probabilities as a stacked area (they sum to one); below it P(high arousal) and the three valence
marginals (`results.EmotionMarginals`: sums of the six classes); and below those, when given, continuous
dimensions (`dimensions`: name -> one value per window, e.g. the arousal/valence/dominance of a dimensional
head, which `write_timelines` passes for such a model). Known segments (`reference`, e.g. annotations) can be
drawn as a band above the probabilities. The title names the file and the model. A model with other labels than
the six ExHuBERT classes gets its classes only; one without classes (`num_labels=0`) its dimensions only, and no
summary (there is no top class to share out).

The summary (`summary_figure`) has one bar per file: the share of the recording whose window has each class as
its top class (windows weighted by their duration, as the file's probabilities are), and a bar for all files.

PNG files, matplotlib's Agg backend (no display needed), written atomically (`exhubert_hf.fileio`).
"""

import io
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..configuration_exhubert import EXHUBERT_LABELS, VALENCE_LEVELS
from ..errors import UsageError
from ..fileio import atomic_file, check_writable, staged_folder
from ..train.plots import _new_figure
from .results import EmotionMarginals, FilePrediction, Predictions

# By valence the hue (negative: blue/red, neutral: grey/purple, positive: green/orange), by arousal the
# strength: sadness-like blue, neutral grey, calm green; anger-like red, surprise purple, joy orange.
CLASS_COLOURS = dict(zip(EXHUBERT_LABELS, ("#4a78b5", "#b4b4b4", "#8cc68c", "#d7301f", "#9b6fc0", "#f5a623")))
VALENCE_COLOURS = dict(zip(VALENCE_LEVELS, ("#c0504d", "#b4b4b4", "#5aa85a")))
AROUSAL_COLOUR = "#d7301f"
SUMMARY_NAME = "summary.png"
DPI = 110


def class_colours(labels: Sequence[str]) -> list:
    """One colour per label: the ExHuBERT classes' own, else matplotlib's tab10 cycle."""
    if set(labels) <= set(CLASS_COLOURS):
        return [CLASS_COLOURS[label] for label in labels]
    import matplotlib

    return [matplotlib.colormaps["tab10"](index % 10) for index in range(len(labels))]


def timeline_figure(
    item: FilePrediction,
    labels: Sequence[str],
    model: str,
    dimensions: Mapping[str, Sequence[float]] | None = None,
    reference: Sequence[tuple[float, float, str]] = (),
):
    """The timeline of one predicted file (see the module docstring) as a matplotlib Figure. `reference`: known
    (start, end, label) segments, e.g. annotations, drawn as a band above the probabilities for comparison."""
    if item.error or not item.windows:
        raise UsageError(f"{item.file}: no windows to plot ({item.error or 'no prediction'})")
    marginals = EmotionMarginals(list(labels))
    dimensions = dict(dimensions or {})
    for name, values in dimensions.items():
        if len(values) != len(item.windows):
            raise UsageError(f"dimension {name!r} has {len(values)} values for {len(item.windows)} windows")
    unknown = sorted({label for _, _, label in reference} - set(labels))
    if unknown:
        raise UsageError(f"reference labels {unknown} are not the model's labels")
    if not labels and not dimensions:
        raise UsageError(f"{item.file}: nothing to plot (no classes and no dimensions)")
    heights = [0.3] * bool(reference) + [3.2] * bool(labels) + [1.1, 1.3] * marginals.available
    heights += [1.3] * bool(dimensions)
    figure = _new_figure(10, sum(heights) + 0.25 * (len(heights) - 1) + 1.2)
    figure.set_dpi(DPI)
    panels = figure.subplots(len(heights), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    _fixed_margins(figure, top=0.75, bottom=0.45, hspace=0.25)
    remaining = iter(panels)
    colours = dict(zip(labels, class_colours(labels)))
    if reference:
        band = next(remaining)
        for start, end, label in reference:
            band.axvspan(start, end, color=colours[label], linewidth=0)
        band.set_yticks([])
        band.set_ylabel("reference", fontsize=8, rotation=0, ha="right", va="center")
    times, probabilities = _window_series(item)
    if labels:
        classes = next(remaining)
        classes.stackplot(times, probabilities.T, labels=[textwrap.fill(label, 22) for label in labels],
                          colors=list(colours.values()), linewidth=0.3, edgecolor="white")  # fmt: skip
        classes.set_ylim(0, 1)
        classes.set_ylabel("class probability")
        classes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False, reverse=True)
    if marginals.available:
        values = [marginals.values(row) for row in probabilities]
        arousal, valence = next(remaining), next(remaining)
        high = np.array([row["arousal"] for row in values])
        arousal.plot(times, high, color=AROUSAL_COLOUR, linewidth=1.5, label="P(high arousal)")
        arousal.fill_between(times, 0.5, high, color=AROUSAL_COLOUR, alpha=0.25, linewidth=0)
        arousal.axhline(0.5, color="grey", linewidth=0.6, linestyle="--")
        arousal.set_ylim(0, 1)
        arousal.set_ylabel("arousal", fontsize=8)
        arousal.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
        levels = np.array([[row[f"valence_{level}"] for level in VALENCE_LEVELS] for row in values])
        valence.stackplot(times, levels.T, labels=[f"{level} valence" for level in VALENCE_LEVELS],
                          colors=[VALENCE_COLOURS[level] for level in VALENCE_LEVELS], linewidth=0)  # fmt: skip
        valence.set_ylim(0, 1)
        valence.set_ylabel("valence", fontsize=8)
        valence.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False, reverse=True)
    if dimensions:
        continuous = next(remaining)
        for name, values in dimensions.items():
            continuous.plot(times, _per_point(item, np.asarray(values, dtype=float)), linewidth=1.5, label=name)
        continuous.set_ylabel("dimensions", fontsize=8)
        continuous.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    for panel in panels:
        panel.set_xlim(0, max(item.duration, item.windows[-1].end))
        panel.grid(True, axis="x", alpha=0.3)
        panel.tick_params(labelsize=8)
    panels[-1].set_xlabel("time [s] (window centres)")
    windows = item.windows
    if len(windows) == 1:
        cut = f"1 window ({windows[0].end - windows[0].start:.3g} s)"
    else:
        cut = f"{len(windows)} windows of {windows[0].end - windows[0].start:.3g} s, hop {windows[1].start - windows[0].start:.3g} s"
    whole = [labels[int(np.argmax(item.probabilities))]] if labels else []
    whole += [f"{name} {np.average(values, weights=item.window_durations):.2f}" for name, values in dimensions.items()]
    title = f"{Path(item.file).name}   (model: {model})\n{item.duration:.1f} s, {cut}; whole file: {', '.join(whole)}"
    figure.suptitle(title, fontsize=9)
    return figure


def summary_figure(predictions: Predictions, model: str, names: Mapping[str, str] | None = None):
    """One bar per predicted file and one for all of them: the share of time each class is the top class."""
    items = [item for item in predictions.files if not item.error and item.windows]
    if not items:
        raise UsageError("no predicted file to summarise")
    if not predictions.labels:
        raise UsageError("a model without classes has no top class to summarise")
    labels = predictions.labels
    shares = np.stack([_top_class_time(item, len(labels)) for item in items])
    totals = shares.sum(axis=0)
    rows = np.vstack([totals / totals.sum(), shares / shares.sum(axis=1, keepdims=True)])
    names = names or {}
    row_names = [f"all {len(items)} files"] + [names.get(item.file, Path(item.file).name) for item in items]
    labelled = len(rows) <= 60  # beyond that, one page has no room for names: the bars still show the mix
    height = max(3.0, min(12.0, 1.2 + (0.22 if labelled else 0.02) * len(rows)))
    figure = _new_figure(10, height)
    figure.set_dpi(DPI)
    axes = figure.add_subplot()
    _fixed_margins(figure, top=0.45, bottom=0.5, hspace=0, left=1.7 if labelled else 0.7)
    left = np.zeros(len(rows))
    positions = np.arange(len(rows))
    for column, (label, colour) in enumerate(zip(labels, class_colours(labels))):
        axes.barh(positions, rows[:, column], left=left, color=colour, height=0.85 if labelled else 1.0,
                  label=textwrap.fill(label, 22), linewidth=0)  # fmt: skip
        left += rows[:, column]
    axes.set_yticks(positions, row_names if labelled else [row_names[0]] + [""] * len(items), fontsize=7)
    if not labelled:
        axes.tick_params(axis="y", length=0)
        axes.set_ylabel(f"{len(items)} files, in order")
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.set_xlabel("share of the recording with this top class (windows weighted by duration)")
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    axes.set_title(f"Top class over time per file   (model: {model})", fontsize=9)
    return figure


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def save_png(figure, path, overwrite: bool = False) -> Path:
    """Writes the figure as a PNG (atomically; an existing file is replaced only with `overwrite`)."""
    with atomic_file(path, overwrite, "wb") as handle:
        handle.write(png_bytes(figure))
    return Path(path)


def check_plot_folder(folder, overwrite: bool) -> Path:
    """The folder `write_timelines` will write, checked before any work: new or empty, else only with `overwrite`."""
    folder = check_writable(folder, overwrite)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--plot {folder} is a file; give a folder")
    return folder


def timeline_names(files: Sequence[str]) -> dict[str, str]:
    """A PNG name for each file, unique: its path relative to the files' common folder plus `.png` (so
    `Angry/a.wav` -> `Angry/a.wav.png`); the summary's name is never one of them."""
    if not files:
        return {}
    absolute = [os.path.abspath(file) for file in files]
    root = os.path.commonpath(absolute) if len(absolute) > 1 else os.path.dirname(absolute[0])
    if root in absolute:  # one file given twice, or a file and a folder of the same name: fall back to names
        root = os.path.dirname(root)
    names, used = {}, {SUMMARY_NAME}
    for file, path in zip(files, absolute):
        name = Path(os.path.relpath(path, root)).as_posix() + ".png"
        stem, number = name[: -len(".png")], 1
        while name in used:
            name, number = f"{stem}-{number}.png", number + 1
        names[file] = name
        used.add(name)
    return names


def write_timelines(predictions: Predictions, folder, model: str, overwrite: bool = False, show_progress: bool = False) -> list[Path]:
    """A timeline PNG per predicted file (`timeline_names`, with the model's dimensions where it has them) and, for
    more than one and a model with classes, `summary.png`, into `folder` (written as a whole: staged beside it and
    renamed when complete). Returns the paths written."""
    from tqdm.auto import tqdm

    items = [item for item in predictions.files if not item.error and item.windows]
    names = timeline_names([item.file for item in items])
    folder = check_plot_folder(folder, overwrite)
    written = []
    with staged_folder(folder, overwrite) as staging:
        for item in tqdm(items, unit="plot", desc="timelines", disable=not show_progress):
            figure = timeline_figure(item, predictions.labels, model, item.dimension_series(predictions.dimensions))
            save_png(figure, staging / names[item.file])
            written.append(folder / names[item.file])
        if len(items) > 1 and predictions.labels:
            save_png(summary_figure(predictions, model, {file: name[: -len(".png")] for file, name in names.items()}),
                     staging / SUMMARY_NAME)  # fmt: skip
            written.append(folder / SUMMARY_NAME)
    return written


def _fixed_margins(figure, top: float, bottom: float, hspace: float, left: float = 0.7, right: float = 2.0) -> None:
    """Margins in inches (room for the labels, and the legends on the right): much cheaper than tight_layout,
    which draws the figure once more, and the same for every file."""
    width, height = figure.get_size_inches()
    rows = len(figure.axes)
    figure.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                           hspace=hspace / ((height - top - bottom - hspace * (rows - 1)) / rows) if rows > 1 else 0)  # fmt: skip


def _window_series(item: FilePrediction) -> tuple[np.ndarray, np.ndarray]:
    """Window centres (seconds) and the window probabilities; a lone window spans its start and end instead."""
    probabilities = np.stack([window.probabilities for window in item.windows])
    if len(item.windows) == 1:
        return np.array([item.windows[0].start, item.windows[0].end]), np.repeat(probabilities, 2, axis=0)
    return np.array([(window.start + window.end) / 2 for window in item.windows]), probabilities


def _per_point(item: FilePrediction, values: np.ndarray) -> np.ndarray:
    return np.repeat(values, 2) if len(item.windows) == 1 else values


def _top_class_time(item: FilePrediction, num_classes: int) -> np.ndarray:
    time = np.zeros(num_classes)
    for window in item.windows:
        time[int(np.argmax(window.probabilities))] += window.end - window.start
    return time


__all__ = [
    "CLASS_COLOURS",
    "SUMMARY_NAME",
    "check_plot_folder",
    "class_colours",
    "png_bytes",
    "save_png",
    "summary_figure",
    "timeline_figure",
    "timeline_names",
    "write_timelines",
]

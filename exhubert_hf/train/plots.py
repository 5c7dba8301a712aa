"""The plots of a training run: validation UAR against step per corpus (the paper's Figure 3) and confusion
matrices; and the Table 2 grid's Figure 3, a panel per corpus with a line per model. PNG files drawn with matplotlib's Agg backend, so no display is needed."""

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..configuration_exhubert import EXHUBERT_LABELS
from .evaluation import confusion_matrix, unweighted_average_recall


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=150)
    FigureCanvasAgg(figure)
    return figure


def plot_uar_curves(history: Mapping[str, Sequence[tuple[int, float]]], path, title: str | None = None) -> Path:
    """Validation UAR (percent) against training step, one line per corpus (the paper's Figure 3), plus a
    dashed unweighted mean over corpora at the steps every corpus was evaluated at. Writes a PNG (Agg
    backend, no display needed) and returns its path."""
    if not history:
        raise ValueError("no UAR history to plot")
    figure = _new_figure(8, 5)
    axes = figure.add_subplot()
    import matplotlib
    import matplotlib.ticker

    many = len(history) > 10  # the paper trains on 37 corpora: 20 colours times 3 line styles
    colours = matplotlib.colormaps["tab20" if many else "tab10"]
    for number, (corpus, points) in enumerate(history.items()):
        points = sorted(points)
        if not points:
            continue
        steps, values = zip(*points)
        axes.plot(
            steps,
            [100 * value for value in values],
            color=colours(number % 20 if many else number % 10),
            linestyle=("-", ":", "-.")[(number // 20) % 3] if many else "-",
            marker="o",
            markersize=2.5,
            linewidth=1.2,
            label=corpus,
        )
    common = set.intersection(*[{step for step, _ in points} for points in history.values()])
    if len(history) > 1 and common:
        by_step = {step: [] for step in common}
        for points in history.values():
            for step, value in points:
                if step in by_step:
                    by_step[step].append(value)
        steps = sorted(by_step)
        axes.plot(steps, [100 * np.mean(by_step[s]) for s in steps], "k--", linewidth=2, label="mean")
    axes.set_xlabel("training step")
    axes.set_ylabel("validation UAR [%]")
    axes.set_title(title or "Validation UAR per corpus", fontsize=10)
    axes.set_ylim(0, 101)
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # steps, not fractions of one
    axes.grid(True, alpha=0.3)
    # readable at the size the PNG is shown: 9 pt for a few corpora, 8 pt in two columns for EmoSet++'s 37
    columns = 1 if len(history) <= 20 else 2
    axes.legend(fontsize=9 if columns == 1 else 8, ncol=columns, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    return path


def plot_uar_panels(
    panels: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]], path, title: str | None = None
) -> Path:
    """One panel per key of `panels` (a corpus), one line per model inside it: validation UAR (percent) against
    training step, as in the paper's Figure 3. A panel without any points says so. Writes a PNG, returns its path."""
    if not panels:
        raise ValueError("no panels to plot")
    import math

    import matplotlib
    from matplotlib.lines import Line2D

    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = _new_figure(4.2 * columns + 1.8, 3.2 * rows + 0.6)
    models = list(dict.fromkeys(model for lines in panels.values() for model in lines))
    colours = matplotlib.colormaps["tab10"]
    for number, (panel, lines) in enumerate(panels.items()):
        axes = figure.add_subplot(rows, columns, number + 1)
        for model, points in lines.items():
            if points:
                steps, values = zip(*sorted(points))
                axes.plot(steps, [100 * value for value in values], color=colours(models.index(model) % 10),
                          marker="o", markersize=2.5, linewidth=1.2, label=model)  # fmt: skip
        if not any(lines.values()):
            axes.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=axes.transAxes, color="grey")
        axes.set_title(panel, fontsize=9)
        axes.set_ylim(0, 100)
        axes.set_xlabel("training step", fontsize=8)
        axes.set_ylabel("validation UAR [%]", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=colours(index % 10), marker="o", label=model) for index, model in enumerate(models)]
    if handles:
        figure.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    return path


def plot_confusion_matrix(
    labels,
    predictions,
    path,
    title: str = "Confusion matrix",
    class_names: Sequence[str] = EXHUBERT_LABELS,
) -> Path:
    """Row-normalised confusion matrix (each true class's row sums to 100 %), every cell annotated with its
    percentage and count; class names wrapped over lines. Rows of classes absent from `labels` are grey.
    Writes a PNG and returns its path."""
    num_classes = len(class_names)
    counts = confusion_matrix(labels, predictions, num_classes)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)
    size = 1.3 * num_classes + 2.5
    figure = _new_figure(size, size * 0.9)
    axes = figure.add_subplot()
    import matplotlib

    colormap = matplotlib.colormaps["Blues"].with_extremes(bad="lightgrey")
    image = axes.imshow(np.ma.masked_invalid(normalised), cmap=colormap, vmin=0.0, vmax=1.0)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colorbar.set_label("fraction of the true class")
    wrapped = [textwrap.fill(str(name), 14) for name in class_names]
    axes.set_xticks(range(num_classes), wrapped, fontsize=7, rotation=45, ha="right", rotation_mode="anchor")
    axes.set_yticks(range(num_classes), wrapped, fontsize=7)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    uar = unweighted_average_recall(labels, predictions)
    axes.set_title(f"{title}\nUAR {100 * uar:.1f} %, {int(counts.sum())} clips", fontsize=9)
    for row in range(num_classes):
        for column in range(num_classes):
            value = normalised[row, column]
            text = "–" if np.isnan(value) else f"{100 * value:.0f}%\n({counts[row, column]})"
            colour = "white" if not np.isnan(value) and value > 0.5 else "black"
            axes.text(column, row, text, ha="center", va="center", fontsize=7, color=colour)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    return path


__all__ = ["plot_confusion_matrix", "plot_uar_curves", "plot_uar_panels"]

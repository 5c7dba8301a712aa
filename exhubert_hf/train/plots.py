"""The plots of a training run: validation UAR (or CCC) against step per corpus (the paper's Figure 3), confusion
matrices and, for continuous dimensions, predicted against true values; and the Table 2 grid's Figure 3, a panel per
corpus with a line per model. PNG files drawn with matplotlib's Agg backend, so no display is needed."""

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..configuration_exhubert import EXHUBERT_LABELS
from .evaluation import confusion_matrix, dimension_metrics, unweighted_average_recall


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=150)
    FigureCanvasAgg(figure)
    return figure


def _saved(figure, path) -> Path:
    """Lays `figure` out and writes it to `path` as a PNG (creating the folder); returns the path."""
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    return path


def plot_uar_curves(
    history: Mapping[str, Sequence[tuple[int, float]]], path, title: str | None = None, metric: str = "UAR"
) -> Path:
    """Validation UAR (percent) against training step, one line per corpus (the paper's Figure 3), plus a
    dashed unweighted mean over corpora at the steps every corpus was evaluated at; with `metric="CCC"` the
    mean CCC over a model's dimensions instead (as it is, not in percent). Writes a PNG (Agg backend, no display
    needed) and returns its path."""
    if not history:
        raise ValueError("no UAR history to plot")
    figure = _new_figure(8, 5)
    axes = figure.add_subplot()
    import matplotlib
    import matplotlib.ticker

    scale = 100 if metric == "UAR" else 1
    many = len(history) > 10  # the paper trains on 37 corpora: 20 colours times 3 line styles
    colours = matplotlib.colormaps["tab20" if many else "tab10"]
    for number, (corpus, points) in enumerate(history.items()):
        points = sorted(points)
        if not points:
            continue
        steps, values = zip(*points)
        axes.plot(
            steps,
            [scale * value for value in values],
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
        axes.plot(steps, [scale * np.mean(by_step[s]) for s in steps], "k--", linewidth=2, label="mean")
    axes.set_xlabel("training step")
    axes.set_ylabel(f"validation {metric}" + " [%]" * (scale == 100))
    axes.set_title(title or f"Validation {metric} per corpus", fontsize=10)
    if scale == 100:
        axes.set_ylim(0, 101)
    else:  # a CCC can be negative
        axes.set_ylim(min([0.0] + [value for points in history.values() for _, value in points]) - 0.02, 1.01)
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # steps, not fractions of one
    axes.grid(True, alpha=0.3)
    # readable at the size the PNG is shown: 9 pt for a few corpora, 8 pt in two columns for EmoSet++'s 37
    columns = 1 if len(history) <= 20 else 2
    axes.legend(fontsize=9 if columns == 1 else 8, ncol=columns, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _saved(figure, path)


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
    return _saved(figure, path)


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
    return _saved(figure, path)


def plot_dimension_scatter(targets, predictions, names: Sequence[str], path, title: str = "Dimensions") -> Path:
    """Predicted against true values, one panel per dimension (`targets` and `predictions`: clips x dimensions, in
    [0, 1]; clips whose target is NaN are left out), with the identity line and CCC and Pearson's r in each panel's
    title; a dimension without known values says so. Writes a PNG and returns its path."""
    targets = np.asarray(targets, dtype=np.float64).reshape(-1, len(names))
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1, len(names))
    metrics = dimension_metrics(targets, predictions, names)  # the numbers of the results files
    figure = _new_figure(3.4 * len(names) + 0.4, 3.9)
    for column, name in enumerate(names):
        axes = figure.add_subplot(1, len(names), column + 1)
        known = ~np.isnan(targets[:, column])
        truth, predicted = targets[known, column], predictions[known, column]
        axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
        axes.scatter(truth, predicted, s=9, alpha=0.6, color="#4a78b5", linewidths=0)
        if name in metrics:
            ccc, r = metrics[name]["ccc"], metrics[name]["pearson"]
            axes.set_title(f"{name}\nCCC {ccc:.3f}, r {r:.3f}, {truth.size} clips", fontsize=9)
        else:
            axes.set_title(f"{name}\n{truth.size} clips with a known value", fontsize=9)
        axes.set_xlim(-0.02, 1.02)
        axes.set_ylim(-0.02, 1.02)
        axes.set_aspect("equal")
        axes.set_xlabel("true", fontsize=8)
        axes.set_ylabel("predicted", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(True, alpha=0.3)
    figure.suptitle(title, fontsize=9)
    return _saved(figure, path)


__all__ = ["plot_confusion_matrix", "plot_dimension_scatter", "plot_uar_curves", "plot_uar_panels"]

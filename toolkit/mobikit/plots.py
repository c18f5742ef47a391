"""Every figure mobikit draws, as PNG: matplotlib on the Agg backend (headless, no display needed)."""

from __future__ import annotations

import io
import os
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from .outputs import new_file

if TYPE_CHECKING:
    from .fallback import FallbackResult
    from .layer_error import LayerError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    # labels carry user text (class folder names, layer names): a `$` in them is a dollar sign, never TeX mathtext
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    _pyplot().close(figure)
    return buffer.getvalue()


def _figure(width: float, height: float):
    """A pyplot-free figure (no global state; closed by being dropped)."""
    _pyplot()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def analysis_png(errors: "list[LayerError]", title: str, fallback: Iterable[str] = ()) -> bytes:
    """Bar chart of RMSE/scale per tensor in network order; layers kept in float are drawn in red."""
    plt = _pyplot()
    fallback = set(fallback)
    figure, axes = plt.subplots(figsize=(max(8.0, 0.16 * len(errors) + 2), 4.5))
    colors = ["tab:red" if e.layer in fallback else "tab:blue" for e in errors]
    axes.bar(range(len(errors)), [e.rmse_scale for e in errors], color=colors)
    axes.set_xticks(range(len(errors)), [e.layer for e in errors], rotation=90, fontsize=6)
    axes.set_ylabel("RMSE / scale (quantization steps)")
    axes.set_title(title + (" — red: kept in float" if fallback else ""))
    axes.set_xlim(-1, len(errors))
    figure.tight_layout()
    return _png(figure)


def tradeoff_png(result: "FallbackResult", title: str) -> bytes:
    """The fallback search's accuracy / latency trade-off: one point per step."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4))
    x = [len(s.layers) for s in result.steps]
    if result.float_top1 is not None:
        axes.plot(x, [100 * (s.top1 or 0) for s in result.steps], "o-", label="int8 top-1 %")
        axes.axhline(100 * result.float_top1, color="gray", linestyle="--", label="float top-1 %")
    axes.plot(x, [100 * s.agreement for s in result.steps], "s-", label="agreement with float %")
    axes.set_xlabel("layers kept in float")
    axes.set_ylabel("%")
    axes.set_xticks(x)
    ratio_axes = axes.twinx()
    ratio_axes.plot(x, [s.latency_ratio for s in result.steps], "^:", color="tab:red", label="latency / int8")
    ratio_axes.set_ylabel("latency / full-integer int8")
    lines = axes.get_legend_handles_labels()
    more = ratio_axes.get_legend_handles_labels()
    axes.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="lower right")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return _png(figure)


@dataclass
class Series:
    """One line of points on a figure (e.g. "float" or "int8"), each point with its own text label."""

    name: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    marker: str = "o"

    def add(self, x: float, y: float, label: str) -> None:
        self.x.append(x)
        self.y.append(y)
        self.labels.append(label)


def scatter(path: str | os.PathLike, series: list[Series], title: str, xlabel: str, ylabel: str,
            log_x: bool = False, note: str | None = None) -> None:
    """Labelled points per series, joined in x order, saved as a PNG; `note` is printed under the axes."""
    _pyplot()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5.5), dpi=120, layout="constrained")
    axes = figure.add_subplot()
    for index, line in enumerate(series):
        if not line.x:
            continue
        order = sorted(range(len(line.x)), key=lambda i: line.x[i])
        axes.plot([line.x[i] for i in order], [line.y[i] for i in order], marker=line.marker, linestyle="-",
                  linewidth=1, label=line.name)
        for x, y, text in zip(line.x, line.y, line.labels):
            offset = (4, 4) if index % 2 == 0 else (4, -12)  # alternate series label above/below: no overlap
            axes.annotate(text, (x, y), textcoords="offset points", xytext=offset, fontsize=8)
    axes.margins(x=0.15, y=0.1)
    if log_x:
        from matplotlib.ticker import FuncFormatter

        axes.set_xscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        axes.xaxis.set_major_formatter(plain)
        axes.xaxis.set_minor_formatter(plain)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, which="both", alpha=0.3)
    if any(line.x for line in series):
        axes.legend()
    if note:
        figure.supxlabel(textwrap.fill(note, 120), fontsize=8)
    with new_file(path) as tmp:
        figure.savefig(tmp, format="png")


def sweep_figures(output, arch: str, threads: int, untrained: bool, cells: list, metric: str) -> dict[str, str]:
    """A sweep's accuracy against mult-adds (log x) and against measured latency, float and int8 series."""
    from pathlib import Path

    from .report import sweep_metric_note

    done = [cell for cell in cells if cell.status == "done"]
    if not done:
        return {}
    suffix = " — untrained (random weights)" if untrained else ""
    if metric == "top1":
        ylabel = "top-1 accuracy (%)"
        pairs = (("float", "float_top1", "float_latency_ms"), ("int8", "int8_top1", "int8_latency_ms"))
    else:
        ylabel = "int8 top-1 agreement with float (%)"
        pairs = (("int8", "agreement", "int8_latency_ms"),)
    figures = {}
    for key, x_of, xlabel, log_x in (
            ("macs", lambda c, _: c.mult_adds / 1e6, "mult-adds (millions, log scale)", True),
            ("latency", lambda c, latency: getattr(c, latency), f"median latency (ms, host, {threads} thread(s))",
             False)):
        series = []
        for name, y_key, latency_key in pairs:
            line = Series(name, marker="o" if name == "float" else "s")
            for cell in done:
                if getattr(cell, y_key) is not None:
                    line.add(x_of(cell, latency_key), 100 * getattr(cell, y_key), cell.label)
            series.append(line)
        what = "mult-adds" if key == "macs" else "latency"
        path = Path(output) / f"sweep_{metric}_vs_{key}.png"
        scatter(path, series, f"MobileNet {arch}: {ylabel.split(' (')[0]} vs {what}{suffix}", xlabel, ylabel,
                log_x=log_x, note=sweep_metric_note(metric))
        figures[key] = str(path)
    return figures


def curves_png(history: list[dict]) -> bytes:
    """Loss and accuracy per epoch, training and validation, over both phases (a line where fine-tuning starts, a
    band over the epochs whose weights were averaged)."""
    from matplotlib.ticker import MaxNLocator

    figure = _figure(10, 4.2)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    steps = list(range(1, len(history) + 1))
    switch = next((i for i, row in enumerate(history) if row["phase"] != history[0]["phase"]), None)
    for axes, key, title, scale in ((loss_axes, "loss", "Loss", 1), (accuracy_axes, "accuracy", "Accuracy", 100)):
        axes.plot(steps, [scale * row[key] for row in history], marker=".", label="training (augmented views)")
        if any(row.get(f"val_{key}") is not None for row in history):
            axes.plot(steps, [scale * row[f"val_{key}"] for row in history], marker=".", label="validation")
        if switch is not None:
            axes.axvline(switch + 0.5, color="gray", linestyle="--", linewidth=1,
                         label=f"{history[switch]['phase']} starts")
        averaged = [i + 1 for i, row in enumerate(history) if row.get("averaged")]
        if averaged:
            axes.axvspan(averaged[0] - 0.5, averaged[-1] + 0.5, color="tab:purple", alpha=0.1,
                         label="weights averaged")
        for number, epoch in enumerate(i + 1 for i, row in enumerate(history) if row.get("best")):
            axes.axvline(epoch, color="green", alpha=0.3, linewidth=3, label=None if number else "kept epoch")
        axes.set_title(title)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(f"epoch ({' then '.join(dict.fromkeys(row['phase'] for row in history))})")
        axes.set_ylabel("cross-entropy" if key == "loss" else "top-1 %")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=9)
    return _figure_png(figure)


CONFUSION_CLASSES = 30  # more classes: the plot shows the ones most often confused (train.json has them all)


def most_confused(matrix, count: int) -> list[int]:
    """The `count` classes with the most errors (as true or as predicted class), in their original order."""
    import numpy as np

    errors = matrix.sum(axis=0) + matrix.sum(axis=1) - 2 * np.diag(matrix)
    return sorted(np.argsort(-errors, kind="stable")[:count].tolist())


def confusion_png(confusion: list[list[int]], classes: tuple[str, ...] | list[str]) -> bytes:
    """The test split's confusion matrix with counts in every cell (rows: true class, columns: predicted); with
    more than CONFUSION_CLASSES classes, the block of those most often confused (bounded time and memory)."""
    import numpy as np

    matrix = np.array(confusion, dtype=np.int64).reshape(len(classes), len(classes))
    total, right = int(matrix.sum()), int(matrix.trace())
    shown = ""
    if len(classes) > CONFUSION_CLASSES:
        keep = most_confused(matrix, CONFUSION_CLASSES)
        matrix = matrix[np.ix_(keep, keep)]
        classes = [classes[i] for i in keep]
        shown = f"; the {CONFUSION_CLASSES} classes most often confused of {len(confusion)}"
    size = max(4.0, 0.6 * len(classes) + 2.5)
    figure = _figure(size + 1, size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    ticks = range(len(classes))
    axes.set_xticks(ticks, list(classes), rotation=45, ha="right")
    axes.set_yticks(ticks, list(classes))
    limit = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center",
                  color="white" if count > limit else "black", fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"test split: {right} of {total} right{shown}")
    return _figure_png(figure)

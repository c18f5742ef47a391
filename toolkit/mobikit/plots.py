"""Accuracy–cost figures as PNG files: matplotlib on the Agg backend (headless), each file written atomically."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field

from . import atomic


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
    import matplotlib

    matplotlib.use("Agg")
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
    with atomic.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")

"""`mobikit sweep`: quantize, verify and time every α × resolution cell, then draw the accuracy–cost curves.

Each cell is one `mobikit.quantize.quantize` run (which already evaluates float against int8 and measures the
latency of both) plus `mobikit.profile.profile` for the mult-adds. A finished cell is kept as
OUTPUT/cells/<name>/model (the quantize output folder) and OUTPUT/cells/<name>/cell.json (written last, atomically):
a rerun with the same inputs reuses it, so an interrupted sweep resumes and a finished one reruns in seconds.
A cell skipped because its ImageNet weights could not be fetched is remembered the same way (a failed download is
slow) until its weight file appears in the keras cache.
The figures are the measured counterparts of the V1 paper's Figures 4–5 (accuracy against mult-adds and latency).
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import atomic
from .calibration import DEFAULT_SAMPLES, default_calibration_dir
from .errors import MobikitError, UsageError
from .models import ARCHS, Config, imagenet_file_name, keras_cache_dir, resolve_imagenet_weights
from .progress import Reporter
from .report import pct

CELL_SCHEMA = 1
CSV_COLUMNS = ("name", "arch", "alpha", "resolution", "status", "weights", "mult_adds", "params", "eval_n",
               "labelled", "float_top1", "int8_top1", "float_top5", "int8_top5", "agreement", "float_latency_ms",
               "int8_latency_ms", "float_size_bytes", "int8_size_bytes", "threads", "seconds", "reused", "reason")


@dataclass
class SweepRequest:
    """Everything `mobikit sweep` takes; `weights` is "imagenet", None (untrained) or a weights file."""

    output: Path
    arch: str = "v1"
    alphas: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75])
    resolutions: list[int] = field(default_factory=lambda: [128, 160, 192, 224])
    weights: str | None = "imagenet"
    calib: Path | None = None
    eval: Path | None = None
    calib_samples: int = DEFAULT_SAMPLES
    eval_samples: int | None = None
    threads: int = 2
    bias_correction: bool | None = None

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise UsageError(f"unknown arch {self.arch!r}: choose v1 or v2")
        if not self.alphas or not self.resolutions:
            raise UsageError("--alpha and --resolution each need at least one value")
        if min(self.alphas) <= 0:
            raise UsageError(f"alpha values must be > 0, got {self.alphas}")
        if self.weights not in (None, "imagenet") and not Path(self.weights).is_file():
            raise UsageError(f"weights file not found: {self.weights}")
        for folder, flag in ((self.calib, "--calib"), (self.eval, "--eval")):
            if folder is not None and not Path(folder).is_dir():
                raise UsageError(f"{flag} folder not found: {folder}")

    def inputs(self) -> dict:
        """What a cell's result depends on besides α and resolution: a stored cell is reused only if these match."""
        def resolved(path):
            return None if path is None else str(Path(path).resolve())

        return {"schema": CELL_SCHEMA, "arch": self.arch, "weights": self.weights if self.weights in (None, "imagenet")
                else resolved(self.weights), "calib": resolved(self.calib or default_calibration_dir()),
                "calib_samples": self.calib_samples, "eval": resolved(self.eval), "eval_samples": self.eval_samples,
                "threads": self.threads, "bias_correction": self.bias_correction}


@dataclass
class Cell:
    """One α × resolution combination: its cost, its measured accuracy and latency, or why it did not run."""

    name: str
    arch: str
    alpha: float
    resolution: int
    status: str = "pending"  # done | skipped | failed
    weights: str = ""
    mult_adds: int | None = None
    params: int | None = None
    eval_n: int | None = None
    labelled: bool = False
    float_top1: float | None = None
    int8_top1: float | None = None
    float_top5: float | None = None
    int8_top5: float | None = None
    agreement: float | None = None
    float_latency_ms: float | None = None
    int8_latency_ms: float | None = None
    float_size_bytes: int | None = None
    int8_size_bytes: int | None = None
    threads: int | None = None
    seconds: float | None = None
    reused: bool = False
    reason: str | None = None
    inputs: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"α{self.alpha:g}/{self.resolution}"

    def row(self) -> dict:
        return {key: getattr(self, key) for key in CSV_COLUMNS}


@dataclass
class SweepResult:
    output: Path
    cells: list[Cell]
    metric: str  # "top1" when every finished cell was verified on labelled images, else "agreement"
    files: dict[str, str]
    seconds: float

    def to_json(self) -> dict:
        """The `mobikit sweep --json` object."""
        return {"output": str(self.output), "metric": self.metric, "seconds": round(self.seconds, 2),
                "files": self.files, "cells": [cell.row() for cell in self.cells]}


class _CellReporter(Reporter):
    """Forwards to the sweep's reporter but keeps its own notes, so one cell's report lists only its own notes."""

    def __init__(self, parent: Reporter):
        super().__init__()
        self.parent = parent

    def track(self, items, total, description, count=None):
        return self.parent.track(items, total, description, **({"count": count} if count else {}))

    def info(self, message: str) -> None:
        super().info(message)
        self.parent.info(f"  {message}")

    def warn(self, message: str) -> None:
        super().warn(message)
        self.parent.warn(message)


def cell_name(arch: str, alpha: float, resolution: int) -> str:
    return f"{arch}_{alpha:g}_{resolution}"


def _weights_for(request: SweepRequest, config: Config) -> tuple[str | None, str | None]:
    """(weights to build with, reason to skip): ImageNet weights are resolved to a file once, here."""
    if request.weights is None:
        return None, None
    if request.weights != "imagenet":
        return request.weights, None
    try:
        file_name = imagenet_file_name(config)
    except UsageError:
        return None, (f"keras publishes no ImageNet weights for {config.arch} α{config.alpha:g} at "
                      f"{config.resolution} (use --weights none to run it untrained)")
    from ._tf import captured_output

    try:
        with captured_output():  # keras prints its download attempt on stdout
            return str(resolve_imagenet_weights(config)), None
    except MobikitError:
        return None, (f"ImageNet weights {file_name} are not in {keras_cache_dir()} and could not be downloaded "
                      "(use --weights none to run it untrained)")


def _published(config: Config) -> bool:
    """Whether keras publishes ImageNet weights for this configuration at all."""
    try:
        imagenet_file_name(config)
    except UsageError:
        return False
    return True


def _weights_cached(config: Config) -> bool:
    return _published(config) and (keras_cache_dir() / imagenet_file_name(config)).is_file()


def _load_cell(folder: Path, inputs: dict, config: Config) -> Cell | None:
    """A stored cell made from the same inputs: a finished one with its model folder complete, or a skip for
    missing weights that still holds (its weight file has not appeared in the keras cache since)."""
    try:
        data = json.loads((folder / "cell.json").read_text())
        cell = Cell(**data)
    except (OSError, ValueError, TypeError):
        return None
    if cell.inputs != inputs:
        return None
    finished = cell.status == "done" and (folder / "model" / "model.tflite").is_file()
    still_skipped = cell.status == "skipped" and not _weights_cached(config)
    if not (finished or still_skipped):
        return None
    cell.reused = True
    return cell


def _store(folder: Path, cell: Cell) -> None:
    atomic.write_text(folder / "cell.json", json.dumps(asdict(cell), indent=2) + "\n")


def _run_cell(request: SweepRequest, cell: Cell, weights: str | None, folder: Path, reporter: Reporter) -> None:
    from .quantize import QuantizeRequest, quantize

    start = time.perf_counter()
    result = quantize(QuantizeRequest(arch=request.arch, alpha=cell.alpha, resolution=cell.resolution,
                                      weights=weights, calib=request.calib, calib_samples=request.calib_samples,
                                      eval=request.eval, eval_samples=request.eval_samples, threads=request.threads,
                                      output=folder / "model", bias_correction=request.bias_correction),
                      _CellReporter(reporter))
    ev = result.eval
    cell.status = "done"
    cell.eval_n, cell.labelled, cell.agreement = ev.n, ev.labelled, ev.agreement
    cell.float_top1, cell.int8_top1, cell.float_top5, cell.int8_top5 = (ev.float_top1, ev.quant_top1, ev.float_top5,
                                                                        ev.quant_top5)
    cell.float_latency_ms, cell.int8_latency_ms = result.latency_ms["float"], result.latency_ms["quant"]
    cell.float_size_bytes, cell.int8_size_bytes = result.float_size_bytes, result.size_bytes
    cell.threads = request.threads
    cell.seconds = round(time.perf_counter() - start, 2)
    _store(folder, cell)


def sweep(request: SweepRequest, reporter: Reporter | None = None) -> SweepResult:
    """Run (or reuse) every cell of the grid, then write sweep.csv, sweep.md and the two PNG figures."""
    from .profile import profile

    reporter = reporter or Reporter()
    request.validate()
    start = time.perf_counter()
    output = Path(request.output)
    atomic.writable_parent(output / "cells" / "x")
    inputs = request.inputs()
    weights_label = {None: "none (untrained)", "imagenet": "imagenet"}.get(request.weights, str(request.weights))
    grid = [(alpha, resolution) for alpha in request.alphas for resolution in request.resolutions]
    cells: list[Cell] = []
    for index, (alpha, resolution) in enumerate(grid, 1):
        name = cell_name(request.arch, alpha, resolution)
        folder = output / "cells" / name
        config = Config(request.arch, float(alpha), int(resolution))
        prefix = f"[{index}/{len(grid)}] {request.arch} α{alpha:g}@{resolution}"
        stored = _load_cell(folder, inputs, config)
        if stored is not None:
            reason = f": {stored.reason}" if stored.reason else ""
            reporter.info(f"{prefix}: {stored.status} earlier, reused{reason}")
            cells.append(stored)
            continue
        cost = profile(request.arch, alpha, resolution)
        cell = Cell(name, request.arch, float(alpha), int(resolution), weights=weights_label, mult_adds=cost.macs,
                    params=cost.params, inputs=inputs)
        cells.append(cell)
        weights, reason = _weights_for(request, config)
        if reason:
            cell.status, cell.reason = "skipped", reason
            reporter.info(f"{prefix}: skipped: {reason}")
            if request.weights == "imagenet" and _published(config):
                _store(folder, cell)  # a failed download is slow: remembered until the file is put in the cache
            continue
        reporter.info(f"{prefix}: quantizing and measuring")
        try:
            _run_cell(request, cell, weights, folder, reporter)
        except UsageError:
            raise
        except MobikitError as exc:
            cell.status, cell.reason = "failed", str(exc)
            reporter.warn(f"{prefix} failed: {exc}")
            continue
        reporter.info(f"{prefix}: done in {cell.seconds:.0f} s")
    done = [cell for cell in cells if cell.status == "done"]
    metric = "top1" if done and all(cell.labelled for cell in done) else "agreement"
    files = write_outputs(output, request, cells, metric, reporter)
    return SweepResult(output, cells, metric, files, time.perf_counter() - start)


def _number(value, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def render_csv(cells: list[Cell]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cell in cells:
        writer.writerow({key: "" if value is None else value for key, value in cell.row().items()})
    return buffer.getvalue()


def _metric_note(metric: str) -> str | None:
    if metric == "top1":
        return None
    return ("No labelled evaluation images: top-1 needs labelled --eval images (ImageNet synset file-name prefix or "
            "class subfolders), so the figures show the int8 model's agreement with the float model instead.")


def render_markdown(request: SweepRequest, cells: list[Cell], metric: str, figures: dict[str, str]) -> str:
    done = [cell for cell in cells if cell.status == "done"]
    untrained = request.weights is None
    lines = [f"# mobikit sweep: MobileNet {request.arch}", ""]
    if untrained:
        lines += ["**Untrained** (`--weights none`): random weights, so accuracies are chance level; the sweep "
                  "measures cost and latency only.", ""]
    note = _metric_note(metric)
    if note:
        lines += [note, ""]
    threads = request.threads
    lines += [f"Latency: median of host `invoke()` runs, {threads} thread(s), XNNPACK. Mult-adds counted as the "
              "papers count them.", "",
              "| α | resolution | mult-adds | params | float top-1 | int8 top-1 | float top-5 | int8 top-5 | "
              "agreement | float ms | int8 ms | float size | int8 size | images | status |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        status = cell.status + (" (reused)" if cell.reused else "")
        lines.append(
            f"| {cell.alpha:g} | {cell.resolution} | {_number(cell.mult_adds and cell.mult_adds / 1e6, '{:.1f}M')} | "
            f"{_number(cell.params and cell.params / 1e6, '{:.2f}M')} | {pct(cell.float_top1)} | "
            f"{pct(cell.int8_top1)} | {pct(cell.float_top5)} | {pct(cell.int8_top5)} | {pct(cell.agreement)} | "
            f"{_number(cell.float_latency_ms)} | {_number(cell.int8_latency_ms)} | "
            f"{_number(cell.float_size_bytes and cell.float_size_bytes / 1e6, '{:.2f} MB')} | "
            f"{_number(cell.int8_size_bytes and cell.int8_size_bytes / 1e6, '{:.2f} MB')} | "
            f"{_number(cell.eval_n, '{}')} | {status} |")
    not_run = [cell for cell in cells if cell.status != "done"]
    if not_run:
        lines += ["", "## Not run", ""]
        lines += [f"- α{cell.alpha:g}@{cell.resolution} {cell.status}: {cell.reason}" for cell in not_run]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{key}]({Path(path).name})" for key, path in figures.items()]
    elif not done:
        lines += ["", "No cell ran, so there are no figures."]
    return "\n".join(lines) + "\n"


def draw_figures(output: Path, request: SweepRequest, cells: list[Cell], metric: str) -> dict[str, str]:
    """Accuracy against mult-adds (log x) and against measured latency, float and int8 series."""
    from .plots import Series, scatter

    done = [cell for cell in cells if cell.status == "done"]
    if not done:
        return {}
    untrained = " — untrained (random weights)" if request.weights is None else ""
    if metric == "top1":
        ylabel = "top-1 accuracy (%)"
        pairs = (("float", "float_top1", "float_latency_ms"), ("int8", "int8_top1", "int8_latency_ms"))
    else:
        ylabel = "int8 top-1 agreement with float (%)"
        pairs = (("int8", "agreement", "int8_latency_ms"),)
    note = _metric_note(metric)
    figures = {}
    for key, x_of, xlabel, log_x in (
            ("macs", lambda c, _: c.mult_adds / 1e6, "mult-adds (millions, log scale)", True),
            ("latency", lambda c, lat: getattr(c, lat), f"median latency (ms, host, {request.threads} thread(s))",
             False)):
        series = []
        for name, y_key, latency_key in pairs:
            line = Series(name, marker="o" if name == "float" else "s")
            for cell in done:
                if getattr(cell, y_key) is not None:
                    line.add(x_of(cell, latency_key), 100 * getattr(cell, y_key), cell.label)
            series.append(line)
        what = "mult-adds" if key == "macs" else "latency"
        path = output / f"sweep_{metric}_vs_{key}.png"
        scatter(path, series, f"MobileNet {request.arch}: {ylabel.split(' (')[0]} vs {what}{untrained}", xlabel,
                ylabel, log_x=log_x, note=note)
        figures[key] = str(path)
    return figures


def write_outputs(output: Path, request: SweepRequest, cells: list[Cell], metric: str,
                  reporter: Reporter) -> dict[str, str]:
    figures = draw_figures(output, request, cells, metric)
    if not figures:
        reporter.warn("no cell ran: sweep.csv and sweep.md list why; there are no figures")
    atomic.write_text(output / "sweep.csv", render_csv(cells))
    atomic.write_text(output / "sweep.md", render_markdown(request, cells, metric, figures))
    return {"csv": str(output / "sweep.csv"), "markdown": str(output / "sweep.md"), **figures}

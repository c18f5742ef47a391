"""The `sweep` verb: quantize, verify and time every α × resolution cell, then draw the accuracy–cost curves.

Each cell is one `quantize` run (which already evaluates float against int8 and measures the latency of both) plus
`profile` for the mult-adds. A finished cell is kept as
OUTPUT/cells/<name>/model (the quantize output folder) and OUTPUT/cells/<name>/cell.json (written last, atomically):
a rerun with the same inputs reuses it, so an interrupted sweep resumes and a finished one reruns in seconds.
Cells run one after another, in a pool of local processes (`jobs`) or as Ray tasks (`ray`): wherever a cell runs, it
comes back to this process, which alone writes the sweep folder (`sweep_workers`); its model is the same bytes in
whichever process made it (`_fresh_keras`).
A cell skipped because its ImageNet weights could not be fetched is remembered the same way (a failed download is
slow) until its weight file appears in the keras cache.
The figures are the measured counterparts of the V1 paper's Figures 4–5 (accuracy against mult-adds and latency).
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .architectures import ARCHS, Config
from .cost import profile
from .errors import MobikitError, UsageError
from . import defaults
from .images import embedded_images, find_images
from .models import imagenet_file_name, keras_cache_dir, resolve_imagenet_weights, weights_file
from .outputs import MARKER, claim_folder, new_folder, record_files, write_bytes, write_text
from . import sweep_workers
from .sweep_workers import check_ray
from .progress import Reporter

CELL_SCHEMA = 2  # 2: the same bytes in any process (`_fresh_keras`), int8_sha256
CSV_COLUMNS = ("name", "arch", "alpha", "resolution", "status", "weights", "mult_adds", "params", "eval_n",
               "labelled", "float_top1", "int8_top1", "float_top5", "int8_top5", "agreement", "float_latency_ms",
               "int8_latency_ms", "float_size_bytes", "int8_size_bytes", "int8_sha256", "threads", "seconds",
               "reused", "reason")
UNTRAINED_SEED = 0  # keras.utils.set_random_seed before an untrained cell's model is built


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
    calib_samples: int = defaults.CALIBRATION_SAMPLES
    eval_samples: int | None = None
    threads: int = defaults.THREADS
    bias_correction: bool | None = None
    jobs: int | None = None  # cells at once in local worker processes (None: one after another, here)
    ray: str | None = None  # a Ray cluster's address ("auto": the one running here) to run each cell as a task

    def validate(self) -> None:
        from .architectures import validate

        if self.arch not in ARCHS:
            raise UsageError("unknown {arch} {value!r}: choose v1 or v2", "arch", value=self.arch)
        if not self.alphas or not self.resolutions:
            raise UsageError("{alpha} and {resolution} each need at least one value", "alpha", "resolution")
        for alpha in self.alphas:
            for resolution in self.resolutions:
                validate(Config(self.arch, float(alpha), int(resolution)))
        if self.weights not in (None, "imagenet"):
            weights_file(self.weights)
        for folder, param in ((self.calib, "calib"), (self.eval, "eval")):
            if folder is not None:
                find_images(folder, param)  # refused here, before the sweep folder is made
        if self.calib_samples < 1 or (self.eval_samples is not None and self.eval_samples < 1) or self.threads < 1:
            raise UsageError("{calib_samples}, {eval_samples} and {threads} must be >= 1", "calib_samples",
                             "eval_samples", "threads")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError("{jobs} must be >= 1", "jobs")
        if self.ray is not None:
            if self.jobs is not None:
                raise UsageError("{jobs} runs cells on this machine and {ray} on a Ray cluster: give one of them",
                                 "jobs", "ray")
            check_ray(self.ray)

    def absolute(self) -> SweepRequest:
        """The same request with every path absolute, for a process that runs in another folder."""
        def resolved(path):
            return None if path is None else Path(path).resolve()

        return replace(self, output=resolved(self.output), calib=resolved(self.calib), eval=resolved(self.eval),
                       weights=self.weights if self.weights in (None, "imagenet") else str(resolved(self.weights)))

    def inputs(self) -> dict:
        """What a cell's result depends on besides α and resolution: a stored cell is reused only if these match."""
        def resolved(path):
            return None if path is None else str(Path(path).resolve())

        return {"schema": CELL_SCHEMA, "arch": self.arch, "weights": self.weights if self.weights in (None, "imagenet")
                else resolved(self.weights), "calib": resolved(self.calib or embedded_images("calibration")),
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
    int8_sha256: str | None = None
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
    from .runtime import captured_output

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


def load_cell(folder: Path, inputs: dict, config: Config) -> Cell | None:
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


@dataclass
class CellOutput:
    """A cell run anywhere, as it comes back to the driver: the cell and its quantize folder's files (path → bytes),
    or the error that failed it."""

    cell: Cell
    files: dict[str, bytes] = field(default_factory=dict)
    error: MobikitError | None = None


def _fresh_keras(seeded: bool) -> None:
    """Keras names tensors and layers from per-process counters (keras_tensor_182, global_average_pooling2d_1_1)
    and the converter keeps the names: cleared, a cell's model is the same bytes in a fresh worker as after other
    cells in this process. An untrained model is seeded for the same reason."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    keras.backend.clear_session()
    if seeded:
        keras.utils.set_random_seed(UNTRAINED_SEED)


def run_cell(request: SweepRequest, cell: Cell, weights: str | None, reporter: Reporter) -> CellOutput:
    """Quantize, verify and time one cell in a scratch folder of this process, and return it with its files."""
    import tempfile

    from .quantization import QuantizeRequest, quantize

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mobikit-cell-") as scratch:
        try:
            _fresh_keras(seeded=weights is None)
            result = quantize(QuantizeRequest(arch=request.arch, alpha=cell.alpha, resolution=cell.resolution,
                                              weights=weights, calib=request.calib,
                                              calib_samples=request.calib_samples, eval=request.eval,
                                              eval_samples=request.eval_samples, threads=request.threads,
                                              output=Path(scratch) / "model", bias_correction=request.bias_correction),
                              _CellReporter(reporter))
        except MobikitError as exc:
            return CellOutput(cell, error=exc)
        files = {path.relative_to(result.output_dir).as_posix(): path.read_bytes()
                 for path in sorted(result.output_dir.rglob("*")) if path.is_file() and path.name != MARKER}
    ev = result.eval
    cell.status = "done"
    cell.eval_n, cell.labelled, cell.agreement = ev.n, ev.labelled, ev.agreement
    cell.float_top1, cell.int8_top1, cell.float_top5, cell.int8_top5 = (ev.float_top1, ev.quant_top1, ev.float_top5,
                                                                        ev.quant_top5)
    cell.float_latency_ms, cell.int8_latency_ms = result.latency_ms["float"], result.latency_ms["quant"]
    cell.float_size_bytes, cell.int8_size_bytes = result.float_size_bytes, result.size_bytes
    cell.int8_sha256 = result.description.sha256
    cell.threads = request.threads
    cell.seconds = round(time.perf_counter() - start, 2)
    return CellOutput(cell, files)


def _store(output: Path, folder: Path, cell: Cell) -> None:
    write_text(folder / "cell.json", json.dumps(asdict(cell), indent=2) + "\n")
    record_files(output, "sweep")


def _store_model(request: SweepRequest, folder: Path, files: dict[str, bytes]) -> None:
    """The cell's quantize folder, written whole and moved into place in one step (`outputs.new_folder`)."""
    with new_folder(folder / "model", "quantize", (request.calib, request.eval, request.weights)) as staging:
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            write_bytes(staging / name, data)


def _where(request: SweepRequest, count: int) -> str:
    if request.ray is not None:
        return f"as Ray tasks on {request.ray}"
    workers = min(request.jobs, count)
    return f"in {workers} local worker process{'es' * (workers > 1)}"


def _plan(request: SweepRequest, output: Path, reporter: Reporter) -> tuple[list[Cell], list[str], list]:
    """Every cell of the grid: reused from an earlier run, skipped with a reason, or pending as (index, weights)."""
    inputs = request.inputs()
    weights_label = {None: "none (untrained)", "imagenet": "imagenet"}.get(request.weights, str(request.weights))
    grid = [(alpha, resolution) for alpha in request.alphas for resolution in request.resolutions]
    cells: list[Cell] = []
    prefixes: list[str] = []
    pending: list[tuple[int, str | None]] = []
    for index, (alpha, resolution) in enumerate(grid, 1):
        name = cell_name(request.arch, alpha, resolution)
        folder = output / "cells" / name
        config = Config(request.arch, float(alpha), int(resolution))
        prefix = f"[{index}/{len(grid)}] {request.arch} α{alpha:g}@{resolution}"
        prefixes.append(prefix)
        stored = load_cell(folder, inputs, config)
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
                _store(output, folder, cell)  # a failed download is slow: remembered until the file is in the cache
            continue
        pending.append((len(cells) - 1, weights))
    return cells, prefixes, pending


def _collect(request: SweepRequest, output: Path, reporter: Reporter, runs, cells: list[Cell],
             prefixes: list[str], pending: list) -> None:
    """Store each finished cell as it arrives, so a stopped sweep keeps every cell that completed."""
    for position, outcome in runs:
        index = pending[position][0]
        cell, prefix = cells[index], prefixes[index]
        if isinstance(outcome, sweep_workers.Lost):
            cell.status, cell.reason = "failed", outcome.reason
        elif isinstance(outcome.error, UsageError):
            raise outcome.error
        elif outcome.error is not None:
            cell.status, cell.reason = "failed", str(outcome.error)
        else:
            cells[index] = cell = outcome.cell  # from another process: a copy of the one sent
            _store_model(request, output / "cells" / cell.name, outcome.files)
            _store(output, output / "cells" / cell.name, cell)
            reporter.info(f"{prefix}: done in {cell.seconds:.0f} s")
            continue
        reporter.warn(f"{prefix} failed: {cell.reason}")


def sweep(request: SweepRequest | None = None, reporter: Reporter | None = None, **options) -> SweepResult:
    """Run (or reuse) every cell of the grid, then write sweep.csv, sweep.md and the two PNG figures."""
    from contextlib import closing

    request = request or SweepRequest(**options)
    reporter = reporter or Reporter()
    request.validate()
    start = time.perf_counter()
    with sweep_workers.ray_connected(request.ray):  # first: a cluster that cannot be reached leaves no folder
        output = claim_folder(request.output, "sweep", (request.calib, request.eval, request.weights))
        (output / "cells").mkdir(exist_ok=True)
        record_files(output, "sweep")  # an interrupted first cell must leave a folder the rerun accepts as its own
        cells, prefixes, pending = _plan(request, output, reporter)
        if pending and ((request.jobs or 1) > 1 or request.ray is not None):
            reporter.info(f"quantizing and measuring {len(pending)} cell{'s' * (len(pending) > 1)} "
                          f"{_where(request, len(pending))}")
        anywhere = request.absolute()  # a worker's current folder is not ours
        runs = sweep_workers.run_all(run_cell, [(anywhere, cells[index], weights and str(Path(weights).resolve()))
                                                for index, weights in pending],
                                     reporter, request.jobs or 1, request.ray, lambda position: reporter.info(
                                         f"{prefixes[pending[position][0]]}: quantizing and measuring"))
        with closing(runs):
            _collect(request, output, reporter, runs, cells, prefixes, pending)
    done = [cell for cell in cells if cell.status == "done"]
    metric = "top1" if done and all(cell.labelled for cell in done) else "agreement"
    files = _write_summary(output, request, cells, metric, reporter)
    return SweepResult(output, cells, metric, files, time.perf_counter() - start)


def render_csv(cells: list[Cell]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cell in cells:
        writer.writerow({key: "" if value is None else value for key, value in cell.row().items()})
    return buffer.getvalue()


def _write_summary(output: Path, request: SweepRequest, cells: list[Cell], metric: str,
                   reporter: Reporter) -> dict[str, str]:
    from .plots import sweep_figures
    from .report import render_sweep_report

    figures = sweep_figures(output, request.arch, request.threads, request.weights is None, cells, metric)
    if not figures:
        reporter.warn("no cell ran: sweep.csv and sweep.md list why; there are no figures")
    write_text(output / "sweep.csv", render_csv(cells))
    write_text(output / "sweep.md", render_sweep_report(request.arch, request.threads, request.weights is None,
                                                        cells, metric, figures))
    record_files(output, "sweep")
    return {"csv": str(output / "sweep.csv"), "markdown": str(output / "sweep.md"), **figures}



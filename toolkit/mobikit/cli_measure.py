"""The `sweep` and `demo` commands, registered on `mobikit.cli.app`: parse, call the library, print."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .cli import Arch, ArchOpt, JsonOpt, _int_list, _reporter, _weights_arg, app, emit_json, json_stdout, out
from .errors import MobikitError, UsageError
from .report import pct


def _float_list(text: str, flag: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"{flag} takes comma-separated numbers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise UsageError(f"{flag} takes numbers > 0, got {text!r}")
    return values


def _ms(value) -> str:
    return "–" if value is None else f"{value:.2f}"


@app.command()
def sweep(
    arch: Arch = ArchOpt,
    alpha: str = typer.Option("0.25,0.5,0.75", "--alpha", help="Width multipliers, comma-separated."),
    resolution: str = typer.Option("128,160,192,224", "--resolution", help="Input sizes, comma-separated."),
    weights: str = typer.Option("imagenet", "--weights",
                                help="imagenet (cells without weights are skipped), none (untrained) or a file."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images (default: the embedded set)."),
    eval_dir: Optional[Path] = typer.Option(None, "--eval", help="Labelled images for top-1 (else: agreement)."),
    calib_samples: int = typer.Option(200, "--calib-samples", help="How many calibration images (seeded sample)."),
    eval_samples: Optional[int] = typer.Option(None, "--eval-samples", help="Verify on at most N images."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for the latency measurements."),
    bias_correction: Optional[bool] = typer.Option(
        None, "--bias-correction/--no-bias-correction", help="Empirical bias correction [default: on]."),
    output: Path = typer.Option(..., "--output", "-o", help="Sweep folder (reused: finished cells are kept)."),
    as_json: bool = JsonOpt,
):
    """Quantize, verify and time every α × resolution, and plot accuracy against mult-adds and latency."""
    from .sweep import SweepRequest, sweep as run_sweep

    request = SweepRequest(output, arch.value, _float_list(alpha, "--alpha"), _int_list(resolution, "--resolution"),
                           _weights_arg(weights), calib, eval_dir, calib_samples, eval_samples, threads,
                           bias_correction)
    with json_stdout(as_json):
        result = run_sweep(request, _reporter(as_json))
    if as_json:
        emit_json(result.to_json())
    else:
        _print_sweep(result, arch.value)
    failed = [cell for cell in result.cells if cell.status == "failed"]
    if failed:
        raise MobikitError(f"{len(failed)} of {len(result.cells)} cells failed (listed in sweep.md); first, "
                           f"{failed[0].name}: {failed[0].reason}")


def _print_sweep(result, arch: str) -> None:
    top1 = result.metric == "top1"
    table = Table(title=f"sweep {arch} → {result.output}")
    accuracy_columns = ("float top-1", "int8 top-1") if top1 else ("int8 agreement",)
    for column in ("α", "R", "mult-adds", *accuracy_columns, "float ms", "int8 ms", "int8 size", "status"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for cell in result.cells:
        accuracy = (pct(cell.float_top1), pct(cell.int8_top1)) if top1 else (pct(cell.agreement),)
        status = cell.status + (" (reused)" if cell.reused else "")
        if cell.reason:
            status += f": {cell.reason}"
        table.add_row(f"{cell.alpha:g}", str(cell.resolution), f"{cell.mult_adds / 1e6:.1f}M", *accuracy,
                      _ms(cell.float_latency_ms), _ms(cell.int8_latency_ms),
                      "–" if cell.int8_size_bytes is None else f"{cell.int8_size_bytes / 1e6:.2f} MB", status)
    out.print(table)
    if not top1 and any(cell.status == "done" for cell in result.cells):
        out.print("no labelled evaluation images: top-1 needs labelled --eval images; showing int8 agreement "
                  "with float")
    out.print("wrote " + ", ".join(result.files.values()) + f" in {result.seconds:.1f} s")


@app.command()
def demo(
    model: Optional[Path] = typer.Argument(None, help="A quantize output folder or a .tflite file."),
    model_option: Optional[Path] = typer.Option(None, "--model", help="The same as the MODEL argument."),
    source: str = typer.Option("0", "--source", help="Camera index, video file or folder of images."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the annotated frames to this .mp4."),
    no_window: bool = typer.Option(False, "--no-window", help="Never open a window (headless)."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for inference."),
    as_json: bool = JsonOpt,
):
    """Live classification with top-3 labels, latency and FPS drawn on each frame."""
    from .demo import demo as run_demo

    if (model is None) == (model_option is None):
        raise UsageError("give the model once: mobikit demo MODEL (or --model MODEL)")
    model = model or model_option

    window = False if no_window else None
    with json_stdout(as_json):
        summary = run_demo(model, source, output, window, threads, reporter=_reporter(as_json))
    if as_json:
        emit_json(summary.to_json())
        return
    fps = "–" if summary.fps is None else f"{summary.fps:.1f}"
    latency = "–" if summary.mean_latency_ms is None else f"{summary.mean_latency_ms:.2f} ms"
    out.print(f"{summary.frames} frames, mean inference {latency}, {fps} FPS"
              + (f", annotated video: {summary.output}" if summary.output else "")
              + (" (interrupted)" if summary.interrupted else ""))

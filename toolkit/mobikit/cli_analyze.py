"""`mobikit analyze`, and the console view of quantize's float fallback search (kept here, beside the analysis)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .cli import AlphaOpt, JsonOpt, ResolutionOpt, _reporter, _weights_arg, app, emit_json, json_stdout, out
from .errors import UsageError
from .report import pct

WORST_SHOWN = 10


def print_fallback(fallback: dict) -> None:
    """Every step of the search as a table, then the one-sentence verdict."""
    table = Table(title=f"float fallback search — target: {fallback['target']}")
    for column in ("layers in float", "top-1", "agreement", "latency", "× int8", "meets target"):
        table.add_column(column, justify="left" if column == "layers in float" else "right")
    for step in fallback["steps"]:
        table.add_row(", ".join(step["layers"]) or "– (full-integer)", pct(step["top1"]), pct(step["agreement"]),
                      f"{step['latency_ms']:.2f} ms", f"{step['latency_ratio']:.2f}×", "yes" if step["met"] else "no")
    out.print(table)
    out.print(fallback["summary"] + f" [{fallback['stopped']}]", markup=False)


@app.command()
def analyze(
    folder: Optional[Path] = typer.Argument(None, help="A quantize output folder (int8) to analyze in place."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Instead of a folder: MobileNet v1 or v2 to build."),
    alpha: float = AlphaOpt,
    resolution: int = ResolutionOpt,
    weights: str = typer.Option("imagenet", "--weights", help="imagenet, none, or a .h5/.weights.h5/.keras file."),
    model: Optional[Path] = typer.Option(None, "--model", help="A saved .keras model (needed for folders "
                                         "quantized from one)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images [default: the folder's own "
                                         "calibration set, or the embedded one]."),
    calib_samples: Optional[int] = typer.Option(None, "--calib-samples", help="How many calibration images "
                                                "[default: the folder's count, else 200]."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="With --arch/--model: where to write "
                                          "[default: ./mobikit-out/<name>_analysis]."),
    as_json: bool = JsonOpt,
):
    """Per-layer int8 error (RMSE/scale, mean and max error) on the calibration images: CSV, chart, worst layers."""
    from .analyze import AnalyzeRequest, analyze as run_analyze, worst_layers

    if folder is not None and arch is not None:
        raise UsageError("give either an output folder or --arch, not both")
    if arch is not None and arch not in ("v1", "v2"):
        raise UsageError(f"--arch is v1 or v2, got {arch!r}")
    if folder is not None and output is not None:
        raise UsageError("--output is for --arch/--model runs; a folder is analyzed in place")
    request = AnalyzeRequest(folder, arch, alpha, resolution, _weights_arg(weights), model, calib, calib_samples,
                             output)
    with json_stdout(as_json):
        result = run_analyze(request, _reporter(as_json))
    if as_json:
        emit_json(result.to_json())
        return
    table = Table(title=f"{result.model}: worst layers by RMSE/scale on {result.calib_samples} calibration images")
    for column in ("layer", "op", "RMSE/scale", "mean error", "max |error|", "scale", "zero point"):
        table.add_column(column, justify="left" if column in ("layer", "op") else "right")
    for error in worst_layers(result.errors, WORST_SHOWN):
        table.add_row(error.layer, error.op, f"{error.rmse_scale:.3f}", f"{error.mean_error:.2e}",
                      f"{error.max_abs_error:.3f}", f"{error.scale:.4g}", str(error.zero_point))
    out.print(table)
    out.print(f"{len(result.errors)} quantized tensors; wrote {result.output_dir / 'analysis.csv'} and "
              f"{result.output_dir / 'analysis.png'} in {result.seconds:.1f} s")

"""`mobikit analyze`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import (AlphaOpt, JsonOpt, ResolutionOpt, WeightsOpt, emit_json, out, reporter, stdout_to_stderr,
                     weights_arg)
from .tables import worst_layers_table


def analyze(
    folder: Optional[Path] = typer.Argument(None, help="A quantize output folder (int8) to analyze in place."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Instead of a folder: MobileNet v1 or v2 to build."),
    alpha: float = AlphaOpt,
    resolution: int = ResolutionOpt,
    weights: str = WeightsOpt,
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
    from ..analysis import AnalyzeRequest, analyze as run_analyze
    from ..layer_error import worst_layers

    request = AnalyzeRequest(folder=folder, arch=arch, alpha=alpha, resolution=resolution,
                             weights=weights_arg(weights), model=model, calib=calib, calib_samples=calib_samples,
                             output=output)
    with stdout_to_stderr():
        result = run_analyze(request, reporter())
    if as_json:
        emit_json(result.to_json())
        return
    out.print(worst_layers_table(result, worst_layers(list(result.errors))))
    out.print(f"analyzed {result.analyzed}", markup=False)
    out.print(f"{len(result.errors)} quantized tensors; wrote {result.output_dir / 'analysis.csv'} and "
              f"{result.output_dir / 'analysis.png'} in {result.seconds:.1f} s")

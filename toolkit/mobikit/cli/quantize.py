"""`mobikit quantize`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..convert import IO_TYPES, MODES
from .. import defaults
from ..qat import QatSettings
from .common import (AlphaOpt, Arch, ArchOpt, JsonOpt, ResolutionOpt, ThreadsOpt, WeightsOpt, emit_json,
                     stdout_to_stderr, out, reporter, weights_arg)
from .tables import fallback_table, quantize_table

Mode = Enum("Mode", {name: name for name in MODES}, type=str)
IOType = Enum("IOType", {name: name for name in IO_TYPES}, type=str)
MODE_HELP = "; ".join(f"{mode.name}: {mode.help}" for mode in MODES.values())


def quantize(
    arch: Arch = ArchOpt,
    alpha: float = AlphaOpt,
    resolution: int = ResolutionOpt,
    weights: str = WeightsOpt,
    model: Optional[Path] = typer.Option(None, "--model", help="Quantize this saved .keras model instead."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images (default: the embedded set)."),
    calib_samples: int = typer.Option(defaults.CALIBRATION_SAMPLES, "--calib-samples",
                                      help="How many calibration images (seeded sample)."),
    mode: Mode = typer.Option("int8", "--mode", help=MODE_HELP + "."),
    io: Optional[IOType] = typer.Option(None, "--io", help="int8 model input/output type [default: int8]."),
    eval_dir: Optional[Path] = typer.Option(None, "--eval", help="Labelled images to verify on."),
    eval_samples: Optional[int] = typer.Option(None, "--eval-samples", help="Verify on at most N images "
                                               "[default: all of --eval; 1000 of a calibration folder's rest]."),
    threads: int = ThreadsOpt,
    labels: Optional[Path] = typer.Option(None, "--labels", help="Class names, one per line."),
    bias_correction: Optional[bool] = typer.Option(
        None, "--bias-correction/--no-bias-correction", help="Empirical bias correction [default: on for int8]."),
    max_drop: Optional[float] = typer.Option(
        None, "--max-drop", help="Keep the worst layers in float until top-1 is within P points of float "
        "[default: 0.4 with labelled eval images]."),
    min_agreement: Optional[float] = typer.Option(
        None, "--min-agreement", help="Fallback target as % top-1 agreement with float [default: 97 when the eval "
        "images carry no labels and --max-drop is given]."),
    max_fallback_layers: int = typer.Option(defaults.MAX_FALLBACK_LAYERS, "--max-fallback-layers",
                                            help="At most K layers kept in float."),
    max_latency_ratio: float = typer.Option(defaults.MAX_LATENCY_RATIO, "--max-latency-ratio",
                                            help="At most L × the full-integer model's latency."),
    strict_int8: bool = typer.Option(False, "--strict-int8", help="Forbid float fallback (int8-only accelerators)."),
    analyze: bool = typer.Option(False, "--analyze", help="Also write the per-layer error analysis."),
    qat: bool = typer.Option(False, "--qat", help="Quantization-aware fine-tuning: distil the float model into its "
                             "simulated int8 twin on the (unlabelled) calibration images before converting."),
    qat_epochs: Optional[int] = typer.Option(None, "--qat-epochs", help="Epochs of --qat over the calibration "
                                             f"images [default: {QatSettings.epochs}]."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output folder [default: ./mobikit-out/<name>]."),
    as_json: bool = JsonOpt,
):
    """Quantize a MobileNet to TFLite and verify it against the float model in the same run."""
    from ..models import check_given_weights
    from ..quantization import QuantizeRequest, quantize as run_quantize

    check_given_weights(weights_arg(weights))
    request = QuantizeRequest(
        arch=arch.value, alpha=alpha, resolution=resolution, weights=weights_arg(weights), model=model, calib=calib,
        calib_samples=calib_samples, mode=mode.value, io=io.value if io else None, eval=eval_dir,
        eval_samples=eval_samples, threads=threads, output=output, labels=labels, bias_correction=bias_correction,
        max_drop=max_drop, min_agreement=min_agreement, max_fallback_layers=max_fallback_layers,
        max_latency_ratio=max_latency_ratio, strict_int8=strict_int8, analyze=analyze, qat=qat,
        qat_epochs=qat_epochs)
    with stdout_to_stderr():
        result = run_quantize(request, reporter())
    if as_json:
        emit_json(result.to_json())
        return
    show(result)


def show(result) -> None:
    """The console view of a quantize run: the verification table, the QAT and fallback outcomes, the phases."""
    out.print(quantize_table(result))
    if result.qat is not None and result.qat.simulation:
        error = result.qat.simulation
        out.print(f"QAT simulation vs converted model: mean |logit difference| {error['mean_abs']:.4f} "
                  f"({error['mean_abs_steps']:.2f} int8 steps), same top-1 on {100 * error['same_top1']:.1f}% of "
                  f"{error['images']} images")
    if result.fallback is not None:  # its summary says full-integer or which layers stayed float, once
        out.print(fallback_table(result.fallback))
        out.print(f"{result.fallback_summary} [{result.fallback.stopped}]" if result.fallback.met else
                  f"target missed, the best model found kept [{result.fallback.stopped}] (the warning above says how)")
    elif result.description.full_integer:
        out.print("full-integer int8 model" + (", quantization-aware fine-tuned" if result.qat else "")
                  + (", bias-corrected" if result.description.bias_correction else ""))
    weight = f" (one image = {100 / result.eval.n:.1f} points)" if result.eval.labelled and result.eval.n else ""
    images = "image" if result.eval.n == 1 else "images"
    out.print(f"verified on {result.eval.n} {images}{weight}: {result.eval_source}")
    out.print("phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings_s.items()))

"""`mobikit train`."""

from __future__ import annotations

from pathlib import Path
from shlex import quote
from typing import Optional

import typer

from ..formatting import pct
from ..qat import QatSettings
from ..recipe import RECIPE
from .common import (AlphaOpt, Arch, ArchOpt, JsonOpt, ResolutionOpt, ThreadsOpt, WeightsOpt, emit_json, out,
                     reporter, stdout_to_stderr, weights_arg)
from .tables import train_table


def train(
    data: Path = typer.Argument(..., help="Training images: one sub-folder per class, named after the class."),
    arch: Arch = ArchOpt,
    alpha: float = AlphaOpt,
    resolution: int = ResolutionOpt,
    weights: str = WeightsOpt,
    val: Optional[Path] = typer.Option(None, "--val", help="Validation class folders, scored after every epoch "
                                       "for the curves" + (f" [default: {100 * RECIPE.val_fraction:g}% of DATA]."
                                                           if RECIPE.val_fraction else " [default: none].")),
    test: Optional[Path] = typer.Option(None, "--test", help="Test class folders "
                                        f"[default: {100 * RECIPE.test_fraction:g}% of DATA]."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="N epochs per phase (head, then fine-tuning) "
                                         f"[default: {RECIPE.head_epochs} and {RECIPE.fine_tune_epochs}]."),
    fine_tune: Optional[int] = typer.Option(None, "--fine-tune", help="Fine-tune the last K blocks after the head "
                                            f"(0: head only) [default: {RECIPE.fine_tune_blocks}]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size",
                                             help=f"Batch size [default: {RECIPE.batch_size}]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the augmentation and the training."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output folder "
                                          "[default: ./mobikit-out/<data>_<arch>_<alpha>_<resolution>]."),
    quantize: bool = typer.Option(False, "--quantize", help="Also write the verified full-integer int8 model to "
                                  "OUTPUT_int8 (calibrated on the training images, verified on the test split)."),
    qat: bool = typer.Option(False, "--qat", help="With --quantize: quantization-aware fine-tuning (distillation "
                             "under simulated int8) before the conversion."),
    qat_epochs: Optional[int] = typer.Option(None, "--qat-epochs", help="Epochs of --qat over the training images "
                                             f"[default: {QatSettings.epochs}]."),
    threads: int = ThreadsOpt,
    as_json: bool = JsonOpt,
):
    """Train a MobileNet on your own classes: class folders → fine-tuned model, tested on a held-out split."""
    from ..training import TrainRequest, train as run_train

    request = TrainRequest(data=data, arch=arch.value, alpha=alpha, resolution=resolution,
                           weights=weights_arg(weights), val=val, test=test, epochs=epochs, fine_tune=fine_tune,
                           batch_size=batch_size, seed=seed, output=output, quantize=quantize, qat=qat,
                           qat_epochs=qat_epochs, threads=threads)
    with stdout_to_stderr():
        result = run_train(request, reporter())
    if as_json:
        emit_json(result.to_json())
        return
    out.print(train_table(result))
    split = ", ".join(f"{part} {count}" for part, count in result.split.items())
    out.print(f"images: {split}" + (f"; {result.skipped} unreadable files skipped" if result.skipped else ""))
    out.print("epochs: " + ", ".join(f"{phase} {count}" for phase, count in result.epochs.items())
              + "; " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings_s.items())
              + f"; peak memory {result.peak_rss_mb:.0f} MB")
    out.print(f"wrote {result.output_dir} (model.keras, labels.txt, train.json, report.md, curves.png, "
              "confusion.png)")
    if result.quantized is not None:
        q = result.quantized
        out.print(f"int8: {q.output_dir}: top-1 {pct(q.eval.quant_top1)} vs float {pct(q.eval.float_top1)}, "
                  f"agreement {pct(q.eval.agreement)}, {q.size_bytes / 1e6:.2f} MB, {q.latency_ms['quant']:.2f} ms "
                  f"(float {q.latency_ms['float']:.2f} ms)")
        out.print(f"next: mobikit deploy {quote(str(q.output_dir))} --device <phone>")
    else:
        out.print(f"next: rerun with --quantize for the verified int8 model, or: mobikit quantize --model "
                  f"{quote(str(result.model))} --labels {quote(str(result.labels))} --calib <images> "
                  "--eval <labelled images>")

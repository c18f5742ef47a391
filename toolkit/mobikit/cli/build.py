"""`mobikit profile` and `mobikit build`."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import (AlphaOpt, Arch, ArchOpt, JsonOpt, ResolutionOpt, WeightsOpt, emit_json, out, stdout_to_stderr,
                     weights_arg)
from .tables import profile_table

ClassesOpt = typer.Option(1000, "--classes", help="Classifier outputs.")
StandardConvOpt = typer.Option(False, "--standard-conv", help="V1 only: full 3×3 convs (paper's Table 4).")


def profile(arch: Arch = ArchOpt, alpha: float = AlphaOpt, resolution: int = ResolutionOpt, classes: int = ClassesOpt,
            standard_conv: bool = StandardConvOpt, as_json: bool = JsonOpt):
    """Per-layer params and mult-adds, counted as the MobileNet papers count them."""
    from ..cost import profile as run_profile

    result = run_profile(arch=arch.value, alpha=alpha, resolution=resolution, classes=classes,
                         standard_conv=standard_conv)
    if as_json:
        emit_json(result.to_json())
        return
    out.print(profile_table(result, standard_conv))
    out.print(f"{result.params / 1e6:.2f}M params, {result.macs / 1e6:.0f}M mult-adds")


def build(arch: Arch = ArchOpt, alpha: float = AlphaOpt, resolution: int = ResolutionOpt, classes: int = ClassesOpt,
          weights: str = WeightsOpt, standard_conv: bool = StandardConvOpt,
          output: Path = typer.Option(..., "--output", "-o", help="Where to save the model (.keras)."),
          as_json: bool = JsonOpt):
    """Build a MobileNet from the paper's table and save it as a .keras file."""
    from ..cost import profile as run_profile
    from ..models import build_to_file

    cost = run_profile(arch=arch.value, alpha=alpha, resolution=resolution, classes=classes,
                       standard_conv=standard_conv)
    with stdout_to_stderr():
        build_to_file(output, arch=arch.value, alpha=alpha, resolution=resolution, classes=classes,
                      weights=weights_arg(weights), standard_conv=standard_conv)
    summary = {"output": str(output), "arch": arch.value, "alpha": alpha, "resolution": resolution,
               "classes": classes, "params": cost.params, "macs": cost.macs}
    if as_json:
        emit_json(summary)
    else:
        out.print(f"saved {output}: {cost.params:,} params, {cost.macs / 1e6:.1f}M mult-adds")

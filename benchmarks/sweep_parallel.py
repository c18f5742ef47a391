"""The sweep speed-up target: a 4-cell sweep with 2 local worker processes (`--jobs 2`) against 1, in one run.

Small cells (V1 α0.25 at 96–144, untrained, 8 calibration and 8 verification images from the embedded photos), so
the ratio shows the pool's gain and its cost (each worker imports TensorFlow itself) in minutes, with no shared data.
Calls `mobikit.sweeping.sweep` as `mobikit sweep` does, each run into a fresh folder, and checks that both runs made
the same cells (model digests, agreement). Writes benchmarks/results/sweep_parallel.md.

    python benchmarks/sweep_parallel.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import machine, write_result

from mobikit.images import embedded_images
from mobikit.progress import Reporter
from mobikit.sweeping import SweepRequest, sweep

RESOLUTIONS = [96, 112, 128, 144]
TARGET = 1.5  # 2 workers on 2 cores: at least 1.5× the cells per minute


def timed(jobs: int, root: Path) -> tuple[float, list]:
    request = SweepRequest(root / f"jobs{jobs}", "v1", [0.25], RESOLUTIONS, None, embedded_images("calibration"),
                           calib_samples=8, eval_samples=8, jobs=jobs)
    start = time.perf_counter()
    result = sweep(request, Reporter())
    return time.perf_counter() - start, result.cells


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="mobikit-sweep-parallel-"))
    load_before = os.getloadavg()
    one_s, one = timed(1, root)
    two_s, two = timed(2, root)
    load_after = os.getloadavg()
    same = [(c.int8_sha256, c.agreement) for c in one] == [(c.int8_sha256, c.agreement) for c in two]
    if not same or any(cell.status != "done" for cell in one + two):
        sys.exit("the two sweeps made different cells")
    speedup = one_s / two_s
    text = "\n".join([
        "# Sweep: 2 local workers against 1", "",
        f"Machine: {machine()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (a VM shared "
        "with other work: the ratio is what this load allowed).", "",
        f"Grid: V1 α0.25 × {', '.join(map(str, RESOLUTIONS))}, untrained, 8 calibration + 8 verification images; "
        "`sweep(SweepRequest(..., jobs=1))` in this process, then `jobs=2` (each worker a fresh process that imports "
        "TensorFlow), each into a fresh folder. Both made the same 4 cells (model digests and agreement equal).", "",
        "| jobs | wall time | cells/min |", "|---|---|---|",
        f"| 1 | {one_s:.1f} s | {4 * 60 / one_s:.2f} |",
        f"| 2 | {two_s:.1f} s | {4 * 60 / two_s:.2f} |", "",
        f"Speed-up: **{speedup:.2f}×** (target ≥ {TARGET}× {'✓' if speedup >= TARGET else '✗'}).", "",
    ])
    path = write_result("sweep_parallel.md", text)
    print(text)
    print(f"wrote {path}", file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

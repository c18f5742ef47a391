"""The V1 sweep target: the 3×4 grid (α 0.25–0.75 × 128–224) with ImageNet weights, timed, then rerun.

Cells whose weights are not on this machine are skipped (here only α0.25@128, α0.25@224 and α0.75@224 exist).
Calibration = the first 200 imagenet-dev images, evaluation = the other 300. Runs the real `mobikit sweep` command
twice in a fresh folder: the first run must finish in under 15 minutes, the rerun (every cell reused) in seconds.
Writes benchmarks/results/sweep_v1.md and the two figures next to it.

    python benchmarks/sweep_v1.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, imagenet_split, machine, write_result

from mobikit.outputs import write_bytes

SWEEP_TARGET_S = 15 * 60
RERUN_TARGET_S = 10


def run_sweep(calib: Path, evaluation: Path, output: Path) -> tuple[dict, float]:
    command = [sys.executable, "-m", "mobikit", "sweep", "--arch", "v1", "--alpha", "0.25,0.5,0.75",
               "--resolution", "128,160,192,224", "--calib", str(calib), "--eval", str(evaluation),
               "--output", str(output), "--json"]
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"mobikit sweep failed with exit code {result.returncode}")
    return json.loads(result.stdout), seconds


def main() -> None:
    calib, evaluation = imagenet_split()
    output = Path(tempfile.mkdtemp(prefix="mobikit-sweep-v1-")) / "sweep"
    first, first_s = run_sweep(calib, evaluation, output)
    first_markdown = Path(first["files"]["markdown"]).read_text()
    figures = []
    for key in ("macs", "latency"):
        if key in first["files"]:
            target = RESULTS / f"sweep_v1_{Path(first['files'][key]).name.removeprefix('sweep_')}"
            write_bytes(target, Path(first["files"][key]).read_bytes())
            figures.append(target.name)
    second, second_s = run_sweep(calib, evaluation, output)
    done = sum(cell["status"] == "done" for cell in first["cells"])
    skipped = sum(cell["status"] == "skipped" for cell in first["cells"])
    reused = {status: sum(c["reused"] and c["status"] == status for c in second["cells"])
              for status in ("done", "skipped")}
    table = first_markdown.split("\n", 2)[2].split("\n## Figures")[0].strip()
    text = "\n".join([
        "# V1 sweep: 3×4 grid with ImageNet weights", "",
        f"Machine: {machine()}", "",
        "Calibration: first 200 imagenet-dev images by sorted name; evaluation: the other 300. `mobikit sweep "
        "--arch v1 --alpha 0.25,0.5,0.75 --resolution 128,160,192,224 --calib … --eval …` (bias correction on).", "",
        "| run | wall time | target | cells run | cells skipped | cells reused (done + skipped) |",
        "|---|---|---|---|---|---|",
        f"| first | {first_s:.1f} s | < {SWEEP_TARGET_S} s {'✓' if first_s < SWEEP_TARGET_S else '✗'} | {done} | "
        f"{skipped} | 0 |",
        f"| rerun | {second_s:.1f} s | < {RERUN_TARGET_S} s {'✓' if second_s < RERUN_TARGET_S else '✗'} | 0 | 0 | "
        f"{reused['done']} + {reused['skipped']} |", "",
        table, "",
        *[f"![{name}]({name})" for name in figures], "",
    ])
    path = write_result("sweep_v1.md", text)
    print(text)
    print(f"wrote {path}", file=sys.stderr)
    shutil.rmtree(output.parent, ignore_errors=True)


if __name__ == "__main__":
    main()

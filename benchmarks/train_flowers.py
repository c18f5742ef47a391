"""The time and memory budgets of `mobikit train --quantize` on ../shared/data/flowers-dev with the recipe's defaults.

One run of `mobikit train DATA --arch A --alpha α --resolution R --quantize --json` per model, each in its own
process (so its peak memory is its own): the seeded stratified split of the 600 photos (80% train, 20% = 120 test
photos; one photo = 0.83 points), float accuracy on the test split, the full-integer bias-corrected int8 model's
accuracy on the same photos, the gap, the training time of both phases, the quantize time, the process's CPU time
(user + system: a load-independent measure on a shared machine; wall time on an idle 2-core machine lies between
half of it and all of it) and the peak resident memory. The recipe is chosen by benchmarks/train_cv.py, never on
this test split. Writes benchmarks/results/train_flowers.md.

    python benchmarks/train_flowers.py [v1|v2 ...]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result  # noqa: E402

FLOWERS = SHARED / "data" / "flowers-dev"
# (arch, alpha, resolution, float target %, max int8 gap in points, max training seconds)
TARGETS = [("v2", 1.0, 224, 91.0, 1.0, 300.0), ("v1", 0.25, 128, 84.0, 1.5, 90.0)]
MEMORY_TARGET_MB = 4096
# The reference measurements (another set of 400 flower photos, trained on these 600): (accuracy, seconds)
REFERENCE = {("v2", 1.0, 224): "linear head 87.5% in 20 s; fine-tuned 89.5% in 168 s",
             ("v1", 0.25, 128): "linear head 79.8% in 5 s; fine-tuned 82.0% in 54 s"}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(arch: str, alpha: float, resolution: int, scratch: Path) -> tuple[dict, dict, float, float]:
    output = scratch / f"flowers_{arch}_{alpha:g}_{resolution}"
    started, cpu = time.perf_counter(), cpu_seconds()
    result = subprocess.run([sys.executable, "-m", "mobikit", "train", str(FLOWERS), "--arch", arch, "--alpha",
                             str(alpha), "--resolution", str(resolution), "--quantize", "--output", str(output),
                             "--json"], capture_output=True, text=True, env={**os.environ})
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if result.returncode:
        raise SystemExit(f"mobikit train failed for {arch} {alpha} {resolution}:\n{result.stderr}")
    print(result.stderr, file=sys.stderr, flush=True)
    summary = json.loads(result.stdout)
    report = json.loads((Path(summary["quantized"]["output_dir"]) / "report.json").read_text())
    return summary, report, wall, cpu


def main() -> None:
    lines = [f"Machine: {machine()}", "",
             f"Load average before the run: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores.", "",
             "Data: flowers-dev, 600 photos, 5 classes; seeded stratified split 480 train / 120 test (one test "
             "photo = 0.83 points; the recipe was chosen by cross-validation, benchmarks/train_cv.py, not here). int8 = full-integer, bias-corrected, calibrated on the training "
             "photos, verified on the test photos. Training = reading the photos, the backbone views, both phases "
             "and the test pass; peak memory = the train process's maximum resident set (both phases and "
             "quantize).", "",
             "| model | float top-1 % | int8 top-1 % | gap (points) | int8 agreement % | train s (features / head / "
             "fine-tune) | epochs (head / fine-tune) | quantize s | wall s | CPU s | peak MB | int8 MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    checks = []
    with tempfile.TemporaryDirectory(prefix="mobikit-train-bench-") as scratch:
        chosen = sys.argv[1:] or [arch for arch, *_ in TARGETS]
        for arch, alpha, resolution, float_target, max_gap, max_seconds in TARGETS:
            if arch not in chosen:
                continue
            summary, report, wall, cpu = run(arch, alpha, resolution, Path(scratch))
            timings, quantized = summary["timings_s"], summary["quantized"]
            corrected = report["bias_correction"]["corrected"]
            float_top1, int8_top1 = 100 * quantized["eval"]["float_top1"], 100 * corrected["quant_top1"]
            train_top1 = 100 * summary["test"]["accuracy"]
            gap = float_top1 - int8_top1
            name = f"{arch} α{alpha:g}@{resolution}"
            lines.append(f"| {name} | {train_top1:.1f} | {int8_top1:.1f} | {gap:+.1f} | "
                         f"{100 * corrected['agreement']:.1f} | {timings['train_total']:.0f} "
                         f"({timings['backbone_features']:.0f} / {timings['head']:.0f} / {timings['fine_tune']:.0f}) "
                         f"| {summary['epochs']['head']} / {summary['epochs']['fine-tune']} | "
                         f"{timings['quantize']:.0f} | {wall:.0f} | {cpu:.0f} | {summary['peak_rss_mb']:.0f} | "
                         f"{quantized['size_bytes'] / 1e6:.2f} |")
            mark = lambda ok: "✓" if ok else "✗"  # noqa: E731
            checks.append(
                f"- **{name}**: float {train_top1:.1f}% (target ≥ {float_target:g}) {mark(train_top1 >= float_target)}; "
                f"int8 {int8_top1:.1f}% vs float {float_top1:.1f}% as quantize measures it with the saved Keras "
                f"model: gap {gap:+.1f} points (target ≤ {max_gap:g}) {mark(gap <= max_gap)}; training "
                f"{timings['train_total']:.0f} s (target ≤ {max_seconds:g}) "
                f"{mark(timings['train_total'] <= max_seconds)} (CPU time of the whole process, training and "
                f"quantize on 2 threads: {cpu:.0f} s); peak memory {summary['peak_rss_mb']:.0f} MB "
                f"(target ≤ {MEMORY_TARGET_MB}) {mark(summary['peak_rss_mb'] <= MEMORY_TARGET_MB)}; issue's "
                f"reference on its held-out photos: {REFERENCE[(arch, alpha, resolution)]}")
    lines += ["", f"Load average after the run: {os.getloadavg()[0]:.2f} (1 min).", "", "Targets:", "", *checks]
    text = "\n".join(lines) + "\n"
    write_result("train_flowers.md", text)
    print(text)


if __name__ == "__main__":
    main()

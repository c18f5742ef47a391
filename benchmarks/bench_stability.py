"""The bench targets: stable numbers (5 repeated `mobikit bench` calls, CV of their medians ≤ 5%) and no hidden
overhead (mobikit's per-inference time within 3% of a bare loop over LiteRT's `invoke()`, same model and threads).

Models: int8 V1 α0.25@128 and V2 α1.0@224, quantized here (ImageNet weights from ../shared/keras, no bias
correction: the weights' accuracy does not matter for timing). Writes benchmarks/results/bench_stability.md.

    python benchmarks/bench_stability.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import imagenet_split, machine, write_result

from mobikit.latency import bench_host
from mobikit.quantization import QuantizeRequest, quantize

MODELS = (("v1", 0.25, 128), ("v2", 1.0, 224))
REPEATS = 5
CV_TARGET = 0.05
OVERHEAD_TARGET = 0.03
THREADS = (1, 2)
RUNS, MIN_SECONDS, WARMUP = 100, 2.0, 10


def cli_bench_medians(model: Path, threads: int) -> list[float]:
    """The median latency of REPEATS separate `mobikit bench --json` processes."""
    medians = []
    for _ in range(REPEATS):
        result = subprocess.run([sys.executable, "-m", "mobikit", "bench", str(model), "--threads", str(threads),
                                 "--warmup", str(WARMUP), "--runs", str(RUNS), "--min-seconds", str(MIN_SECONDS),
                                 "--json"], capture_output=True, text=True, check=True)
        medians.append(json.loads(result.stdout)[0]["median_ms"])
    return medians


def bare_loop(model: Path, threads: int) -> tuple[float, float]:
    """LiteRT with nothing around it: (median of timed invokes, total loop time / runs), in ms."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.random.default_rng(0).integers(
        -128, 127, size=detail["shape"], endpoint=True, dtype=np.int8))
    for _ in range(WARMUP + 1):
        interpreter.invoke()
    times = []
    loop_start = time.perf_counter_ns()
    deadline = loop_start + int(MIN_SECONDS * 1e9)
    while len(times) < RUNS or time.perf_counter_ns() < deadline:
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - start) / 1e6)
    loop_ms = (time.perf_counter_ns() - loop_start) / 1e6 / len(times)
    return float(np.median(times)), loop_ms


def overhead(model: Path, threads: int) -> dict:
    """mobikit's bench_host and the bare loop, alternated REPEATS times so machine noise hits both alike."""
    ours, ours_mean, bare, bare_loop_ms = [], [], [], []
    for _ in range(REPEATS):
        result = bench_host(model, threads, "xnnpack", WARMUP, RUNS, MIN_SECONDS)
        ours.append(result.median_ms)
        ours_mean.append(result.mean_ms)
        median, loop = bare_loop(model, threads)
        bare.append(median)
        bare_loop_ms.append(loop)
    m, b = statistics.median(ours), statistics.median(bare)
    return {"mobikit_median": m, "bare_median": b, "ratio": m / b, "mobikit_mean": statistics.median(ours_mean),
            "bare_loop_mean": statistics.median(bare_loop_ms)}


def main() -> None:
    calib, _ = imagenet_split()
    workdir = Path(tempfile.mkdtemp(prefix="mobikit-bench-stability-"))
    lines = ["# Bench stability and overhead", "", f"Machine: {machine()}", "",
             f"Each `mobikit bench` call: {WARMUP} warm-up runs, then ≥ {RUNS} timed runs and ≥ {MIN_SECONDS:g} s, "
             "XNNPACK. The machine is shared (other test runs may be active), so these are upper bounds of the noise.",
             "", "## Stability: median of 5 separate `mobikit bench` calls (target CV ≤ 5%)", "",
             "| model | threads | medians (ms) | mean | CV | spread (max−min)/median | target |",
             "|---|---|---|---|---|---|---|"]
    overhead_lines = ["", "## Overhead: `bench_host` vs a bare LiteRT `invoke()` loop (target within 3%)", "",
                      "Median of 5 alternated rounds of each. Per-inference median; the mean columns compare "
                      "mobikit's mean with the bare loop's total time / runs.", "",
                      "| model | threads | mobikit median (ms) | bare median (ms) | difference | mobikit mean | "
                      "bare loop mean | target |", "|---|---|---|---|---|---|---|---|"]
    for arch, alpha, resolution in MODELS:
        name = f"{arch} α{alpha:g}@{resolution} int8"
        print(f"quantizing {name}", file=sys.stderr)
        output = workdir / f"{arch}_{alpha:g}_{resolution}"
        quantize(QuantizeRequest(arch=arch, alpha=alpha, resolution=resolution, calib=calib, calib_samples=100,
                                 eval_samples=20, output=output, bias_correction=False))
        model = output / "model.tflite"
        for threads in THREADS:
            print(f"benchmarking {name}, {threads} thread(s)", file=sys.stderr)
            medians = cli_bench_medians(model, threads)
            mean = statistics.fmean(medians)
            cv = statistics.pstdev(medians) / mean
            spread = (max(medians) - min(medians)) / statistics.median(medians)
            lines.append(f"| {name} | {threads} | {', '.join(f'{m:.3f}' for m in medians)} | {mean:.3f} | "
                         f"{100 * cv:.2f}% | {100 * spread:.2f}% | {'✓' if cv <= CV_TARGET else '✗'} |")
            o = overhead(model, threads)
            difference = o["ratio"] - 1
            overhead_lines.append(
                f"| {name} | {threads} | {o['mobikit_median']:.3f} | {o['bare_median']:.3f} | {100 * difference:+.2f}% "
                f"| {o['mobikit_mean']:.3f} | {o['bare_loop_mean']:.3f} | "
                f"{'✓' if abs(difference) <= OVERHEAD_TARGET else '✗'} |")
    text = "\n".join(lines + overhead_lines) + "\n"
    path = write_result("bench_stability.md", text)
    print(text)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

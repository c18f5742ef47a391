"""Host latency measured the way TFLite's benchmark_model measures it (the rule behind `mobikit bench`).

Create the interpreter (init), run once (first inference), warm up, then time `invoke()` alone until both the
requested number of runs and the minimum duration are reached. Inputs are random but valid for the input dtype.
The result type is shared with the on-device path, which fills it from the phone.
"""

from __future__ import annotations

import math
import os
import resource
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .errors import UsageError
from .inference import make_interpreter
from .stats import summarize

MAX_SECONDS = 3600.0  # a longer --min-seconds is a typo, not a benchmark
VERIFY_RUNS = dict(warmup=5, runs=50, min_seconds=1.0)  # what quantize and the fallback search measure with


@dataclass
class BenchResult:
    """One benchmarked configuration; None where not measured. `to_json` gives exactly the documented keys."""

    device: str
    model: str
    threads: int | None = None
    delegate: str | None = None
    runs: int | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    mean_ms: float | None = None
    median_ms: float | None = None
    p5_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    std_ms: float | None = None
    size_bytes: int | None = None
    peak_rss_mb: float | None = None
    error: str | None = None

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def model_file(path: str | os.PathLike, param: str = "model") -> Path:
    """A `.tflite` file, or the `model.tflite` of a quantize output folder (checked against its model.json)."""
    path = Path(path)
    if path.is_dir():
        from .description import load_output_folder

        return load_output_folder(path, param).model_path
    if not path.is_file():
        raise UsageError("{%s} {path}: no such file or folder" % param, param, path=str(path))
    if path.suffix != ".tflite":
        raise UsageError("{%s} must be a .tflite file or a quantize output folder, got {path}" % param, param,
                         path=str(path))
    return path


def random_inputs(interpreter, seed: int = 0) -> list[np.ndarray]:
    """One random input per model input, valid for its dtype (full int range, or [-1, 1] for float)."""
    rng = np.random.default_rng(seed)
    values = []
    for detail in interpreter.get_input_details():
        dtype, shape = np.dtype(detail["dtype"]), detail["shape"]
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            values.append(rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype))
        else:
            values.append(rng.uniform(-1.0, 1.0, size=shape).astype(dtype))
    return values


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def check_settings(threads: int, warmup: int, runs: int, min_seconds: float) -> None:
    if threads < 1 or runs < 1 or warmup < 0:
        raise UsageError("{threads} and {runs} must be >= 1 and {warmup} >= 0", "threads", "runs", "warmup")
    if not (math.isfinite(min_seconds) and 0 <= min_seconds <= MAX_SECONDS):
        raise UsageError("{min_seconds} must be between 0 and {most:g}, got {value}", "min_seconds",
                         most=MAX_SECONDS, value=min_seconds)


def bench_host(model: str | os.PathLike, threads: int = 2, delegate: str = "xnnpack", warmup: int = 5,
               runs: int = 50, min_seconds: float = 1.0) -> BenchResult:
    """Benchmark one configuration on this machine."""
    check_settings(threads, warmup, runs, min_seconds)
    path = model_file(model)
    start = time.perf_counter_ns()
    interpreter = make_interpreter(path, threads, delegate)
    init_ms = (time.perf_counter_ns() - start) / 1e6
    for detail, value in zip(interpreter.get_input_details(), random_inputs(interpreter)):
        interpreter.set_tensor(detail["index"], value)
    invoke = interpreter.invoke
    start = time.perf_counter_ns()
    invoke()
    first_ms = (time.perf_counter_ns() - start) / 1e6
    for _ in range(warmup):
        invoke()
    latencies: list[float] = []
    deadline = time.perf_counter_ns() + int(min_seconds * 1e9)
    while len(latencies) < runs or time.perf_counter_ns() < deadline:
        start = time.perf_counter_ns()
        invoke()
        latencies.append((time.perf_counter_ns() - start) / 1e6)
    stats = summarize(latencies)
    return BenchResult("host", str(path), threads, delegate, stats.runs, init_ms, first_ms, stats.mean_ms,
                       stats.median_ms, stats.p5_ms, stats.p90_ms, stats.p95_ms, stats.min_ms, stats.max_ms,
                       stats.std_ms, path.stat().st_size, peak_rss_mb(), None)


def latency_ms(model_bytes: bytes, threads: int) -> float:
    """Median host latency of a model held in memory (XNNPACK), measured as quantize verifies it."""
    with tempfile.TemporaryDirectory(prefix="mobikit-latency-") as scratch:
        path = Path(scratch) / "model.tflite"
        path.write_bytes(model_bytes)
        return bench_host(path, threads, "xnnpack", **VERIFY_RUNS).median_ms

"""Host latency measured the way TFLite's benchmark_model measures it.

Create the interpreter (init), run once (first inference), warm up, then time `invoke()` alone until both the
requested number of runs and the minimum duration are reached. Inputs are random but valid for the input dtype.
The result type is shared with the on-device path, which fills it from the phone.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .errors import MobikitError, UsageError
from .stats import summarize

HOST_DELEGATES = ("xnnpack", "cpu")
# Kernels for host inference (verification, eval, demo); "cpu" = TFLite's reference kernels. XNNPACK picks int8
# kernels per CPU (AVX-512 VNNI, AVX2, ...), so a near tie can flip class between machines: the reference kernels
# give a second, CPU-independent answer to compare with.
HOST_DELEGATE_ENV = "MOBIKIT_HOST_DELEGATE"


def default_host_delegate() -> str:
    delegate = os.environ.get(HOST_DELEGATE_ENV, "xnnpack").strip().lower() or "xnnpack"
    if delegate not in HOST_DELEGATES:
        raise UsageError(f"${HOST_DELEGATE_ENV} is {delegate!r}: choose {' or '.join(HOST_DELEGATES)}")
    return delegate


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


def model_file(path: str | os.PathLike) -> Path:
    """A `.tflite` file, or the `model.tflite` of a quantize output folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.tflite"
    if not path.is_file():
        raise UsageError(f"no TFLite model at {path}")
    if path.suffix != ".tflite":
        raise UsageError(f"expected a .tflite file or a quantize output folder, got {path}")
    return path


def make_interpreter(model: str | os.PathLike | bytes, threads: int = 2, delegate: str | None = None,
                     preserve_all_tensors: bool = False):
    """A LiteRT interpreter with tensors allocated; `delegate="cpu"` disables the default XNNPACK delegate, and
    None means `default_host_delegate()`."""
    from ai_edge_litert import interpreter as litert

    from ._tf import captured_output

    delegate = delegate or default_host_delegate()
    if delegate not in HOST_DELEGATES:
        raise UsageError(f"unknown host delegate {delegate!r}: choose {' or '.join(HOST_DELEGATES)}")
    resolver = (litert.OpResolverType.AUTO if delegate == "xnnpack"
                else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    source = {"model_content": bytes(model)} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    try:
        with captured_output():  # LiteRT announces its XNNPACK delegate on stderr
            interpreter = litert.Interpreter(**source, num_threads=threads, experimental_op_resolver_type=resolver,
                                             experimental_preserve_all_tensors=preserve_all_tensors)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise MobikitError(f"LiteRT cannot load the model: {str(exc).splitlines()[0]}") from None
    return interpreter


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


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_host(model: str | os.PathLike, threads: int = 2, delegate: str = "xnnpack", warmup: int = 5,
               runs: int = 50, min_seconds: float = 1.0) -> BenchResult:
    """Benchmark one configuration on this machine."""
    path = model_file(model)
    if threads < 1 or warmup < 0 or runs < 1 or min_seconds < 0:
        raise UsageError("threads and runs must be >= 1, warmup and min-seconds >= 0")
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
                       stats.std_ms, path.stat().st_size, _peak_rss_mb(), None)

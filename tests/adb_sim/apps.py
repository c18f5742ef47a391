"""TFLite's benchmark_model on the simulated phone (the demo app is demo_app.py).

It runs the pushed model with the host LiteRT interpreter (mobikit.inference) and prints stdout like the
transcripts in ../shared/fixtures/benchmark_model (the 2024 `INFO:` format, or the 2019 one), with the `VERBOSE:`
delegate lines of delegates.py. Runs are exactly --warmup_runs/--num_runs (no minimum duration), to keep tests
fast. The simulated phone has no GPU delegate unless built with `gpu=True`, and NNAPI takes no node unless built
with `nnapi_accelerator=True`.
"""

from __future__ import annotations

import hashlib
import resource
import time

from mobikit.inference import make_interpreter
from mobikit.latency import random_inputs

from . import delegates
from .device import SimDevice

BENCHMARK_FLAGS = ("graph", "num_threads", "use_xnnpack", "use_gpu", "use_nnapi", "warmup_runs", "num_runs")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed_runs(interpreter, count: int) -> list[int]:
    """Per-invoke latencies in whole microseconds, as benchmark_model's int64 timer gives them."""
    times = []
    for _ in range(count):
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append(max(1, (time.perf_counter_ns() - start) // 1000))
    return times


def _load(path, threads: int, delegate: str):
    start = time.perf_counter_ns()
    interpreter = make_interpreter(path, threads, delegate)
    init_us = (time.perf_counter_ns() - start) / 1e3
    for detail, value in zip(interpreter.get_input_details(), random_inputs(interpreter)):
        interpreter.set_tensor(detail["index"], value)
    return interpreter, init_us


def _count_line(times: list[float]) -> str:
    mean = sum(times) / len(times)
    std = (sum((t - mean) ** 2 for t in times) / len(times)) ** 0.5
    return (f"count={len(times)} first={times[0]} curr={times[-1]} min={min(times)} max={max(times)} "
            f"avg={mean:g} std={int(std)}")


def benchmark_model(device: SimDevice, args: list[str]) -> tuple[int, bytes, bytes]:
    flags = {}
    for arg in args:
        key, sep, value = arg[2:].partition("=")
        if not arg.startswith("--") or not sep or key not in BENCHMARK_FLAGS:
            return 1, b"", f"ERROR: Unconsumed cmdline flags: {arg}\n".encode()
        flags[key] = value
    graph = flags.get("graph", "")
    prefix = "INFO: " if device.benchmark_format == "2024" else ""
    lines = ["STARTING!", "Log parameter values verbosely: [0]", f"Num threads: [{flags.get('num_threads', -1)}]",
             f"Graph: [{graph}]"]
    if not device.host_path(graph).is_file():
        return 1, "".join(f"{prefix}{line}\n" for line in lines).encode(), \
            f"ERROR: Could not open '{graph}'.\nERROR: Benchmarking failed.\n".encode()
    if flags.get("use_gpu") == "true" and not device.gpu:
        lines += [f"Loaded model {graph}", "Failed to create GPU delegate: OpenCL library not loaded"]
        return 1, "".join(f"{prefix}{line}\n" for line in lines).encode(), \
            b"ERROR: Failed to apply GPU delegate.\nERROR: Benchmarking failed.\n"
    threads = max(1, int(flags.get("num_threads", "1")))
    warmup, runs = int(flags.get("warmup_runs", "1")), int(flags.get("num_runs", "50"))
    xnnpack = flags.get("use_xnnpack", "true") == "true"
    accelerator = "gpu" if flags.get("use_gpu") == "true" else "nnapi" if flags.get("use_nnapi") == "true" else None
    try:
        applied = delegates.apply(device, delegates.Graph.of(device.host_path(graph)), accelerator, xnnpack)
    except delegates.DelegateRefused as refused:
        return 1, "".join(f"{prefix}{line}\n" for line in lines).encode(), \
            f"ERROR: {refused}\nERROR: Failed to apply {accelerator} delegate.\nERROR: Benchmarking failed.\n".encode()
    delegate = "xnnpack" if xnnpack and any("XNNPack" in line and "Replacing 0 " not in line for line in applied) \
        else "cpu"
    size_mb = device.host_path(graph).stat().st_size / 1e6  # read before Init, as benchmark_model.cc does
    graph_sha256 = hashlib.sha256(device.host_path(graph).read_bytes()).hexdigest()  # what it ran, for the tests
    rss_start = _rss_mb()
    interpreter, init_us = _load(device.host_path(graph), threads, delegate)
    rss_init = _rss_mb()
    warm = _timed_runs(interpreter, max(1, warmup))
    timed = _timed_runs(interpreter, runs)
    lines += [f"Loaded model {graph}"]
    verbose = "VERBOSE: " if prefix else ""
    lines += [f"{verbose}{line}" if line.startswith("Replacing") and verbose else line for line in applied]
    lines += [f"The input model file size (MB): {size_mb:g}", f"Initialized session in {init_us / 1e3:.3f}ms.",
              f"Running benchmark for at least {warmup} iterations and at least 0.5 seconds but terminate if "
              "exceeding 150 seconds.", _count_line(warm), "",
              f"Running benchmark for at least {runs} iterations and at least 1 seconds but terminate if "
              "exceeding 150 seconds.", _count_line(timed), ""]
    warm_avg, avg = sum(warm) / len(warm), sum(timed) / len(timed)
    overall_mb = _rss_mb() - rss_start  # ru_maxrss at the end minus at the start (benchmark_model.cc, memory_info.cc)
    device.measured.append({"tool": "benchmark_model", "received": dict(flags), "graph_sha256": graph_sha256,
                            "measured": {  # as printed (µs, MB)
        "count": len(timed), "min_us": min(timed), "max_us": max(timed), "avg_us": float(f"{avg:g}"),
        "std_us": int((sum((t - avg) ** 2 for t in timed) / len(timed)) ** 0.5), "init_us": int(init_us),
        "first_us": int(warm[0]), "overall_mb": float(f"{overall_mb:g}"), "threads": threads, "delegate": delegate}})
    if device.benchmark_format == "2019":
        lines += [f"Average inference timings in us: Warmup: {warm_avg:g}, Init: {int(init_us)}, no stats: {avg:g}"]
    else:
        lines += [f"Inference timings in us: Init: {int(init_us)}, First inference: {int(warm[0])}, "
                  f"Warmup (avg): {warm_avg:g}, Inference (avg): {avg:g}",
                  "Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE "
                  "to the actual memory footprint of the model at runtime. Take the information at your discretion.",
                  f"Memory footprint delta from the start of the tool (MB): init={rss_init - rss_start:g} "
                  f"overall={overall_mb:g}"]
    return 0, "".join("\n" if not line else f"{line}\n" if line.startswith("VERBOSE: ") else f"{prefix}{line}\n"
                      for line in lines).encode(), b""

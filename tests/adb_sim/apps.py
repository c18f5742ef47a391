"""What runs on the simulated phone: TFLite's benchmark_model and the demo app's benchmark mode.

Both run the pushed model with the host LiteRT interpreter (mobikit.inference) and report in the real formats:
benchmark_model prints stdout like the transcripts in ../shared/fixtures/benchmark_model (the 2024 `INFO:` format,
or the 2019 one), the app writes its result JSON (contract.RESULT_KEYS) and a `MOBIKIT_BENCH <json>` logcat line.
Runs are exactly --warmup_runs/--num_runs (no minimum duration), to keep tests fast. The simulated phone has no
GPU delegate unless built with `gpu=True`; NNAPI falls back to plain CPU kernels, as it does on many phones.
"""

from __future__ import annotations

import json
import os
import resource
import time

from mobikit.android import contract
from mobikit.inference import make_interpreter
from mobikit.latency import random_inputs
from mobikit.stats import summarize

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
    delegate = "xnnpack" if flags.get("use_xnnpack", "true") == "true" else "cpu"
    rss_start = _rss_mb()
    interpreter, init_us = _load(device.host_path(graph), threads, delegate)
    rss_init = _rss_mb()
    warm = _timed_runs(interpreter, max(1, warmup))
    timed = _timed_runs(interpreter, runs)
    size_mb = device.host_path(graph).stat().st_size / 1e6
    lines += [f"Loaded model {graph}"]
    if delegate == "xnnpack":
        lines += ["Created TensorFlow Lite XNNPACK delegate for CPU."]
    lines += [f"The input model file size (MB): {size_mb:g}", f"Initialized session in {init_us / 1e3:.3f}ms.",
              f"Running benchmark for at least {warmup} iterations and at least 0.5 seconds but terminate if "
              "exceeding 150 seconds.", _count_line(warm), "",
              f"Running benchmark for at least {runs} iterations and at least 1 seconds but terminate if "
              "exceeding 150 seconds.", _count_line(timed), ""]
    warm_avg, avg = sum(warm) / len(warm), sum(timed) / len(timed)
    overall_mb = _rss_mb() - rss_start
    device.measured.append({"tool": "benchmark_model", "received": dict(flags), "measured": {  # as printed (µs, MB)
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
    return 0, "".join(f"{prefix}{line}\n" if line else "\n" for line in lines).encode(), b""


def app_benchmark(device: SimDevice, package: str, extras: dict) -> None:
    """BenchmarkActivity: measure, write RESULTS_DIR/<result_id>.json atomically, log one MOBIKIT_BENCH line."""
    name, delegate = extras.get(contract.EXTRA_MODEL), extras.get(contract.EXTRA_DELEGATE, "xnnpack")
    threads = int(extras.get(contract.EXTRA_THREADS, 2))
    report = dict.fromkeys(contract.RESULT_KEYS)
    report.update(device=device.props["ro.product.model"], model=name, threads=threads, delegate=delegate,
                  device_model=f"{device.props['ro.product.manufacturer']} {device.props['ro.product.model']}",
                  soc=device.props["ro.soc.model"], android=device.props["ro.build.version.release"])
    model = device.host_path(f"{contract.MODELS_DIR}/{name}/{contract.MODEL_FILE}")
    if not model.is_file():
        report["error"] = f"model '{name}' not found in {contract.MODELS_DIR}"
    elif delegate == "gpu" and not device.gpu:
        report["error"] = "GPU delegate unavailable on this device"
    elif delegate not in contract.DELEGATES:
        report["error"] = f"unknown delegate '{delegate}'"
    else:
        rss_start = _rss_mb()
        interpreter, init_us = _load(model, threads, "xnnpack" if delegate in ("xnnpack", "gpu") else "cpu")
        warm = _timed_runs(interpreter, max(1, int(extras.get(contract.EXTRA_WARMUP_RUNS, 5))))
        stats = summarize([t / 1e3 for t in _timed_runs(interpreter, int(extras.get(contract.EXTRA_NUM_RUNS, 50)))])
        report.update(stats.to_json())
        report.update(init_ms=init_us / 1e3, first_ms=warm[0] / 1e3, size_bytes=model.stat().st_size,
                      peak_rss_mb=max(_rss_mb() - rss_start, 0.0))
    device.measured.append({"tool": "app", "received": dict(extras), "measured": dict(report)})
    result_id = extras.get(contract.EXTRA_RESULT_ID, "result")
    target = device.host_path(f"{contract.RESULTS_DIR}/{result_id}{contract.RESULT_SUFFIX}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp")
    partial.write_text(json.dumps(report))
    os.replace(partial, target)
    stamp = time.strftime("%m-%d %H:%M:%S.000")
    device.logcat.append(f"{stamp}  4242  4242 I {contract.LOGCAT_TAG}: {contract.LOGCAT_PREFIX} {json.dumps(report)}")

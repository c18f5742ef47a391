"""The `bench` verb: latency the way TFLite's benchmark_model measures it, on this host or on a phone."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .errors import UsageError
from .inference import HOST_DELEGATES
from .latency import BenchResult, bench_host, check_settings
from .progress import Reporter

HOST = "host"
DEVICE_TOOLS = ("app", "benchmark_model")


def bench(model: str | os.PathLike, device: str = HOST, threads: tuple[int, ...] = (2,),
          delegates: tuple[str, ...] = ("xnnpack",), warmup: int = 5, runs: int = 50, min_seconds: float = 1.0,
          tool: str = "app", benchmark_binary: str | os.PathLike | None = None, adb: str | os.PathLike | None = None,
          compare_host: bool = False, reporter: Reporter | None = None,
          on_result: Callable[[BenchResult], None] | None = None) -> list[BenchResult]:
    """One result per (threads, delegate), threads outermost: on this host (`device="host"`), or on a phone chosen
    by serial or model-name substring, with the demo app's benchmark mode (`tool="app"`) or `benchmark_model`.
    A phone's results also go to `on_result` one by one as they are measured, so a caller keeps them when the run
    is cut off or stopped before the end."""
    if not threads or not delegates:
        raise UsageError("{threads} and {delegate} each need at least one value", "threads", "delegate")
    check_settings(min(threads), warmup, runs, min_seconds)
    if device.lower() == HOST:
        _known(delegates, HOST_DELEGATES)
        configurations = [(n, d) for n in threads for d in delegates]
        return [bench_host(model, n, d, warmup, runs, min_seconds) for n, d in (reporter or Reporter()).track(
            configurations, len(configurations), f"timing {len(configurations)} configuration(s), "
            f"≥ {runs} runs and ≥ {min_seconds:g} s each")]
    from .android.contract import DELEGATES
    from .android.device_bench import bench_device

    if tool not in DEVICE_TOOLS:
        raise UsageError("{tool} is {choices}, got {value!r}", "tool", choices=" or ".join(DEVICE_TOOLS), value=tool)
    _known(delegates, DELEGATES)
    results = bench_device(Path(model), device, tool, list(threads), list(delegates), warmup, runs, adb=adb,
                           benchmark_binary=benchmark_binary, min_secs=min_seconds, reporter=reporter,
                           on_result=on_result)
    if compare_host:
        for n, d in [(n, d) for n in threads for d in delegates if d in HOST_DELEGATES]:
            results.append(bench_host(model, n, d, warmup, runs, min_seconds))
            if on_result is not None:
                on_result(results[-1])
    return results


def _known(delegates, allowed: tuple[str, ...]) -> None:
    unknown = [d for d in delegates if d not in allowed]
    if unknown:
        raise UsageError("unknown {delegate} {value!r}: choose from {choices}", "delegate", value=unknown[0],
                         choices=", ".join(allowed))

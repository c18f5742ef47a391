"""On-device latency, filling the same BenchResult as host `bench`, with either of two tools.

`app` (default) runs the demo app's BenchmarkActivity, which measures inside a real app process and writes one JSON
file per run (keys: `contract.RESULT_KEYS`). `benchmark_model` runs TFLite's official native tool from
/data/local/tmp and parses its stdout; it reports min/max/avg/std of the timed runs (percentiles only where a build
prints them), so fields it does not print stay None rather than being guessed.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import fields
from pathlib import Path

from ..description import file_sha256
from ..errors import MobikitError, UsageError
from ..latency import BenchResult
from ..progress import Reporter
from ..runtime import stop_deferred
from . import contract
from .adb import HOST, Adb, AdbError, Device, check_timeout, select_device
from .deploy import LocalModel, deploy_to, load_model_folder, remote_sha256, start_activity

TOOLS = ("app", "benchmark_model")
REMOTE_TMP = "/data/local/tmp"
REMOTE_BENCHMARK_MODEL = f"{REMOTE_TMP}/benchmark_model"
DEFAULT_TIMEOUT = 300.0
POLL_SECONDS = 0.5

_DELEGATE_FLAGS = {  # benchmark_model flags per delegate; XNNPACK is off unless asked, so "cpu" is plain kernels
    "cpu": {"use_xnnpack": "false", "use_gpu": "false", "use_nnapi": "false"},
    "xnnpack": {"use_xnnpack": "true", "use_gpu": "false", "use_nnapi": "false"},
    "gpu": {"use_xnnpack": "false", "use_gpu": "true", "use_nnapi": "false"},
    "nnapi": {"use_xnnpack": "false", "use_gpu": "false", "use_nnapi": "true"},
}
_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_RESULT_FIELDS = tuple(f.name for f in fields(BenchResult))


def parse_benchmark_output(text: str) -> dict:
    """benchmark_model stdout → BenchResult fields (ms, MB), for the 2019 format, the 2020+ format and INFO: lines.

    The last `count=` line is the timed phase, the first one the warm-up (its `first=` is the first inference).
    Memory: the periodic-monitoring peak if printed, else the 2020 "Peak memory footprint" overall, else the
    current "Memory footprint delta" overall (growth since the tool started).
    """
    stat_lines, values = [], {}
    for raw in text.splitlines():
        line = re.sub(r"^(INFO|VERBOSE|WARNING|ERROR): ", "", raw.strip())
        if line.startswith("count="):
            stats = {key: float(value) for key, value in re.findall(rf"(\w+)=({_NUMBER})", line)}
            if "(all same)" in line or "min" not in stats:  # "count=N curr=X(all same)"
                same = stats.get("curr", 0.0)
                stats = {"count": stats["count"], "first": same, "min": same, "max": same, "avg": same, "std": 0.0,
                         **{k: v for k, v in stats.items() if k in ("p5", "median", "p95")}}
            stat_lines.append(stats)
            continue
        for label, pattern in (
                ("init_us", rf"\bInit: ({_NUMBER})"),
                ("first_us", rf"First inference: ({_NUMBER})"),
                ("avg_us", rf"(?:Inference \(avg\)|no stats): ({_NUMBER})"),
                ("init_ms", rf"Initialized session in ({_NUMBER}) ?ms"),
                ("peak_periodic", rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})"),
                ("peak_2020", rf"Peak memory footprint \(MB\): init={_NUMBER} overall=({_NUMBER})"),
                ("delta", rf"Memory footprint delta from the start of the tool \(MB\): init={_NUMBER} "
                          rf"overall=({_NUMBER})")):
            match = re.search(pattern, line)
            if match:
                values.setdefault(label, float(match.group(1)))
    timed = stat_lines[-1] if len(stat_lines) >= 2 else None
    if timed is None and "avg_us" not in values:
        raise ValueError("no inference timings in the benchmark_model output")
    us = 1e-3
    result = {
        "runs": int(timed["count"]) if timed else None,
        "init_ms": values["init_us"] * us if "init_us" in values else values.get("init_ms"),
        "first_ms": (values["first_us"] * us if "first_us" in values
                     else stat_lines[0]["first"] * us if stat_lines else None),
        "mean_ms": timed["avg"] * us if timed else values["avg_us"] * us,
        "min_ms": timed["min"] * us if timed else None,
        "max_ms": timed["max"] * us if timed else None,
        "std_ms": timed["std"] * us if timed else None,
        "p5_ms": timed["p5"] * us if timed and "p5" in timed else None,
        "median_ms": timed["median"] * us if timed and "median" in timed else None,
        "p95_ms": timed["p95"] * us if timed and "p95" in timed else None,
        "peak_rss_mb": values.get("peak_periodic", values.get("peak_2020", values.get("delta"))),
    }
    return result


def _failure_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"error|fail|unable|cannot", line, re.IGNORECASE)]
    return (errors or lines[-1:] or ["no output"])[0]  # the first error names the cause


def benchmark_model_args(graph: str, threads: int, delegate: str, warmup: int, runs: int) -> list[str]:
    flags = {"graph": graph, "num_threads": threads, **_DELEGATE_FLAGS[delegate], "warmup_runs": warmup,
             "num_runs": runs}
    return [REMOTE_BENCHMARK_MODEL, *(f"--{key}={value}" for key, value in flags.items())]


def _push_if_changed(adb: Adb, local: Path, remote: str) -> None:
    if remote_sha256(adb, [remote]).get(remote) != file_sha256(local):
        adb.push([local], remote, timeout=DEFAULT_TIMEOUT)


def _bench_benchmark_model(adb: Adb, device: Device, model: LocalModel, binary: Path, configs, warmup: int,
                           runs: int, timeout: float, reporter: Reporter) -> list[BenchResult]:
    _push_if_changed(adb, binary, REMOTE_BENCHMARK_MODEL)
    adb.shell("chmod", "755", REMOTE_BENCHMARK_MODEL)
    graph = f"{REMOTE_TMP}/mobikit-{model.sha256[contract.MODEL_FILE][:16]}.tflite"
    _push_if_changed(adb, model.folder / contract.MODEL_FILE, graph)
    results = []
    for threads, delegate in configs:
        reporter.info(f"benchmark_model: {threads} thread(s), {delegate} ...")
        run = adb.shell(*benchmark_model_args(graph, threads, delegate, warmup, runs), timeout=timeout, check=False)
        result = BenchResult(device.name, model.name, threads, delegate,
                             size_bytes=(model.folder / contract.MODEL_FILE).stat().st_size)
        try:
            parsed = parse_benchmark_output(run.stdout + "\n" + run.stderr) if run.exit_code == 0 else None
        except ValueError:
            parsed = None
        if parsed is None:
            result.error = f"benchmark_model failed (exit {run.exit_code}): {_failure_line(run.stdout + run.stderr)}"
        else:
            for key, value in parsed.items():
                setattr(result, key, value)
        results.append(result)
    return results


def _bench_app(adb: Adb, device: Device, model: LocalModel, configs, warmup: int, runs: int,
               timeout: float, reporter: Reporter) -> list[BenchResult]:
    deploy_to(adb, device, model, reporter, launch=False)
    adb.shell("mkdir", "-p", contract.RESULTS_DIR)
    # results an earlier run could not remove (cable pulled while it waited) go now; the app names them mobikit-*
    adb.shell("sh", "-c", f"rm -f {contract.RESULTS_DIR}/mobikit-*{contract.RESULT_SUFFIX}", check=False)
    results = []
    for threads, delegate in configs:
        reporter.info(f"app benchmark: {threads} thread(s), {delegate} ...")
        result_id = f"mobikit-{uuid.uuid4().hex[:12]}"
        path = f"{contract.RESULTS_DIR}/{result_id}{contract.RESULT_SUFFIX}"
        start_activity(adb, contract.BENCHMARK_ACTIVITY, {
            contract.EXTRA_MODEL: model.name, contract.EXTRA_DELEGATE: delegate, contract.EXTRA_THREADS: threads,
            contract.EXTRA_WARMUP_RUNS: warmup, contract.EXTRA_NUM_RUNS: runs, contract.EXTRA_RESULT_ID: result_id,
        }, flags=("-S",))
        try:
            report = _wait_for_result(adb, path, timeout)
        finally:  # also when cut or stopped: the app may still write the file, remove it (best effort)
            with stop_deferred():
                try:
                    adb.shell("rm", "-f", path, check=False, timeout=10)
                except AdbError:
                    pass
        result = BenchResult(device.name, model.name, threads, delegate)
        for key in _RESULT_FIELDS:
            if key not in ("device", "model", "threads", "delegate") and report.get(key) is not None:
                setattr(result, key, report[key])
        if report.get("error"):
            result.error = f"the app reports: {report['error']}"
        results.append(result)
    return results


def _wait_for_result(adb: Adb, path: str, timeout: float) -> dict:
    """Poll for the app's result file; the app writes it atomically, but a half-read file is simply retried."""
    deadline = time.monotonic() + timeout
    while True:
        read = adb.shell("cat", path, check=False)
        if read.exit_code == 0:
            try:
                report = json.loads(read.stdout)
                if isinstance(report, dict):
                    return report
            except ValueError:
                pass
        if time.monotonic() > deadline:
            raise MobikitError(f"the app wrote no benchmark result within {timeout:g} s ({path}): keep the phone "
                               "unlocked with the screen on, and check 'adb logcat -s "
                               f"{contract.LOGCAT_TAG}'")
        time.sleep(POLL_SECONDS)


def bench_device(model_dir: str | os.PathLike, device: str | None, tool: str = "app", threads: list[int] = (2,),
                 delegates: list[str] = ("xnnpack",), warmup: int = 5, runs: int = 50,
                 adb: str | os.PathLike | Adb | None = None, benchmark_binary: str | os.PathLike | None = None,
                 timeout: float = DEFAULT_TIMEOUT, reporter: Reporter | None = None) -> list[BenchResult]:
    """Benchmark a quantize output folder on a phone: one BenchResult per (threads, delegate), threads outermost.

    A configuration that fails on the device (e.g. no GPU delegate) gets its `error` set and the matrix goes on;
    when every configuration fails, that is an error. `device` is a serial or model substring (`host` is not
    handled here); `timeout` bounds each single run.
    """
    if device is not None and device.lower() == HOST:
        raise UsageError("bench_device measures on a phone; use mobikit.latency.bench_host on this host")
    if tool not in TOOLS:
        raise UsageError("unknown {tool} {value!r}: choose {choices}", "tool", value=tool, choices=" or ".join(TOOLS))
    unknown = [d for d in delegates if d not in contract.DELEGATES]
    if unknown:
        raise UsageError("unknown {delegate} {value!r}: choose from {choices}", "delegate", value=unknown[0],
                         choices=", ".join(contract.DELEGATES))
    if not threads or not delegates or min(threads) < 1 or runs < 1 or warmup < 0:
        raise UsageError("{threads} and {runs} must be >= 1 and {warmup} >= 0, with at least one thread count and "
                         "{delegate}", "threads", "runs", "warmup", "delegate")
    binary = None
    if tool == "benchmark_model":
        if benchmark_binary is None:
            raise UsageError("{tool} benchmark_model needs {benchmark_binary} PATH (TFLite's benchmark_model built "
                             "for the phone's ABI, see 'mobikit devices')", "tool", "benchmark_binary")
        binary = Path(benchmark_binary)
        if not binary.is_file():
            raise UsageError("{benchmark_binary} {path}: no such file", "benchmark_binary", path=str(binary))
    check_timeout(timeout)
    reporter = reporter or Reporter()
    model = load_model_folder(model_dir)
    client = adb if isinstance(adb, Adb) else Adb(adb)
    client, chosen = select_device(client, device)
    configs = [(t, d) for t in threads for d in delegates]
    if binary is not None:
        results = _bench_benchmark_model(client, chosen, model, binary, configs, warmup, runs, timeout, reporter)
    else:
        results = _bench_app(client, chosen, model, configs, warmup, runs, timeout, reporter)
    if all(r.error for r in results):
        raise MobikitError(f"no configuration ran on {chosen.name}: {results[0].error}")
    return results

"""On-device latency, filling the same BenchResult as host `bench`, with either of two tools.

`app` (default) runs the demo app's BenchmarkActivity, which measures inside a real app process with
benchmark_model's method (warm-up by runs and seconds, timed runs by count and `min_secs`, init without buffer
allocation, LiteRT's native inference time beside the wall time of each call) and logs one result line (keys:
`contract.RESULT_KEYS`); the host waits on that one line (app_log.py) and runs nothing on the phone meanwhile. A run
whose activity left the foreground is reported as interrupted, never as a clean number. `benchmark_model` runs
TFLite's official native tool from /data/local/tmp and parses its stdout; it reports min/max/avg/std of the timed
runs (percentiles only where a build prints them), so fields it does not print stay None rather than being guessed.
Both report how many nodes the delegate took of how many, from LiteRT's "Replacing N out of M node(s)" line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from ..description import file_sha256
from ..errors import MobikitError, UsageError, printable
from ..latency import BenchResult
from ..progress import Reporter
from ..runtime import stop_deferred
from . import contract
from .adb import HOST, Adb, AdbError, Device, check_timeout, select_device
from .app_log import new_request_id, wait_for_report
from .coverage import delegate_report
from .deploy import LocalModel, deploy_to, load_model_folder, remote_sha256, start_activity

TOOLS = ("app", "benchmark_model")
REMOTE_TMP = "/data/local/tmp"
REMOTE_BENCHMARK_MODEL = f"{REMOTE_TMP}/benchmark_model"
DEFAULT_TIMEOUT = 300.0
# benchmark_model's defaults for --warmup_min_secs, --min_secs and --max_secs
WARMUP_MIN_SECS, MIN_SECS, MAX_SECS = 0.5, 1.0, 150.0

_DELEGATE_FLAGS = {  # benchmark_model flags per delegate; XNNPACK is off unless asked, so "cpu" is plain kernels
    "cpu": {"use_xnnpack": "false", "use_gpu": "false", "use_nnapi": "false"},
    "xnnpack": {"use_xnnpack": "true", "use_gpu": "false", "use_nnapi": "false"},
    "gpu": {"use_xnnpack": "false", "use_gpu": "true", "use_nnapi": "false"},
    "nnapi": {"use_xnnpack": "false", "use_gpu": "false", "use_nnapi": "true"},
}
_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


@dataclass
class DeviceBenchResult(BenchResult):
    """A phone's result: BenchResult's fields plus what ran and how it was timed."""

    timing: str | None = None  # "native" (LiteRT's own inference time) or "wall" (the call, copies included)
    wall_mean_ms: float | None = None
    warmup_runs: int | None = None
    warmup_mean_ms: float | None = None  # benchmark_model's "Warmup (avg)"
    interrupted: bool | None = None  # the benchmark activity left the foreground: not a clean run
    delegate_used: str | None = None  # the delegate that took nodes; "cpu"/"xnnpack" when an accelerator took none
    delegate_nodes: int | None = None
    graph_nodes: int | None = None
    delegate_note: str | None = None

    def set_coverage(self, requested: str, log: str) -> None:
        report = delegate_report(requested, log)
        self.delegate_used, self.delegate_nodes = report["used"], report["nodes"]
        self.graph_nodes, self.delegate_note = report["total_nodes"], report["note"]


_RESULT_FIELDS = tuple(f.name for f in fields(DeviceBenchResult))


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
                ("warmup_us", rf"Warmup(?: \(avg\))?: ({_NUMBER})"),
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
        "warmup_mean_ms": values["warmup_us"] * us if "warmup_us" in values else None,
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
        result = DeviceBenchResult(device.name, model.name, threads, delegate,
                                   size_bytes=(model.folder / contract.MODEL_FILE).stat().st_size)
        result.set_coverage(delegate, run.stdout + "\n" + run.stderr)
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
               timeout: float, reporter: Reporter, seconds: tuple[float, float, float]) -> list[BenchResult]:
    deploy_to(adb, device, model, reporter, launch=False)
    warmup_min_secs, min_secs, max_secs = seconds
    # results an earlier run could not remove (cable pulled while it waited) go now; the app names them mobikit-*
    adb.shell("sh", "-c", f"rm -f {contract.RESULTS_DIR}/mobikit-*{contract.RESULT_SUFFIX}", check=False)
    results = []
    for threads, delegate in configs:
        reporter.info(f"app benchmark: {threads} thread(s), {delegate} ...")
        request = new_request_id()
        start_activity(adb, contract.BENCHMARK_ACTIVITY, {
            contract.EXTRA_MODEL: model.name, contract.EXTRA_SHA256: model.sha256[contract.MODEL_FILE],
            contract.EXTRA_DELEGATE: delegate, contract.EXTRA_THREADS: threads, contract.EXTRA_WARMUP_RUNS: warmup,
            contract.EXTRA_NUM_RUNS: runs, contract.EXTRA_WARMUP_MIN_SECS: f"{warmup_min_secs:g}",
            contract.EXTRA_MIN_SECS: f"{min_secs:g}", contract.EXTRA_MAX_SECS: f"{max_secs:g}",
            contract.EXTRA_RESULT_ID: request,
        }, flags=("-W", "-S"))
        try:
            report = wait_for_report(adb, contract.LOGCAT_PREFIX, request, timeout,
                                     f"the benchmark of {model.name} ({threads} thread(s), {delegate})")
        except BaseException:  # stopped (Ctrl-C, timeout, error): the phone must not go on timing for nobody
            _stop_app(adb)
            raise
        finally:  # also when cut or stopped: the app may still write its result file, remove it (best effort)
            with stop_deferred():
                try:
                    adb.shell("rm", "-f", f"{contract.RESULTS_DIR}/{request}{contract.RESULT_SUFFIX}", check=False,
                              timeout=10)
                except AdbError:
                    pass
        result = DeviceBenchResult(device.name, model.name, threads, delegate)
        for key in _RESULT_FIELDS:
            if key not in ("device", "model", "threads", "delegate") and report.get(key) is not None:
                setattr(result, key, report[key])
        if report.get("error"):
            result.error = f"the app reports: {printable(str(report['error']))}"
        results.append(result)
    return results


def _stop_app(adb: Adb) -> None:
    """Best effort: force-stop the app (a phone that is gone cannot be told, and that is not a second error)."""
    try:
        adb.shell("am", "force-stop", contract.PACKAGE, timeout=10, check=False)
    except MobikitError:
        pass


MAX_THREADS = 64  # 100000 threads took the phone (simulated) down; no phone has more than a few dozen cores


def bench_device(model_dir: str | os.PathLike, device: str | None, tool: str = "app", threads: list[int] = (2,),
                 delegates: list[str] = ("xnnpack",), warmup: int = 5, runs: int = 50,
                 adb: str | os.PathLike | Adb | None = None, benchmark_binary: str | os.PathLike | None = None,
                 timeout: float = DEFAULT_TIMEOUT, reporter: Reporter | None = None,
                 warmup_min_secs: float = WARMUP_MIN_SECS, min_secs: float = MIN_SECS,
                 max_secs: float = MAX_SECS) -> list[BenchResult]:
    """Benchmark a quantize output folder on a phone: one BenchResult per (threads, delegate), threads outermost.

    A configuration that fails on the device (e.g. no GPU delegate) gets its `error` set and the matrix goes on;
    when every configuration fails, that is an error. `device` is a serial or model substring (`host` is not
    handled here); `timeout` bounds each single run. With the app, warm-up lasts `warmup` runs and at least
    `warmup_min_secs`, timing `runs` runs and at least `min_secs`, never past `max_secs` (benchmark_model's rules).
    """
    if device is not None and device.lower() == HOST:
        raise UsageError("bench_device measures on a phone; use mobikit.latency.bench_host on this host")
    binary = check_request(tool, threads, delegates, warmup, runs, benchmark_binary, timeout,
                           (warmup_min_secs, min_secs, max_secs))
    reporter = reporter or Reporter()
    model = load_model_folder(model_dir)
    client = adb if isinstance(adb, Adb) else Adb(adb)
    client, chosen = select_device(client, device)
    configs = [(t, d) for t in threads for d in delegates]
    if binary is not None:
        results = _bench_benchmark_model(client, chosen, model, binary, configs, warmup, runs, timeout, reporter)
    else:
        results = _bench_app(client, chosen, model, configs, warmup, runs, timeout, reporter,
                             (warmup_min_secs, min_secs, max_secs))
    if all(r.error for r in results):
        raise MobikitError(f"no configuration ran on {chosen.name}: {results[0].error}")
    return results


def check_request(tool: str, threads, delegates, warmup: int, runs: int,
                  benchmark_binary: str | os.PathLike | None, timeout: float,
                  seconds: tuple[float, float, float]) -> Path | None:
    """The settings of a phone benchmark, checked before any phone is asked; returns the benchmark_model binary."""
    if tool not in TOOLS:
        raise UsageError("unknown {tool} {value!r}: choose {choices}", "tool", value=tool, choices=" or ".join(TOOLS))
    unknown = [d for d in delegates if d not in contract.DELEGATES]
    if unknown:
        raise UsageError("unknown {delegate} {value!r}: choose from {choices}", "delegate", value=unknown[0],
                         choices=", ".join(contract.DELEGATES))
    warmup_min_secs, min_secs, max_secs = seconds
    if not (warmup_min_secs >= 0 and min_secs >= 0 and max_secs > 0):
        raise UsageError("warm-up and minimum seconds must be >= 0 and the maximum > 0")
    if not threads or not delegates or min(threads) < 1 or runs < 1 or warmup < 0:
        raise UsageError("{threads} and {runs} must be >= 1 and {warmup} >= 0, with at least one thread count and "
                         "{delegate}", "threads", "runs", "warmup", "delegate")
    if max(threads) > MAX_THREADS:
        raise UsageError("{threads} takes at most %d threads (phones have 4 to 12 cores), got {value}" % MAX_THREADS,
                         "threads", value=max(threads))
    binary = None
    if tool == "benchmark_model":
        if benchmark_binary is None:
            raise UsageError("{tool} benchmark_model needs {benchmark_binary} PATH (TFLite's benchmark_model built "
                             "for the phone's ABI, see 'mobikit devices')", "tool", "benchmark_binary")
        binary = Path(benchmark_binary)
        if not binary.is_file():
            raise UsageError("{benchmark_binary} {path}: no such file", "benchmark_binary", path=str(binary))
    check_timeout(timeout)
    return binary

"""On-device latency, filling the same BenchResult as host `bench`, with either of two tools.

`app` (default) runs the demo app's BenchmarkActivity, which measures inside a real app process with
benchmark_model's method (warm-up by runs and seconds, timed runs by count and `min_secs`, init without buffer
allocation, LiteRT's native inference time beside the wall time of each call) and logs one result line (keys:
`contract.RESULT_KEYS`); the host waits on that one line (app_log.py) and runs nothing on the phone meanwhile. A run
whose activity left the foreground is reported as interrupted, never as a clean number. `benchmark_model` runs
TFLite's official native tool from /data/local/tmp and parses its stdout; it reports min/max/avg/std of the timed
runs (percentiles only where a build prints them), so fields it does not print stay None rather than being guessed;
it takes a quantize output folder or a bare .tflite. Both report how many nodes the delegate took of how many, from
LiteRT's "Replacing N out of M node(s)" line.

What a bench puts on the phone goes again whatever happens (success, failure, stop): benchmark_model and the graph
live in a folder of their own under /data/local/tmp for one run (with the app, that folder is empty: it marks the phone
as taken (phone_claim.py), so a second bench or a deploy refuses at once instead of force-stopping the first's
benchmark), and each app result
file is removed once read. If
the phone drops off, mobikit waits a few seconds for it before giving up, names what stayed, and the next bench from
this machine removes it. Rows measured before a run was cut or stopped are kept; the failure or stop line names the
configurations that were not measured.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from .. import runtime
from ..errors import MobikitError, UsageError, printable
from ..latency import BenchResult, model_file
from ..metadata import require_tflite
from ..progress import Reporter
from ..runtime import stop_deferred
from . import contract
from .adb import HOST, Adb, AdbError, Device, check_timeout, select_device, transfer_timeout
from .app_log import new_request_id, wait_for_report
from .benchmark_model import BENCHMARK_BINARY, GRAPH, benchmark_model_args, failure_line, parse_benchmark_output
from .coverage import delegate_report
from .deploy import RECONNECT_WAIT, deploy_to, given_apk, load_model_folder, refuse_replacing, start_activity
from .phone_claim import claim, remove_stale, run_folder

TOOLS = ("app", "benchmark_model")
DEFAULT_TIMEOUT = 300.0
# benchmark_model's defaults for --warmup_min_secs, --min_secs and --max_secs
WARMUP_MIN_SECS, MIN_SECS, MAX_SECS = 0.5, 1.0, 150.0

@dataclass
class DeviceBenchResult(BenchResult):
    """A phone's result: BenchResult's fields plus what ran and how it was timed."""

    timing: str | None = None  # "native" (LiteRT's own inference time) or "wall" (the call, copies included)
    wall_mean_ms: float | None = None
    warmup_runs: int | None = None
    warmup_mean_ms: float | None = None  # benchmark_model's "Warmup (avg)", the app's mean of its warm-up runs
    interrupted: bool | None = None  # the benchmark activity left the foreground: no timing statistics, see `error`
    # benchmark_model's "Memory footprint delta from the start of the tool" (2020: "Peak memory footprint"): how much
    # the process's peak RSS (getrusage ru_maxrss) grew from the tool's start to the end of the timed runs, i.e. the
    # model's footprint roughly; `peak_rss_mb` is the peak itself, which benchmark_model prints only when it
    # monitors memory periodically
    peak_rss_delta_mb: float | None = None
    delegate_used: str | None = None  # the delegate that took nodes; "cpu"/"xnnpack" when an accelerator took none
    delegate_nodes: int | None = None
    graph_nodes: int | None = None
    delegate_note: str | None = None

    def set_coverage(self, requested: str, log: str) -> None:
        report = delegate_report(requested, log)
        self.delegate_used, self.delegate_nodes = report["used"], report["nodes"]
        self.graph_nodes, self.delegate_note = report["total_nodes"], report["note"]


_RESULT_FIELDS = tuple(f.name for f in fields(DeviceBenchResult))


def configuration(threads: int, delegate: str) -> str:
    return f"{threads} thread{'s' if threads != 1 else ''} {delegate}"


# --- what a bench leaves on the phone: nothing --------------------------------------------------------------------

def _remove_leftovers(adb: Adb) -> None:
    """What earlier benches from this machine could not remove (the phone had dropped off): their run folders,
    when their process is gone, and app result files, which no later run reads."""
    remove_stale(adb)
    pattern = re.compile(rf"mobikit-[0-9a-f]{{12}}{re.escape(contract.RESULT_SUFFIX)}")
    listed = adb.shell("ls", contract.RESULTS_DIR, check=False)
    stale = [name for name in listed.stdout.split() if pattern.fullmatch(name)]
    if stale and listed.exit_code == 0:
        adb.shell("rm", "-rf", *(f"{contract.RESULTS_DIR}/{name}" for name in stale), check=False)


def _tidy(adb: Adb, commands: list[tuple[str, ...]]) -> bool:
    """Run clean-up commands to the end even when stopped; a phone that dropped off is waited for briefly. False
    when it stayed away, so they could not run."""
    with stop_deferred():
        try:
            for argv in commands:
                adb.shell(*argv, timeout=10)
            return True
        except AdbError:
            pass
        try:
            adb.run("wait-for-device", timeout=RECONNECT_WAIT)
            for argv in commands:
                adb.shell(*argv, timeout=10)
            return True
        except AdbError:
            return False


class _NativeRun:
    """benchmark_model: the binary and the graph pushed into a folder of this run's own, removed at the end."""

    def __init__(self, adb: Adb, device: Device, name: str, graph: Path, binary: Path, warmup: int, runs: int,
                 timeout: float, reporter: Reporter):
        self.adb, self.device, self.name, self.graph, self.binary = adb, device, name, graph, binary
        self.warmup, self.runs, self.timeout, self.reporter = warmup, runs, timeout, reporter
        self.folder = run_folder("bench")
        self.made = False

    def prepare(self) -> None:
        check_abi(self.binary, self.adb, self.device)
        _remove_leftovers(self.adb)
        self.made = True  # from here the folder may exist, whatever the answer says
        claim(self.adb, self.folder)
        for local, remote in ((self.binary, BENCHMARK_BINARY), (self.graph, GRAPH)):
            self.adb.push([local], f"{self.folder}/{remote}", timeout=transfer_timeout(local.stat().st_size))
        self.adb.shell("chmod", "755", f"{self.folder}/{BENCHMARK_BINARY}")

    def measure(self, threads: int, delegate: str) -> DeviceBenchResult:
        self.reporter.info(f"benchmark_model: {configuration(threads, delegate)} ...")
        run = self.adb.shell(*benchmark_model_args(self.folder, threads, delegate, self.warmup, self.runs),
                             timeout=self.timeout, check=False)
        if run.exit_code == 0 and not (run.stdout + run.stderr).strip():  # it always prints; adb says 0 when cut
            raise AdbError(f"no answer from benchmark_model on the device ({configuration(threads, delegate)}; "
                           "connection cut?)")
        result = DeviceBenchResult(self.device.name, self.name, threads, delegate,
                                   size_bytes=self.graph.stat().st_size)
        result.set_coverage(delegate, run.stdout + "\n" + run.stderr)
        try:
            parsed = parse_benchmark_output(run.stdout + "\n" + run.stderr) if run.exit_code == 0 else None
        except ValueError:
            parsed = None
        if parsed is None:
            result.error = f"benchmark_model failed (exit {run.exit_code}): {failure_line(run.stdout + run.stderr)}"
        else:
            for key, value in parsed.items():
                setattr(result, key, value)
        return result

    def tidy(self) -> list[str]:
        """What stays on the phone: the run folder, when the phone could not be reached to remove it."""
        if not self.made or _tidy(self.adb, [("rm", "-rf", self.folder)]):
            return []
        return [self.folder]


_TIMING_FIELDS = ("runs", "mean_ms", "median_ms", "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms", "std_ms",
                  "timing", "wall_mean_ms", "warmup_mean_ms")  # statistics of the timed runs: none for an interrupted run


class _AppRun:
    """The demo app's BenchmarkActivity, one request per configuration; each result file goes once read."""

    def __init__(self, adb: Adb, device: Device, model, warmup: int, runs: int, timeout: float,
                 reporter: Reporter, seconds: tuple[float, float, float]):
        self.adb, self.device, self.model, self.warmup, self.runs = adb, device, model, warmup, runs
        self.timeout, self.reporter, self.seconds = timeout, reporter, seconds
        self.pending: str | None = None  # the result file of the request in flight, or not yet removed
        self.folder, self.made = run_folder("bench"), False  # empty: it marks the phone as taken by this run

    def prepare(self) -> None:
        _remove_leftovers(self.adb)
        self.made = True
        claim(self.adb, self.folder)
        refuse_replacing(self.adb, self.model)
        deploy_to(self.adb, self.device, self.model, self.reporter, launch=False)

    def measure(self, threads: int, delegate: str) -> DeviceBenchResult:
        self.reporter.info(f"app benchmark: {configuration(threads, delegate)} ...")
        request = new_request_id()
        warmup_min_secs, min_secs, max_secs = self.seconds
        self.pending = f"{contract.RESULTS_DIR}/{request}{contract.RESULT_SUFFIX}"
        start_activity(self.adb, contract.BENCHMARK_ACTIVITY, {
            contract.EXTRA_MODEL: self.model.name, contract.EXTRA_SHA256: self.model.sha256[contract.MODEL_FILE],
            contract.EXTRA_DELEGATE: delegate, contract.EXTRA_THREADS: threads,
            contract.EXTRA_WARMUP_RUNS: self.warmup, contract.EXTRA_NUM_RUNS: self.runs,
            contract.EXTRA_WARMUP_MIN_SECS: f"{warmup_min_secs:g}", contract.EXTRA_MIN_SECS: f"{min_secs:g}",
            contract.EXTRA_MAX_SECS: f"{max_secs:g}", contract.EXTRA_RESULT_ID: request,
        }, flags=("-W", "-S"))
        report = wait_for_report(self.adb, contract.LOGCAT_PREFIX, request, self.timeout,
                                 f"the benchmark of {self.model.name} ({configuration(threads, delegate)})")
        try:  # the app wrote the file before its line; a drop now leaves it for tidy()
            self.adb.shell("rm", "-f", self.pending, timeout=10)
            self.pending = None
        except AdbError:
            pass
        return self._result(threads, delegate, report)

    def _result(self, threads: int, delegate: str, report: dict) -> DeviceBenchResult:
        result = DeviceBenchResult(self.device.name, self.model.name, threads, delegate)
        skipped = ("device", "model", "threads", "delegate", *(_TIMING_FIELDS if report.get("interrupted") else ()))
        for key in _RESULT_FIELDS:
            if key not in skipped and report.get(key) is not None:
                setattr(result, key, report[key])
        if report.get("error"):
            result.error = f"the app reports: {printable(str(report['error']))}"
        return result

    def tidy(self) -> list[str]:
        """A request in flight is force-stopped (the phone must not go on timing for nobody) and its result file
        removed, and the run's folder; returns them when the phone could not be reached."""
        commands = [("am", "force-stop", contract.PACKAGE), ("rm", "-f", self.pending)] if self.pending else []
        commands += [("rm", "-rf", self.folder)] if self.made else []
        if not commands or _tidy(self.adb, commands):
            return []
        return [path for path in (self.pending, self.made and self.folder) if path]


MAX_THREADS = 64  # 100000 threads took the phone (simulated) down; no phone has more than a few dozen cores


def bench_device(model_dir: str | os.PathLike, device: str | None, tool: str = "app", threads: list[int] = (2,),
                 delegates: list[str] = ("xnnpack",), warmup: int = 5, runs: int = 50,
                 adb: str | os.PathLike | Adb | None = None, benchmark_binary: str | os.PathLike | None = None,
                 timeout: float = DEFAULT_TIMEOUT, reporter: Reporter | None = None,
                 warmup_min_secs: float = WARMUP_MIN_SECS, min_secs: float = MIN_SECS,
                 max_secs: float = MAX_SECS,
                 on_result: Callable[[BenchResult], None] | None = None) -> list[BenchResult]:
    """Benchmark a quantize output folder (with benchmark_model also a bare .tflite) on a phone: one BenchResult per
    (threads, delegate), threads outermost, each also handed to `on_result` as soon as it is measured.

    A configuration that fails on the device (e.g. no GPU delegate) gets its `error` set and the matrix goes on;
    when every configuration fails, that is an error. A run cut off (phone gone) or stopped raises, its message (or,
    for a stop, `runtime.missing`) naming the configurations not measured. `device` is a serial or model substring
    (`host` is not handled here); `timeout` bounds each single run. With the app, warm-up lasts `warmup` runs and at
    least `warmup_min_secs`, timing `runs` runs and at least `min_secs`, never past `max_secs` (benchmark_model's
    rules).
    """
    if device is not None and device.lower() == HOST:
        raise UsageError("bench_device measures on a phone; use mobikit.latency.bench_host on this host")
    binary = check_request(tool, threads, delegates, warmup, runs, benchmark_binary, timeout,
                           (warmup_min_secs, min_secs, max_secs))
    reporter = reporter or Reporter()
    name, graph, model = local_model(Path(model_dir), binary)
    client = adb if isinstance(adb, Adb) else Adb(adb)
    client, chosen = select_device(client, device)
    if binary is not None:
        run = _NativeRun(client, chosen, name, graph, binary, warmup, runs, timeout, reporter)
    else:
        run = _AppRun(client, chosen, model, warmup, runs, timeout, reporter, (warmup_min_secs, min_secs, max_secs))
    results = _run_matrix(run, [(t, d) for t in threads for d in delegates], on_result)
    if all(r.error for r in results):
        raise MobikitError(f"no configuration ran on {chosen.name}: {results[0].error}")
    if any(r.interrupted for r in results):  # no clean number: the run failed, its rows are still shown
        raise MobikitError(f"the benchmark on {chosen.name} was interrupted (its activity left the foreground); "
                           "the rows measured are shown")
    return results


def local_model(path: Path, binary: Path | None):
    """(name, graph, LocalModel or None): an output folder, or for benchmark_model also a bare .tflite."""
    if binary is not None and not path.is_dir():  # benchmark_model runs any .tflite
        graph = model_file(path)
        with open(graph, "rb") as head:
            require_tflite(head.read(8), printable(str(graph)))
        return graph.stem, graph, None
    if path.is_file() and path.suffix == ".tflite":
        raise UsageError("{model} {path} is a bare .tflite: the app benchmarks a quantize output folder (it checks "
                         "the model against its model.json); pass the folder, or use {tool} benchmark_model",
                         "model", "tool", path=str(path))
    model = load_model_folder(path)
    return model.name, model.folder / contract.MODEL_FILE, model


def _run_matrix(run, configs: list[tuple[int, str]], on_result) -> list[DeviceBenchResult]:
    """Every configuration in turn; when cut off or stopped, the clean-up runs and the failure (or, for a stop,
    `runtime.missing`) names what was not measured and anything left on the phone."""
    results = []
    try:
        run.prepare()
        for threads, delegate in configs:
            runtime.raise_if_stopped()  # a phone's thread does not see the stop's signal: no run starts after it
            results.append(run.measure(threads, delegate))
            if on_result is not None:
                on_result(results[-1])
    except BaseException as exc:
        left = run.tidy()
        missing = ", ".join(configuration(*config) for config in configs[len(results):])
        what = (f"not measured: {missing}" + (f" ({len(results)} measured before)" if results else "")
                + (f"; left on the phone, for the next bench to remove: {', '.join(left)}" if left else ""))
        if isinstance(exc, MobikitError) and not isinstance(exc, UsageError):
            raise MobikitError(f"{exc}; {what}") from None
        if not isinstance(exc, Exception):
            runtime.missing.append(what)
        raise
    left = run.tidy()
    if left:
        runtime.notes.append(f"left on the phone, for the next bench to remove (it dropped off): {', '.join(left)}")
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
    check_timeout(timeout)
    if tool != "benchmark_model":
        if benchmark_binary is not None:
            raise UsageError("{benchmark_binary} is for {tool} benchmark_model; the app needs no binary",
                             "benchmark_binary", "tool")
        given_apk(None)  # $MOBIKIT_APK, if set, must be an APK: checked before adb
        return None
    if benchmark_binary is None:
        raise UsageError("{tool} benchmark_model needs {benchmark_binary} PATH (TFLite's benchmark_model built "
                         "for the phone's ABI, see 'mobikit devices')", "tool", "benchmark_binary")
    binary = Path(benchmark_binary)
    if not binary.is_file():
        raise UsageError("{benchmark_binary} {path}: no such file", "benchmark_binary", path=str(binary))
    elf_abi(binary)
    return binary


ELF_ABIS = {183: "arm64-v8a", 40: "armeabi-v7a", 62: "x86_64", 3: "x86"}  # ELF e_machine → Android ABI


def elf_abi(binary: Path) -> str:
    """The Android ABI a program is built for, from its ELF header (e_ident, then e_type and e_machine); a usage
    error for a file that is not an ELF executable for one of Android's ABIs."""
    import struct

    with open(binary, "rb") as file:
        header = file.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[5] not in (1, 2):  # EI_DATA: little or big endian
        raise UsageError("{benchmark_binary} {path} is not a program for a phone (an Android binary is an ELF "
                         "file)", "benchmark_binary", path=str(binary))
    kind, machine = struct.unpack("<HH" if header[5] == 1 else ">HH", header[16:20])
    if kind not in (2, 3):  # ET_EXEC, ET_DYN (Android's executables are position-independent: ET_DYN)
        raise UsageError("{benchmark_binary} {path} is an ELF file but not a program (ELF type {kind})",
                         "benchmark_binary", path=str(binary), kind=kind)
    if machine not in ELF_ABIS:
        raise UsageError("{benchmark_binary} {path} is a program for ELF machine {machine}, not for a phone's "
                         "ABI ({abis})", "benchmark_binary", path=str(binary), machine=machine,
                         abis=", ".join(ELF_ABIS.values()))
    return ELF_ABIS[machine]


def check_abi(binary: Path, adb: Adb, device: Device) -> None:
    """benchmark_model must be built for an ABI the phone runs: one of `ro.product.cpu.abilist` (Build.SUPPORTED_ABIS;
    an arm64 phone may run 32-bit arm too), else `ro.product.cpu.abi`; checked before anything is pushed."""
    built = elf_abi(binary)
    props = adb.getprops()
    abis = [abi for abi in (props.get("ro.product.cpu.abilist") or device.abi or "").split(",") if abi]
    if abis and built not in abis:
        raise MobikitError(f"the benchmark_model binary {printable(str(binary))} is built for {built}, but "
                           f"{device.name} runs {', '.join(abis)} (ro.product.cpu.abilist): pass one built for "
                           f"{abis[0]}")

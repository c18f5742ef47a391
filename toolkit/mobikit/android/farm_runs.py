"""`deploy` and `bench` on several phones at once (farm.py chooses them): a row per phone (and configuration), and
for bench the run's perf data file.

Each phone runs the single-phone function — `deploy.deploy_to`, `device_bench.bench_device` — in its own thread,
bound to its adb server and serial; a phone that fails or drops off is a row with its error (after the rows it
measured before) and the others finish. Bench writes `perf.json` into a new output folder once every phone is done,
or stopped, if anything was measured (atomically, under the output policy of `mobikit.outputs`): per phone and
configuration, the fields Qualcomm AI Hub's perf.yaml and benchmark_model report —
model digest, delegate and node coverage, threads, init/first/warm-up/median/p90 ms, peak memory where the phone
reports it, the error.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .. import runtime
from ..description import file_sha256
from ..errors import printable
from ..progress import Reporter
from .deploy import DeployResult, deploy_to, given_apk, load_model_folder
from .device_bench import (DEFAULT_TIMEOUT, MAX_SECS, MIN_SECS, WARMUP_MIN_SECS, bench_device, check_request,
                           configuration, local_model)
from .adb import check_timeout
from .phone_claim import claimed
from .adb import LISTING_TIMEOUT
from .farm import ALL, STOPPED, Target, adb_servers, choose, list_devices, run_on_phones

PERF_FILE = "perf.json"
CUT_OFF = "stopped; not measured: "  # the error of a phone's run that a stop cut off
PERF_KIND = "perf"


@dataclass
class PerfRow:
    """One phone and configuration of a farm benchmark (a phone whose whole run failed: one row, its error)."""

    server: str
    serial: str | None
    device: str
    soc: str | None = None
    android: str | None = None
    threads: int | None = None
    delegate: str | None = None
    delegate_used: str | None = None
    delegate_nodes: int | None = None
    graph_nodes: int | None = None
    runs: int | None = None
    warmup_runs: int | None = None
    warmup_mean_ms: float | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    mean_ms: float | None = None
    median_ms: float | None = None
    p90_ms: float | None = None
    peak_rss_mb: float | None = None  # None where the phone does not report it
    timing: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, target: Target, result=None, error: str | None = None) -> PerfRow:
        device = target.device
        row = cls(target.server, target.serial, target.name, device.soc if device else None,
                  device.android if device else None, error=error)
        for name in cls.__dataclass_fields__:
            if result is not None and name not in ("server", "serial", "device", "soc", "android"):
                setattr(row, name, getattr(result, name, None))
        return row


@dataclass
class FarmBench:
    """A benchmark over several phones: what ran, where, and the folder holding its perf.json."""

    model: str
    model_sha256: str
    tool: str
    settings: dict
    rows: list[PerfRow] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # phones (SERVER/SERIAL) whose run failed or was stopped
    output: str | None = None  # None when nothing was measured (or a stop kept perf.json from replacing one)

    def to_json(self) -> dict:
        return {"model": self.model, "model_sha256": self.model_sha256, "tool": self.tool, "settings": self.settings,
                "results": [asdict(row) for row in self.rows], "failed": self.failed, "output": self.output}

    @property
    def measured(self) -> list[PerfRow]:
        return [row for row in self.rows if row.error is None]

    @property
    def has_news(self) -> bool:
        """Rows measured, or a phone's own error: what a stopped run still has to show (beyond its stop line)."""
        return bool(self.measured) or any(row.error and not row.error.startswith(CUT_OFF) for row in self.rows)

    def not_measured(self, where: str) -> list[str]:
        """The configurations a phone (SERVER/SERIAL) has no clean row for, in the order they were asked."""
        done = {(row.threads, row.delegate) for row in self.measured if f"{row.server}/{row.serial}" == where}
        return [configuration(threads, delegate) for threads in self.settings["threads"]
                for delegate in self.settings["delegates"] if (threads, delegate) not in done]


def bench_farm(model_dir: str | os.PathLike, device: str = ALL, servers: Sequence[str] = (),
               output: str | os.PathLike | None = None,
               tool: str = "app", threads: Sequence[int] = (2,), delegates: Sequence[str] = ("xnnpack",),
               warmup: int = 5, runs: int = 50, adb: str | os.PathLike | None = None,
               benchmark_binary: str | os.PathLike | None = None, timeout: float = DEFAULT_TIMEOUT,
               min_secs: float = MIN_SECS, reporter: Reporter | None = None,
               on_result: Callable[[FarmBench], None] | None = None) -> FarmBench:
    """Benchmark a quantize output folder (with benchmark_model also a bare .tflite) on every phone `device` names
    (`all`, or a comma-separated list) of the adb `servers` (`HOST:PORT`; default $MOBIKIT_ADB_SERVERS, else this
    host's), the phones in parallel, and write `perf.json` into `output` (default: a new folder in ./mobikit-out)
    when anything was measured. Rows measured before a phone failed, or before a stop, are kept (a stop still writes
    them, into a new folder only); `on_result` gets the result before a stop is raised again."""
    from ..outputs import check_target

    reporter = reporter or Reporter()
    servers = adb_servers(servers, reporter)
    binary = check_request(tool, threads, delegates, warmup, runs, benchmark_binary, timeout,
                           (WARMUP_MIN_SECS, min_secs, MAX_SECS))
    name, graph, _ = local_model(Path(model_dir), binary)
    target = check_target(output or default_output(name), PERF_KIND, [Path(model_dir)])
    free = not os.path.lexists(target)  # if another run's perf data lands there meanwhile, it stays
    phones = choose(list_devices(servers, adb, reporter), device, reporter)
    dead = sum(not phone.serial for phone in phones)
    reporter.info(f"benchmarking {name} on {len(phones) - dead} phone(s) in parallel"
                  + (f" ({dead} adb server(s) unreachable)" if dead else "") + " ...")
    measured: dict[int, list] = {id(phone): [] for phone in phones}

    def bench_one(phone: Target, phone_reporter: Reporter):
        return bench_device(model_dir, phone.serial, tool, list(threads), list(delegates), warmup, runs,
                            adb=phone.adb, benchmark_binary=benchmark_binary, timeout=timeout,
                            reporter=phone_reporter, min_secs=min_secs, on_result=measured[id(phone)].append)

    result = FarmBench(name, file_sha256(graph), tool,
                       {"threads": list(threads), "delegates": list(delegates), "warmup": warmup, "runs": runs,
                        "min_seconds": min_secs, "servers": [server.name for server in servers]})
    configs = [configuration(t, d) for t in threads for d in delegates]
    finished: dict[int, tuple] = {}
    said = len(runtime.missing)
    try:
        outcomes = run_on_phones(phones, bench_one, reporter, finished)
    except KeyboardInterrupt:  # a stop: the rows measured before it are kept, and the errors of phones that failed
        _collect(result, [(phone, None, _stopped(phone, finished.get(id(phone)), measured[id(phone)], configs))
                          for phone in phones], measured)
        runtime.missing[said:] = [_not_measured(phones, measured, configs)]  # in place of each phone's own
        _finish(result, target, free, model_dir, on_result, reporter, stopped=True)
        raise
    _collect(result, outcomes, measured)
    _finish(result, target, free, model_dir, on_result, reporter)
    return result


def _collect(result: FarmBench, outcomes, measured: dict[int, list]) -> None:
    """Each phone's rows: what it measured (also before it failed), then its error, if any."""
    for phone, _, error in outcomes:
        result.rows += [PerfRow.of(phone, row, row.error) for row in measured.get(id(phone), [])]
        if error is not None:
            result.rows.append(PerfRow.of(phone, error=error))
            result.failed.append(phone.where)


def _stopped(phone: Target, ended: tuple | None, measured: list, configs: list[str]) -> str | None:
    """A phone's error when a stop came: its own if it had failed before (`ended`: its outcome, if its run ended),
    else the configurations it did not measure."""
    if phone.error is not None:
        return phone.error
    if ended is not None and ended[1] not in (None, STOPPED):
        return ended[1]
    if len(measured) < len(configs):
        return CUT_OFF + ", ".join(configs[len(measured):])
    return None


def _not_measured(phones: Sequence[Target], measured: dict[int, list], configs: list[str]) -> str:
    """The stop line's part: per phone, the configurations it did not measure."""
    parts = [f"{phone.name} ({phone.where}): " + ("all" if not measured[id(phone)] else
                                                  ", ".join(configs[len(measured[id(phone)]):]))
             for phone in phones if len(measured[id(phone)]) < len(configs)]
    return "not measured: " + "; ".join(parts) if parts else "every phone was measured"


def _finish(result: FarmBench, target: Path, free: bool, model_dir, on_result, reporter: Reporter,
            stopped: bool = False) -> None:
    """perf.json, when anything was measured. Only a run that succeeded replaces an earlier output at `target`; a
    failed or stopped run, or one whose free target was taken meanwhile (another bench with the same output, on other
    phones), writes beside it under a new name (`free_name`) and says so. `on_result` gets the result whatever
    happens to the file."""
    from ..outputs import free_name, new_folder

    try:
        if result.measured:
            if os.path.lexists(target) and (free or stopped or result.failed):
                taken, target = target, free_name(target)
                why = ("appeared while this bench ran (another run's?)" if free else
                       "holds an earlier output and this run " + ("was stopped" if stopped else "failed"))
                reporter.warn(f"{printable(str(taken))} {why}: writing {printable(str(target))} instead")
            with new_folder(target, PERF_KIND, [Path(model_dir)], keep_when_stopped=True) as staging:
                text = json.dumps({**result.to_json(), "output": str(target)}, indent=2) + "\n"
                (staging / PERF_FILE).write_text(text, "utf-8", "surrogateescape")  # the folder lands whole
            result.output = str(target)
    finally:
        if on_result is not None:
            on_result(result)


def default_output(model: str) -> Path:
    """./mobikit-out/<model>_perf_<UTC time>, a new folder per run (never an earlier run's: `….2` when taken)."""
    from ..outputs import free_name

    return free_name(Path("mobikit-out") / f"{model}_perf_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")


DEPLOY_STOPPED = "stopped before its deploy finished: run deploy again (it completes or undoes what this one began)"


@dataclass
class FarmDeployRow:
    server: str
    serial: str | None
    device: str
    result: DeployResult | None = None
    error: str | None = None

    @property
    def stopped(self) -> bool:
        return self.error == DEPLOY_STOPPED

    def to_json(self) -> dict:
        return {"server": self.server, "serial": self.serial, "device": self.device,
                "deploy": self.result.to_json() if self.result else None, "error": self.error}


def deploy_farm(output_dir: str | os.PathLike, device: str = ALL, servers: Sequence[str] = (),
                apk: str | os.PathLike | None = None, launch: bool = True, adb: str | os.PathLike | None = None,
                timeout: float = 30.0, reporter: Reporter | None = None,
                on_result: Callable[[list[FarmDeployRow]], None] | None = None) -> list[FarmDeployRow]:
    """`deploy` on every phone `device` names (`all`, or a comma-separated list) of the adb `servers` (as
    `bench_farm`), in parallel: a row per phone. The folder is loaded and checked once, before any phone is
    asked. A stop gives `on_result` the rows so far (each phone that ended before it as it ended, the others
    `DEPLOY_STOPPED`) and is raised again."""
    reporter = reporter or Reporter()
    servers = adb_servers(servers, reporter)
    check_timeout(timeout)
    model = load_model_folder(output_dir)
    given_apk(apk)
    phones = choose(list_devices(servers, adb, reporter, min(timeout, LISTING_TIMEOUT)), device, reporter)

    def deploy_one(phone: Target, phone_reporter: Reporter) -> DeployResult:
        bounded = phone.adb.within(timeout)
        with claimed(bounded, "deploy"):
            return deploy_to(bounded, phone.device, model, phone_reporter, apk, launch, timeout)

    finished: dict[int, tuple] = {}
    try:
        outcomes = run_on_phones(phones, deploy_one, reporter, finished)
    except KeyboardInterrupt:
        outcomes = [(phone, *finished.get(id(phone), (None, phone.error or STOPPED))) for phone in phones]
        if on_result:
            on_result(_deploy_rows(outcomes))
        raise
    return _deploy_rows(outcomes)


def _deploy_rows(outcomes) -> list[FarmDeployRow]:
    """A row per (phone, result, error); a run the stop cut off says how to finish it."""
    return [FarmDeployRow(phone.server, phone.serial, phone.name, result, DEPLOY_STOPPED if error == STOPPED else error)
            for phone, result, error in outcomes]

"""Generated device faults: deploy and bench against the simulated phone (tests/adb_sim), with the connection cut
(pulled or loose, before/during/after) at a drawn command, or the run stopped by a signal when a drawn command
reaches the phone. Invariants: exit 0, 1 or 128+N with one final line; no adb client left. deploy: the phone always
holds a complete model (under its name, or as a copy the next deploy moves there first); the retry finishes with
the new model alone. bench: stdout holds the rows measured, in order, and a failure or stop line names the ones
not measured; the deployed model is never touched; after the retry no result file and nothing in /data/local/tmp is
left. A seeded sample per run (the fault harness's seed); the whole space is small enough for the benchmark to
list."""

from __future__ import annotations

import json
import os
import random
import signal
from dataclasses import dataclass

import pytest

from adb_sim.device import CUT_MOMENTS, ShellDrop
from fault_harness import SEED_VARIABLE, run_seed
from mobikit.android import contract
from support import after_shell_command, run_and_signal, run_cli
from test_android_device import (ADB, FOLDERS, MODEL, _holds, _phone, _plug_back_in, _set_up, adb_env, apk,  # noqa: F401
                                 deploy, tiny_tflite, versions)

pytestmark = pytest.mark.skipif(ADB is None, reason="adb is not installed (Debian/Ubuntu: apt-get install adb)")

SEED = run_seed()
DEVICE_CASES = 8
PHONE_COMMANDS = {  # the words a deploy's commands start with (roles become the model's folders)
    "list the app": ("pm", "path"), "check a folder": ("test", "-d"), "make the staging folder": ("mkdir", "-p"),
    "checksums": ("sha256sum",), "read model.json": ("cat",), "set the live model aside": ("mv", FOLDERS["live"]),
    "move the upload in": ("mv", FOLDERS["upload"]), "remove the old model": ("rm", "-rf", FOLDERS["old"]),
}
BENCH_COMMANDS = {  # the words a bench's commands start with, and which of them (its second configuration's)
    "check the model": (("sha256sum",), 1), "start the second benchmark": (("am", "start", "-W", "-S"), 2),
    "wait for its line": (("logcat",), 2), "remove its result": (("rm", "-f", f"{contract.RESULTS_DIR}/*"), 2),
}
STOPS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "HUP": signal.SIGHUP}


@dataclass(frozen=True)
class DeviceCase:
    command: str
    fault: str  # "pulled" / "loose" cable at `when`, or a signal name sent when the command reaches the phone
    when: str = "after"
    verb: str = "deploy"

    @property
    def id(self) -> str:
        return f"{self.verb}:{self.command}/{self.fault}/{self.when}"


def device_space() -> list[DeviceCase]:
    cases = []
    for verb, commands in (("deploy", PHONE_COMMANDS), ("bench", BENCH_COMMANDS)):
        cases += [DeviceCase(c, f, w, verb) for c in commands for f in ("pulled", "loose") for w in CUT_MOMENTS]
        cases += [DeviceCase(c, s, verb=verb) for c in commands for s in STOPS]
    return cases


def chosen() -> list[DeviceCase]:
    wanted = os.environ.get("MOBIKIT_FAULT_DEVICE_CASES", "")
    space = device_space()
    if wanted:
        return [case for case in space if case.id in wanted.split(",")]
    return random.Random(SEED).sample(space, DEVICE_CASES)


CASES = chosen()


def _complete(held: dict[str, str]) -> bool:
    return any(version != "partial" for version in held.values())


DEPLOYS = [case for case in CASES if case.verb == "deploy"]
BENCHES = [case for case in CASES if case.verb == "bench"]


@pytest.mark.parametrize("case", DEPLOYS, ids=[case.id for case in DEPLOYS])
def test_a_device_fault_at_any_command_keeps_a_complete_model(adb_env, versions, apk, case):  # noqa: F811
    words = PHONE_COMMANDS[case.command]
    reproduce = f"reproduce: {SEED_VARIABLE}={SEED} python -m pytest tests/test_fault_device.py -k '{case.id}'"
    with _phone(adb_env) as phone:
        _set_up(phone, apk, versions["v1"])
        if case.fault in STOPS:
            result = run_and_signal(["deploy", str(versions["v2"]), "--apk", str(apk), "--json"],
                                    after_shell_command(phone, words), STOPS[case.fault], adb_env)
            expected = {0, 128 + STOPS[case.fault]}
        else:
            phone.faults.drop_shell = ShellDrop(words, case.when, 0.5 if case.fault == "loose" else None)
            result = deploy(adb_env, versions["v2"], "--apk", str(apk))
            expected = {0, 1}
        assert result.returncode in expected, (result.returncode, result.stderr, reproduce)
        assert "Traceback" not in result.stderr, (result.stderr, reproduce)
        if result.returncode:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            finals = [line for line in lines if line.startswith(("error:", "interrupted:", "terminated:", "hangup:"))]
            assert len(finals) == 1 and finals == lines[-1:], (result.stderr, reproduce)
        held = _holds(phone, versions)
        assert _complete(held), (held, result.stderr, reproduce)
        if result.returncode > 128:  # a stop: the model in place under its name, and the line true to which one
            assert held.get(MODEL) in ("v1", "v2"), (held, result.stderr, reproduce)
            assert ("unchanged" in result.stderr) == (held[MODEL] == "v1"), (held, result.stderr, reproduce)
        phone.faults.drop_shell = None
        if case.fault == "pulled":
            _plug_back_in(adb_env, phone)
        retry = deploy(adb_env, versions["v2"], "--apk", str(apk))
        assert retry.returncode == 0, (result.stderr, retry.stderr, reproduce)
        assert _holds(phone, versions) == {MODEL: "v2"}, reproduce


CONFIGURATIONS = ("1 thread cpu", "1 thread xnnpack")


@pytest.mark.parametrize("case", BENCHES, ids=[case.id for case in BENCHES])
def test_a_device_fault_mid_bench_keeps_the_rows_and_leaves_nothing(adb_env, versions, apk, case):  # noqa: F811
    words, nth = BENCH_COMMANDS[case.command]
    reproduce = f"reproduce: {SEED_VARIABLE}={SEED} python -m pytest tests/test_fault_device.py -k '{case.id}'"
    argv = ["bench", str(versions["v1"]), "--device", "pixel", "--warmup", "1", "--runs", "200", "--min-seconds", "0",
            "--threads", "1", "--delegate", "cpu,xnnpack", "--json"]
    with _phone(adb_env) as phone:
        _set_up(phone, apk, versions["v1"])
        if case.fault in STOPS:
            result = run_and_signal(argv, after_shell_command(phone, words, nth), STOPS[case.fault], adb_env)
            expected = {0, 128 + STOPS[case.fault]}
        else:
            phone.faults.drop_shell = ShellDrop(words, case.when, 0.5 if case.fault == "loose" else None, nth)
            result = run_cli(*argv, env=adb_env, timeout=180)
            expected = {0, 1}
        assert result.returncode in expected, (result.returncode, result.stderr, reproduce)
        assert "Traceback" not in result.stderr, (result.stderr, reproduce)
        rows = json.loads(result.stdout) if result.stdout.strip() else []
        assert [(row["threads"], row["delegate"]) for row in rows] == [(1, "cpu"), (1, "xnnpack")][:len(rows)], \
            (rows, reproduce)
        if result.returncode:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            finals = [line for line in lines if line.startswith(("error:", "interrupted:", "terminated:", "hangup:"))]
            assert len(finals) == 1 and finals == lines[-1:], (result.stderr, reproduce)
            if len(rows) < len(CONFIGURATIONS):
                assert f"not measured: {', '.join(CONFIGURATIONS[len(rows):])}" in finals[0], (finals, reproduce)
        else:
            assert len(rows) == len(CONFIGURATIONS), (rows, reproduce)
        assert _holds(phone, versions) == {MODEL: "v1"}, reproduce
        phone.faults.drop_shell = None
        if case.fault == "pulled":
            _plug_back_in(adb_env, phone)
        retry = run_cli(*argv, env=adb_env, timeout=180)
        assert retry.returncode == 0, (result.stderr, retry.stderr, reproduce)
        results = phone.host_path(contract.RESULTS_DIR)
        assert not results.is_dir() or os.listdir(results) == [], (os.listdir(results), reproduce)
        assert os.listdir(phone.host_path("/data/local/tmp")) == ["app.apk"], reproduce

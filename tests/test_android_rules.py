"""Android's rules that the device path depends on, as the simulator models them (tests/adb_sim: activities.py,
storage.py, logcat.py, delegates.py — each cites Android's documentation), and the device path held to them
through the real `mobikit` CLI and the real adb client (issue 22).

The simulated app's launch modes, `noHistory` and overridden callbacks are read from android_app's manifest and
Kotlin sources, so these tests fail for the app as it was before issue 22: a standard-mode MainActivity without
`onNewIntent` never received a second deploy, and the host polled `cat` while the phone timed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import threading
import time

import pytest

from adb_sim import SimDevice
from adb_sim.activities import CLEAR_TOP, SINGLE_TOP, ActivityDeclaration, ActivityManager, declarations
from adb_sim.device import DeviceFsError
from adb_sim.shell import run_argv
from adb_sim.storage import other_app_writes
from mobikit.android import contract
from support import assert_clean_failure, elf_program, run_cli
from test_android_device import (ADB, _phone, _write_model_folder, adb, adb_env, apk, deploy,  # noqa: F401
                                 model_dir, tiny_classifier, tiny_tflite)

pytestmark = pytest.mark.skipif(ADB is None, reason="adb is not installed (Debian/Ubuntu: apt-get install adb)")
MAIN = f"{contract.PACKAGE}/.MainActivity"


# --- the activity manager's rules, on declared activities --------------------------------------------------------

class Calls:
    """The lifecycle calls an app receives: (callback, activity, the intent's "n" extra)."""

    def __init__(self):
        self.log: list[tuple[str, str, object]] = []

    def _record(self, call: str, record=None, intent: dict | None = None) -> None:
        intent = intent or (record.intent if record is not None else {})
        self.log.append((call, record.name if record is not None else "", intent.get("extras", {}).get("n")))

    def created(self, record):
        self._record("created", record)

    def new_intent(self, record, intent):
        self._record("new_intent", record, intent)

    def paused(self, record):
        self._record("paused", record, {})

    def destroyed(self, record):
        self._record("destroyed", record, {})

    def process_started(self):
        self._record("process_started")

    def process_killed(self):
        self._record("process_killed")


def _manager(mode: str, overrides=("onNewIntent",), no_history: bool = False) -> tuple[ActivityManager, Calls]:
    calls = Calls()
    manager = ActivityManager("p", calls)
    manager.declared = {"A": ActivityDeclaration("A", mode, no_history, frozenset(overrides)),
                        "B": ActivityDeclaration("B")}
    return manager, calls


@pytest.mark.parametrize("mode,flags,outcome", [
    ("standard", set(), "dropped"),  # the task comes to the front, the new intent is lost
    ("standard", {SINGLE_TOP}, "new_intent"),
    ("singleTop", set(), "new_intent"),
    ("singleTask", set(), "new_intent"),
    ("singleInstance", set(), "new_intent"),
    ("standard", {CLEAR_TOP}, "created"),  # finished and created again with the intent
    ("singleTop", {CLEAR_TOP}, "new_intent"),
])
def test_am_start_on_a_running_task_follows_the_launch_mode(mode, flags, outcome):
    manager, calls = _manager(mode)
    assert manager.start("A", {"n": 1}, set(), stop_first=False).state == "COLD"
    second = manager.start("A", {"n": 2}, flags, stop_first=False)
    assert second.outcome == outcome
    told = [n for call, _, n in calls.log if call in ("created", "new_intent")]
    assert told == ([1] if outcome == "dropped" else [1, 2])


def test_single_task_clears_what_is_above_and_single_top_only_acts_on_top():
    manager, calls = _manager("singleTask")
    manager.start("A", {"n": 1}, set(), False)
    manager.start("B", {}, set(), False)
    assert manager.start("A", {"n": 2}, set(), False).outcome == "new_intent"
    assert [r.name for r in manager.task] == ["A"] and ("destroyed", "B", None) in calls.log
    top, _ = _manager("singleTop")
    top.start("A", {"n": 1}, set(), False)
    top.start("B", {}, set(), False)
    assert top.start("A", {"n": 2}, set(), False).outcome == "dropped"  # not on top, root of its task


def test_new_intent_reaches_only_an_app_that_overrides_it_and_a_launcher_start_stacks():
    manager, calls = _manager("singleTask", overrides=())
    manager.start("A", {"n": 1}, set(), False)
    assert manager.start("A", {"n": 2}, set(), False).outcome == "new_intent"
    assert [c for c in calls.log if c[0] == "new_intent"] == []  # Activity.onNewIntent does nothing by default
    launcher, _ = _manager("standard")
    launcher.start("A", {}, set(), False, action="android.intent.action.MAIN")
    assert launcher.start("A", {"n": 2}, set(), False).outcome == "created"  # another intent filter: stacked
    assert [r.name for r in launcher.task] == ["A", "A"]


def test_force_stop_and_leaving_the_foreground():
    manager, calls = _manager("standard", no_history=True)
    manager.start("A", {}, set(), False)
    assert manager.start("A", {}, set(), stop_first=True).state == "COLD"  # -S: a new process
    assert ("process_killed", "", None) in calls.log
    manager.leave_foreground()
    assert manager.task == [] and ("paused", "A", None) in calls.log  # noHistory: finished when it leaves


def test_the_simulated_app_is_declared_as_the_real_one():
    declared = declarations()
    assert declared["MainActivity"].launch_mode == "singleTask"
    assert "onNewIntent" in declared["MainActivity"].overrides
    assert declared["BenchmarkActivity"].no_history and "onPause" in declared["BenchmarkActivity"].overrides


# --- am start over adb: -W output, intent delivery, -S --------------------------------------------------------

def _installed(phone: SimDevice, apk_path) -> SimDevice:
    phone.host_path("/data/local/tmp/app.apk").write_bytes(apk_path.read_bytes())
    assert run_argv(phone, ["pm", "install", "/data/local/tmp/app.apk"])[0] == 0
    return phone


def _am_start(env, phone, *args) -> str:
    result = adb(env, "-s", phone.serial, "shell", "am", "start", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_am_start_wait_reports_and_delivers_to_the_running_screen(adb_env, apk):
    with _phone(adb_env) as phone:
        _installed(phone, apk)
        first = _am_start(adb_env, phone, "-W", "-n", MAIN)
        assert all(line in first for line in ("Status: ok", "LaunchState: COLD", f"Activity: {MAIN}", "TotalTime: ",
                                              "WaitTime: ", "Complete"))
        second = _am_start(adb_env, phone, "-W", "-n", MAIN, "--es", contract.EXTRA_MODEL, "other")
        assert "intent has been delivered to currently running top-most instance" in second
        assert phone.app.received == [None, "other"]  # before issue 22: [None], the deploy's intent dropped
        phone.press_home()  # in the background now
        _am_start(adb_env, phone, "-W", "-n", MAIN, "--es", contract.EXTRA_MODEL, "third")
        assert phone.app.received == [None, "other", "third"]
        restarted = _am_start(adb_env, phone, "-W", "-S", "-n", MAIN)
        assert "LaunchState: COLD" in restarted and phone.app.received[-1] is None


# --- deploy switches the running app (defects 1 and 2) -------------------------------------------------------

def test_deploy_twice_switches_the_model_the_running_app_reports(adb_env, tmp_path, tiny_tflite, apk):
    labels = [f"class {i}" for i in range(10)]
    first = _write_model_folder(tmp_path / "a" / "first", tiny_tflite, labels)
    second = _write_model_folder(tmp_path / "b" / "second", tiny_tflite + b"\0" * 64, labels)
    retrained = _write_model_folder(tmp_path / "c" / "first", tiny_tflite + b"\0" * 128, labels)
    with _phone(adb_env) as phone:
        for folder in (first, second, retrained):
            result = deploy(adb_env, folder, "--apk", str(apk))
            assert result.returncode == 0, result.stderr
            digest = hashlib.sha256((folder / "model.tflite").read_bytes()).hexdigest()
            reported = json.loads(result.stdout)["running"]
            assert (reported["model"], reported["sha256"]) == (folder.name, digest)
            assert (phone.app.running["model"], phone.app.running["sha256"]) == (folder.name, digest)
        # the same name again with new bytes (defect 2): the app reloaded it, it did not keep the old interpreter
        assert phone.app.running["sha256"] != hashlib.sha256((first / "model.tflite").read_bytes()).hexdigest()
        table = run_cli("deploy", str(retrained), "--apk", str(apk), env=adb_env, timeout=120)
        assert table.returncode == 0 and "the app runs first on xnnpack (" in table.stdout, table.stdout


def test_the_app_refuses_a_model_whose_digest_is_not_the_one_sent(adb_env, model_dir, apk):
    with _phone(adb_env) as phone:
        assert deploy(adb_env, model_dir, "--apk", str(apk)).returncode == 0
        running = dict(phone.app.running)
        _am_start(adb_env, phone, "-W", "-n", MAIN, "--es", contract.EXTRA_MODEL, model_dir.name,
                  "--es", contract.EXTRA_SHA256, "0" * 64, "--es", contract.EXTRA_RESULT_ID, "wrong")
        line = adb(adb_env, "-s", phone.serial, "shell", "logcat", "-d", "-m", "1", "-e",
                   shlex.quote('"result_id": "wrong"')).stdout
        report = json.loads(line.split(f"{contract.LOGCAT_MODEL_PREFIX} ", 1)[1])
        assert "is not the 000000000000… the deploy sent" in report["error"]
        assert phone.app.running == running  # it keeps what it ran


# --- storage: internal vs app-specific external, run-as (defect 6) --------------------------------------------

def test_internal_storage_is_private_and_run_as_reaches_it(adb_env, model_dir, apk):
    with _phone(adb_env) as phone:
        assert deploy(adb_env, model_dir, "--apk", str(apk)).returncode == 0
        denied = adb(adb_env, "-s", phone.serial, "shell", "ls", f"/data/data/{contract.PACKAGE}/files")
        assert denied.returncode != 0 and "Permission denied" in denied.stderr
        same = adb(adb_env, "-s", phone.serial, "shell", "ls", f"/data/user/0/{contract.PACKAGE}")
        assert same.returncode != 0 and "Permission denied" in same.stderr
        digest = adb(adb_env, "-s", phone.serial, "shell", "run-as", contract.PACKAGE, "sha256sum",
                     f"files/models/{model_dir.name}/model.tflite")
        assert digest.returncode == 0, digest.stderr
        assert digest.stdout.split()[0] == hashlib.sha256((model_dir / "model.tflite").read_bytes()).hexdigest()
        phone.apps[contract.PACKAGE].debuggable = False
        release = adb(adb_env, "-s", phone.serial, "shell", "run-as", contract.PACKAGE, "ls")
        assert release.returncode != 0 and "not debuggable" in release.stderr


def test_another_app_rewriting_the_deployed_folder_changes_nothing_the_app_runs(adb_env, tmp_path, tiny_tflite,
                                                                                 apk):
    labels = [f"class {i}" for i in range(10)]
    mine = _write_model_folder(tmp_path / "mine" / "m", tiny_tflite, labels)
    theirs = _write_model_folder(tmp_path / "theirs" / "m", tiny_tflite + b"\1" * 32, ["evil"] * 10)
    with _phone(adb_env, android="9", sdk=28) as phone:
        assert deploy(adb_env, mine, "--apk", str(apk)).returncode == 0
        digest = phone.app.running["sha256"]
        for name in contract.MODEL_FILES:  # Android 9: any app with WRITE_EXTERNAL_STORAGE may do this
            other_app_writes(phone, f"{contract.MODELS_DIR}/m/{name}", (theirs / name).read_bytes())
        _am_start(adb_env, phone, "-W", "-n", MAIN, "--es", contract.EXTRA_MODEL, "m", "--es", contract.EXTRA_SHA256,
                  digest, "--es", contract.EXTRA_RESULT_ID, "again")
        assert phone.app.running["sha256"] == digest
        internal = phone.read_file(f"/data/data/{contract.PACKAGE}/files/models/m/model.tflite")
        assert internal == (mine / "model.tflite").read_bytes()
        with pytest.raises(DeviceFsError):
            other_app_writes(phone, f"/data/data/{contract.PACKAGE}/files/models/m/model.tflite", b"x")
    with _phone(adb_env) as modern, pytest.raises(DeviceFsError):  # Android 14: scoped storage keeps them out
        other_app_writes(modern, f"{contract.MODELS_DIR}/m/model.tflite", b"x")


# --- delegate coverage from the log (defect 3) ------------------------------------------------------------------

@pytest.fixture(scope="module")
def static_model(tmp_path_factory):
    """A static batch-1 int8 classifier (what the GPU delegate accepts)."""
    return _write_model_folder(tmp_path_factory.mktemp("static") / "static_int8", tiny_classifier(batch_size=1),
                               [f"class {i}" for i in range(10)])


def _bench(env, folder, *extra):
    return run_cli("bench", str(folder), "--device", "pixel", "--warmup", "1", "--runs", "5", "--min-seconds", "0",
                   *extra, "--json", env=env, timeout=240)


def test_every_bench_result_says_how_many_nodes_the_delegate_took(adb_env, static_model, model_dir, apk):
    with _phone(adb_env, gpu=True) as phone:
        assert deploy(adb_env, static_model, "--apk", str(apk), "--no-launch").returncode == 0
        result = _bench(adb_env, static_model, "--delegate", "gpu,nnapi,xnnpack,cpu")
        assert result.returncode == 0, result.stderr
        gpu, nnapi, xnnpack, cpu = json.loads(result.stdout)
        assert gpu["delegate_used"] == "gpu" and 0 < gpu["delegate_nodes"] <= gpu["graph_nodes"]
        assert nnapi["delegate_used"] == "xnnpack" and "nnapi delegate took 0 of" in nnapi["delegate_note"]
        assert xnnpack["delegate_used"] == "xnnpack" and xnnpack["delegate_nodes"] == xnnpack["graph_nodes"]
        assert cpu["delegate_used"] == "cpu" and cpu["delegate_nodes"] is None
        assert all(row["timing"] == "native" and row["error"] is None for row in (gpu, nnapi, xnnpack, cpu))
        log = adb(adb_env, "-s", phone.serial, "shell", "logcat", "-d", "-s", "tflite").stdout
        assert "Replacing" in log and "(TfLiteGpuDelegateV2)" in log
        table = run_cli("bench", str(static_model), "--device", "pixel", "--runs", "3", "--min-seconds", "0",
                        "--delegate", "nnapi", env=adb_env, timeout=240)
        assert table.returncode == 0 and "nnapi→xnnpack" in table.stdout, table.stdout
        # the free-batch model: the GPU delegate refuses dynamic-sized tensors, said as such, never labelled gpu
        assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
        refused = _bench(adb_env, model_dir, "--delegate", "gpu")
        assert_clean_failure(refused, 1)
        assert "dynamic-sized tensors" in refused.stderr


def test_benchmark_model_results_carry_coverage_too(adb_env, static_model, tmp_path):
    binary = tmp_path / "benchmark_model"
    elf_program(binary)
    with _phone(adb_env, gpu=True):
        result = _bench(adb_env, static_model, "--tool", "benchmark_model", "--benchmark-binary", str(binary),
                        "--delegate", "gpu,nnapi")
        assert result.returncode == 0, result.stderr
        gpu, nnapi = json.loads(result.stdout)
        assert gpu["delegate_used"] == "gpu" and gpu["delegate_nodes"] > 0
        assert nnapi["delegate_used"] == "cpu" and "took 0 of" in nnapi["delegate_note"]


# --- the benchmark's method on the phone (defect 5) ---------------------------------------------------------------

def _when_benchmarking(phone: SimDevice, then, after: float = 0.5) -> threading.Thread:
    """Run `then()` once the benchmark activity is on screen and timing."""
    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            top = phone.activities.top() if phone.activities else None
            if top is not None and top.name == "BenchmarkActivity":
                time.sleep(after)
                then()
                return
            time.sleep(0.05)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_leaving_the_foreground_mid_benchmark_is_reported_not_measured(adb_env, model_dir, apk):
    with _phone(adb_env) as phone:
        assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
        _when_benchmarking(phone, phone.press_home)
        started = time.monotonic()
        result = run_cli("bench", str(model_dir), "--device", "pixel", "--runs", "5", "--min-seconds", "60",
                         "--json", env=adb_env, timeout=240)
        assert time.monotonic() - started < 45  # it stopped timing when it left, it did not run 60 s
        assert_clean_failure(result, 1)
        assert "interrupted: the benchmark activity left the foreground" in result.stderr


def test_the_host_runs_nothing_on_the_phone_while_it_times(adb_env, model_dir, apk):
    with _phone(adb_env) as phone:
        assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
        before = len(phone.commands)
        result = _bench(adb_env, model_dir, "--min-seconds", "2")
        assert result.returncode == 0, result.stderr
        during = phone.commands[before:]
        start = next(i for i, c in enumerate(during) if c.startswith("am start") and "BenchmarkActivity" in c)
        after_start = [c.split()[0] for c in during[start + 1:]]
        # one blocking wait, then the cleanup: the result file, then the run's folder (it marked the phone taken)
        assert after_start == ["logcat", "rm", "rm"], during[start:]
        assert during[-1].startswith("rm -rf /data/local/tmp/mobikit-bench-"), during[-1]
        assert "-W" in during[start].split() and "-S" in during[start].split()
        row = json.loads(result.stdout)[0]
        assert row["warmup_runs"] >= 1 and row["wall_mean_ms"] > 0 and row["timing"] == "native"


def test_a_phone_that_drops_off_ends_the_wait_at_once(adb_env, model_dir, apk):
    with _phone(adb_env) as phone:
        assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
        _when_benchmarking(phone, lambda: phone.pull_cable(phone._connections[-1]), after=1.0)
        started = time.monotonic()
        result = run_cli("bench", str(model_dir), "--device", "pixel", "--runs", "5", "--min-seconds", "60",
                         env=adb_env, timeout=240)
        assert time.monotonic() - started < 45
        assert_clean_failure(result, 1)
        phone.away = False


def test_a_stopped_bench_stops_the_phone_timing_too(adb_env, model_dir, apk):
    """Ctrl-C on the host while the phone times: the app is force-stopped, not left timing for nobody."""
    import signal
    import subprocess
    import sys

    with _phone(adb_env) as phone:
        assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
        bench = subprocess.Popen([sys.executable, "-m", "mobikit", "bench", str(model_dir), "--device", "pixel",
                                  "--runs", "3", "--min-seconds", "60"], env={**os.environ, **adb_env},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stopped = threading.Event()
        _when_benchmarking(phone, lambda: (bench.send_signal(signal.SIGINT), stopped.set()))
        _, stderr = bench.communicate(timeout=120)
        assert stopped.is_set() and bench.returncode == 130, stderr
        assert phone.activities.top() is None and not phone.activities.process_running
        assert not any(contract.LOGCAT_PREFIX in message for message in phone.logcat.messages())

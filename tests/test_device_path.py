"""The device path attacked from outside (issue 21): `mobikit deploy` and `mobikit bench --device` through the real
adb client and server against the simulated phone (tests/adb_sim), each case one an outsider found broken.

D a bare .tflite with benchmark_model; E rows measured before a drop or a stop are kept; F no result file left after
a drop; H deploy says what it knows of the app; I one outcome when a signal comes while the result is printed; J an
interrupted row carries no statistics; K benchmark_model's memory delta is not a peak; M bench never replaces a
model the user deployed; N exit codes; O benchmark_model's files leave the phone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from adb_sim.device import ShellDrop
from mobikit.android import contract
from support import after_shell_command, assert_one_error, elf_program, run_and_signal, run_cli
from test_android_device import (ADB, _bench, _phone, _plug_back_in, _write_model_folder, adb_env, apk,  # noqa: F401
                                 deploy, eventually, model_dir, phone, tiny_tflite)

pytestmark = pytest.mark.skipif(ADB is None, reason="adb is not installed (Debian/Ubuntu: apt-get install adb)")
TMP = "/data/local/tmp"
BENCHMARK = f"{contract.PACKAGE}/.BenchmarkActivity"
STATISTICS = ("runs", "mean_ms", "median_ms", "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms", "std_ms", "timing",
              "wall_mean_ms")


@pytest.fixture
def binary(tmp_path) -> Path:
    path = tmp_path / "benchmark_model"
    elf_program(path)
    return path


def _tree(phone, folder: str) -> dict[str, bytes]:
    """Every file under a device folder, with its bytes."""
    root = phone.host_path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} \
        if root.is_dir() else {}


def _results_left(phone) -> list[str]:
    folder = phone.host_path(contract.RESULTS_DIR)
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def _last_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.strip()][-1]


# --- D: a bare .tflite -------------------------------------------------------------------------------------------

def test_benchmark_model_takes_a_bare_tflite_and_the_app_says_what_it_needs(adb_env, phone, model_dir, binary,
                                                                          tmp_path):
    """A .tflite outside any output folder was refused with "MODEL … is not a folder", although benchmark_model
    runs any graph: now it runs, under the file's name; the app (which checks model.json) says what to pass."""
    bare = tmp_path / "mine.tflite"
    bare.write_bytes((model_dir / "model.tflite").read_bytes())
    result = _bench(adb_env, bare, "--tool", "benchmark_model", "--benchmark-binary", str(binary), "--threads", "1",
                    "--delegate", "cpu")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["model"], row["error"], row["runs"], row["size_bytes"]) == ("mine", None, 12, bare.stat().st_size)
    graph = phone.measured[-1]["received"]["graph"]
    assert graph.startswith(f"{TMP}/mobikit-bench-") and graph.endswith("/model.tflite")

    commands = len(phone.commands)
    app = _bench(adb_env, bare)
    assert "is a bare .tflite" in assert_one_error(app, 2) and "--tool benchmark_model" in app.stderr
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    assert "not a TFLite model" in assert_one_error(
        _bench(adb_env, junk, "--tool", "benchmark_model", "--benchmark-binary", str(binary)), 2)
    assert len(phone.commands) == commands  # refused before the phone was asked anything


# --- O: benchmark_model's files -----------------------------------------------------------------------------------

def test_benchmark_model_leaves_data_local_tmp_as_it_found_it(adb_env, phone, model_dir, binary):
    """benchmark_model and the graph used to stay in /data/local/tmp after every run, and a benchmark_model of the
    user's own there was overwritten. Success, failure and stop now leave the folder byte for byte as it was."""
    phone.host_path(f"{TMP}/benchmark_model").write_bytes(b"the user's own benchmark_model")
    phone.host_path(f"{TMP}/notes.txt").write_bytes(b"the user's notes")
    before = _tree(phone, TMP)
    argv = ["--tool", "benchmark_model", "--benchmark-binary", str(binary), "--threads", "1"]
    done = _bench(adb_env, model_dir, *argv, "--delegate", "cpu")
    assert done.returncode == 0, done.stderr
    assert _tree(phone, TMP) == before
    failed = _bench(adb_env, model_dir, *argv, "--delegate", "gpu")  # no GPU on the simulated phone
    assert "no configuration ran" in assert_one_error(failed, 1)
    assert _tree(phone, TMP) == before
    timing = after_shell_command(phone, (f"{TMP}/mobikit-bench-*/benchmark_model",))
    stopped = run_and_signal(["bench", str(model_dir), "--device", "pixel", *argv, "--delegate", "cpu", "--runs",
                              "5000", "--json"], timing, signal.SIGINT, adb_env)
    assert stopped.returncode == 130 and _last_line(stopped.stderr).startswith("interrupted: stopped"), \
        stopped.stderr
    assert _tree(phone, TMP) == before


def test_a_run_folder_the_phone_kept_goes_at_the_next_bench(adb_env, phone, model_dir, binary):
    """The phone drops off for good while benchmark_model runs: the line names the run's folder, which stays; the
    next bench from this machine removes it (its process is gone), and nothing else."""
    phone.host_path(f"{TMP}/benchmark_model").write_bytes(b"the user's own benchmark_model")
    phone.faults.drop_shell = ShellDrop((f"{TMP}/mobikit-bench-*/benchmark_model",), "before")
    argv = ["--tool", "benchmark_model", "--benchmark-binary", str(binary), "--threads", "1", "--delegate", "cpu"]
    cut = _bench(adb_env, model_dir, *argv)
    line = assert_one_error(cut, 1)
    assert "not measured: 1 thread cpu" in line and f"for the next bench to remove: {TMP}/mobikit-bench-" in line
    left = [name for name in os.listdir(phone.host_path(TMP)) if name.startswith("mobikit-bench-")]
    assert len(left) == 1 and left[0] in line
    _plug_back_in(adb_env, phone)
    again = _bench(adb_env, model_dir, *argv)
    assert again.returncode == 0, again.stderr
    assert sorted(os.listdir(phone.host_path(TMP))) == ["benchmark_model"]


# --- E, F: a drop or a stop in the middle of the matrix -------------------------------------------------------------

def _second_request() -> tuple[str, ...]:
    return ("am", "start", "-W", "-S", "-n", BENCHMARK)


def test_a_drop_mid_bench_keeps_the_measured_rows_and_leaves_no_result_file(adb_env, phone, model_dir, apk):
    """A loose cable at the second configuration lost the first one's row and left the app's result file on the
    phone. Now the measured row is printed, the line names the rows not measured, the app is stopped and its file
    removed once the phone is back."""
    assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
    phone.faults.drop_shell = ShellDrop(_second_request(), "after", back_after=0.5, nth=2)
    result = _bench(adb_env, model_dir, "--threads", "1", "--delegate", "cpu,xnnpack,nnapi")
    line = assert_one_error(result, 1)
    (row,) = json.loads(result.stdout)
    assert (row["threads"], row["delegate"], row["error"]) == (1, "cpu", None) and row["runs"] == 12
    assert "not measured: 1 thread xnnpack, 1 thread nnapi (1 measured before)" in line
    assert "left on the phone" not in line
    time.sleep(1.5)  # the time the app would have needed to finish and write its result, had it not been stopped
    assert _results_left(phone) == []
    assert not phone.activities.process_running


def test_a_pulled_cable_names_the_result_file_and_the_next_bench_removes_it(adb_env, phone, model_dir, apk):
    assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
    phone.faults.drop_shell = ShellDrop(("logcat",), "before")  # the app times on while the host cannot ask
    result = _bench(adb_env, model_dir, "--threads", "1", "--delegate", "cpu")
    line = assert_one_error(result, 1)
    assert "not measured: 1 thread cpu" in line and f"{contract.RESULTS_DIR}/mobikit-" in line
    _plug_back_in(adb_env, phone)
    assert eventually(lambda: _results_left(phone) != [], 30)  # the app finished and wrote it meanwhile
    (left,) = _results_left(phone)
    assert left in line
    again = _bench(adb_env, model_dir, "--threads", "1", "--delegate", "cpu")
    assert again.returncode == 0, again.stderr
    assert _results_left(phone) == []


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGHUP])
def test_a_stop_mid_bench_prints_the_measured_rows_and_names_the_rest(adb_env, phone, model_dir, apk, number):
    assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
    argv = ["bench", str(model_dir), "--device", "pixel", "--warmup", "2", "--runs", "5000", "--min-seconds", "0",
            "--threads", "1,2", "--delegate", "cpu", "--json"]
    result = run_and_signal(argv, after_shell_command(phone, _second_request(), nth=2), number, adb_env)
    assert result.returncode == 128 + number, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["threads"], row["delegate"], row["error"], row["runs"]) == (1, "cpu", None, 5000)
    line = _last_line(result.stderr)
    assert line.startswith(("interrupted: stopped", "hangup: stopped")) and "Traceback" not in result.stderr
    assert line.endswith("not measured: 2 threads cpu (1 measured before)"), line
    time.sleep(1.5)
    assert _results_left(phone) == [] and not phone.activities.process_running


# --- J: an interrupted row ----------------------------------------------------------------------------------------

def test_an_interrupted_row_carries_no_statistics(adb_env, phone, model_dir, apk):
    """Home pressed while the app times: the row said interrupted but carried mean, median, p95 … of the runs
    before, as if they were the benchmark asked for. Now it keeps what was measured whole (init, first inference,
    coverage) and no timing statistics; the error says how many runs there were."""
    assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0

    def press_home_while_timing():
        assert eventually(lambda: any(c.startswith("am start") and "BenchmarkActivity" in c for c in phone.commands),
                          60)
        time.sleep(3)  # past the 0.5 s warm-up, into the timed runs
        phone.press_home()

    threading.Thread(target=press_home_while_timing, daemon=True).start()
    result = run_cli("bench", str(model_dir), "--device", "pixel", "--warmup", "0", "--runs", "1000000",
                     "--min-seconds", "0", "--threads", "1", "--delegate", "cpu", "--json", env=adb_env, timeout=180)
    assert "no configuration ran" in assert_one_error(result, 1)
    (row,) = json.loads(result.stdout)
    assert row["interrupted"] is True and row["error"].startswith("the app reports: interrupted")
    timed = int(row["error"].split(" after ")[1].split()[0])
    assert timed > 0, row["error"]  # there were runs to make statistics of
    assert {key: row[key] for key in STATISTICS} == dict.fromkeys(STATISTICS)
    assert row["init_ms"] > 0 and row["first_ms"] > 0 and row["delegate_used"] == "cpu"


# --- K: benchmark_model's memory figure ---------------------------------------------------------------------------

def test_benchmark_model_memory_delta_is_labelled_as_one(adb_env, phone, model_dir, binary):
    result = _bench(adb_env, model_dir, "--tool", "benchmark_model", "--benchmark-binary", str(binary),
                    "--threads", "1", "--delegate", "cpu")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    printed = phone.measured[-1]["measured"]["overall_mb"]  # its "Memory footprint delta … overall=" figure
    assert (row["peak_rss_mb"], row["peak_rss_delta_mb"]) == (None, printed)


# --- M: a model the user deployed ---------------------------------------------------------------------------------

def test_bench_does_not_replace_a_deployed_model_of_the_same_name(adb_env, phone, model_dir, apk, tmp_path,
                                                                  tiny_tflite):
    """bench uploaded its folder over the model the user had deployed under the same name (labels and all)."""
    assert deploy(adb_env, model_dir, "--apk", str(apk)).returncode == 0
    deployed = _tree(phone, f"{contract.MODELS_DIR}/tiny_int8")
    other = _write_model_folder(tmp_path / "v2" / "tiny_int8", tiny_tflite + b"\0" * 4096,
                                [f"other {i}" for i in range(10)])
    refused = _bench(adb_env, other, "--threads", "1", "--delegate", "cpu")
    line = assert_one_error(refused, 1)
    assert "another model named tiny_int8" in line and "bench does not replace it" in line
    assert "mobikit deploy" in line and refused.stdout == ""
    assert _tree(phone, f"{contract.MODELS_DIR}/tiny_int8") == deployed
    assert os.listdir(phone.host_path(contract.MODELS_DIR)) == ["tiny_int8"]
    assert not [record for record in phone.measured if record["tool"] == "app"]
    same = _bench(adb_env, model_dir, "--threads", "1", "--delegate", "cpu")  # the deployed one itself: benched
    assert same.returncode == 0, same.stderr


# --- H: what deploy knows of the app --------------------------------------------------------------------------------

def test_deploy_without_a_local_apk_says_the_app_was_not_checked(adb_env, phone, model_dir, apk, tmp_path):
    """With no APK to compare, deploy kept the installed app and called it "current"."""
    assert json.loads(deploy(adb_env, model_dir, "--apk", str(apk)).stdout)["app"] == "installed"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    unchecked = run_cli("deploy", str(model_dir), "--json", env=adb_env, cwd=outside, timeout=120)
    assert unchecked.returncode == 0, unchecked.stderr
    assert json.loads(unchecked.stdout)["app"] == "unchecked"
    text = run_cli("deploy", str(model_dir), env=adb_env, cwd=outside, timeout=120)
    assert "app as installed (no local APK to compare it with)" in text.stdout
    compared = deploy(adb_env, model_dir, "--apk", str(apk))
    assert json.loads(compared.stdout)["app"] == "current"


# --- I: one outcome -------------------------------------------------------------------------------------------------

def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full: whoever writes to it blocks until the test reads."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        while True:
            os.write(write, b"\0" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(write, True)
    return read, write


def _writing_stdout(pid: int) -> bool:
    """The process is blocked in write(2) on its file descriptor 1 (x86-64: syscall 1, arm64: 64)."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] in ("1", "64") and fields[1] == "0x1"


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_a_signal_while_the_result_is_printed_reports_one_outcome(adb_env, phone, model_dir, apk, as_json):
    """A signal that came once deploy was printing its result printed the result and then "terminated: stopped"
    (exit 143). The run has succeeded once its result is being printed: exit 0, no stop line."""
    assert deploy(adb_env, model_dir, "--apk", str(apk)).returncode == 0
    read, write = _full_pipe()
    process = subprocess.Popen([sys.executable, "-m", "mobikit", "deploy", str(model_dir), "--apk", str(apk),
                                *(["--json"] if as_json else [])], env={**os.environ, **adb_env}, stdout=write,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    os.close(write)
    try:
        assert eventually(lambda: _writing_stdout(process.pid) or process.poll() is not None, 120)
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        output = b""
        while chunk := os.read(read, 65536):
            output += chunk
    finally:
        os.close(read)
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == 0, stderr
    assert "stopped" not in stderr and "Traceback" not in stderr
    shown = output.lstrip(b"\0").decode()
    if as_json:
        assert json.loads(shown)["model"] == "tiny_int8"
    else:
        assert shown.startswith("tiny_int8 → Pixel 7") and "the app runs tiny_int8" in shown


# --- N: exit codes ----------------------------------------------------------------------------------------------------

def _broken_adb_server() -> tuple[socket.socket, int]:
    """A port where something that is not an adb server answers: adb's own failure (it exits 1 or 255)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def answer():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(100)
            conn.sendall(b"garbage!")
            conn.close()

    threading.Thread(target=answer, daemon=True).start()
    return server, server.getsockname()[1]


def test_device_path_exit_codes(adb_env, model_dir, binary, apk, tmp_path):
    """Usage errors are 2 and found before adb is looked for (here: none at /no/such/adb, which would be exit 1);
    adb's own failure is 1 with adb's words, never adb's status."""
    labels = model_dir / "labels.txt"
    bench = ["bench", str(model_dir), "--device", "pixel", "--adb", "/no/such/adb"]
    usage = [
        (["deploy", str(model_dir), "--adb", "/no/such/adb"], {"MOBIKIT_APK": str(labels)},
         "$MOBIKIT_APK"),
        ([*bench], {"MOBIKIT_APK": str(tmp_path / "missing.apk")}, "no such file"),
        ([*bench, "--tool", "benchmark_model", "--benchmark-binary", str(labels)], {}, "is not a program"),
        ([*bench, "--benchmark-binary", str(binary)], {}, "--benchmark-binary is for --tool benchmark_model"),
    ]
    for argv, env, says in usage:
        line = assert_one_error(run_cli(*argv, env={**adb_env, **env}), 2)
        assert says in line, (argv, line)
    server, port = _broken_adb_server()
    try:
        broken = {**adb_env, "ANDROID_ADB_SERVER_PORT": str(port)}
        for argv in (["devices"], ["deploy", str(model_dir), "--apk", str(apk)],
                     ["bench", str(model_dir), "--device", "pixel"]):
            line = assert_one_error(run_cli(*argv, env=broken, timeout=60), 1)
            assert "protocol fault" in line, (argv, line)
    finally:
        server.close()


# --- P: --timeout bounds every adb call of deploy -----------------------------------------------------------------

def test_the_apps_first_start_is_bounded_by_deploys_timeout(adb_env, model_dir, apk):
    """The first deploy starts the app once (`am start -W`, so that it makes its files folder): that call waited
    adb's own 60 s whatever `--timeout` said. It is bounded by `--timeout`, as every adb call of deploy is."""
    with _phone(adb_env, app_start_delay=20) as slow:
        result = run_cli("deploy", str(model_dir), "--apk", str(apk), "--timeout", "6", env=adb_env, timeout=120)
        line = assert_one_error(result, 1)
        assert line == (f"error: {contract.PACKAGE}/.MainActivity did not start within 6 s: keep the phone unlocked "
                        "with the screen on, or allow more time (deploy --timeout)")
        assert [c for c in slow.commands if c.startswith("am start")] == \
            [f"am start -W -n {contract.PACKAGE}/.MainActivity"]


# --- Q: a benchmark_model binary for the phone's ABI --------------------------------------------------------------

def test_benchmark_binary_must_be_an_elf_program_for_an_abi_the_phone_runs(adb_env, phone, model_dir, tmp_path):
    """`--benchmark-binary` took any file starting with `\\x7fELF` and pushed it, whatever it was built for. Its ELF
    header is read now: a file that is no program is a usage error before any phone is asked; a program for another
    ABI than the phone's `ro.product.cpu.abilist` is that phone's error, before anything is pushed to it."""
    script = tmp_path / "benchmark_model.sh"
    script.write_text("#!/system/bin/sh\n")
    for path, says in ((script, "is not a program for a phone (an Android binary is an ELF file)"),
                       (elf_program(tmp_path / "benchmark_model.o", kind=1), "is an ELF file but not a program")):
        line = assert_one_error(_bench(adb_env, model_dir, "--tool", "benchmark_model", "--benchmark-binary",
                                       str(path)), 2)
        assert line == f"error: --benchmark-binary {path} {says}" + (" (ELF type 1)" if path.suffix == ".o" else "")
    assert phone.commands == []  # refused before the phone was asked anything

    x86_64 = elf_program(tmp_path / "benchmark_model_x86_64", "x86_64")
    line = assert_one_error(_bench(adb_env, model_dir, "--tool", "benchmark_model", "--benchmark-binary",
                                   str(x86_64)), 1)
    assert line.startswith(f"error: the benchmark_model binary {x86_64} is built for x86_64, but Pixel 7 runs "
                           "arm64-v8a (ro.product.cpu.abilist): pass one built for arm64-v8a; not measured: "), line
    assert not [c for c in phone.commands if "mobikit-bench-" in c] and _tree(phone, TMP) == {}

    phone.props["ro.product.cpu.abilist"] = "arm64-v8a,armeabi-v7a"  # a phone that runs 32-bit arm code too
    arm = elf_program(tmp_path / "benchmark_model_arm", "armeabi-v7a")
    result = _bench(adb_env, model_dir, "--tool", "benchmark_model", "--benchmark-binary", str(arm), "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert [row["error"] for row in json.loads(result.stdout)] == [None]

"""`mobikit sweep --jobs N` and `--ray ADDRESS` on a real 1×2 grid (untrained, tiny): the same cells — model digests
and accuracy figures — as one process gives, a stop that ends every worker and writes nothing half, and a Ray worker
killed mid-cell on a two-node cluster started on 127.0.0.1 by the test."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mobikit.outputs import check_target
from mobikit.progress import Reporter
from mobikit.sweeping import SweepRequest, sweep

from support import assert_one_error, embedded_images, run_cli

PHOTOS = embedded_images()
GRID = ("--arch", "v1", "--alpha", "0.25", "--resolution", "96,112", "--weights", "none", "--calib", str(PHOTOS),
        "--calib-samples", "4", "--eval-samples", "4", "--no-bias-correction")
# what a cell is, wherever it ran (timings differ)
SAME = ("name", "status", "mult_adds", "params", "eval_n", "labelled", "float_top1", "int8_top1", "float_top5",
        "int8_top5", "agreement", "float_size_bytes", "int8_size_bytes", "int8_sha256", "reason")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: the grid swept cell after cell in this process."""
    request = SweepRequest(tmp_path_factory.mktemp("sweep") / "out", "v1", [0.25], [96, 112], None, PHOTOS,
                           calib_samples=4, eval_samples=4, bias_correction=False)
    return [{key: getattr(cell, key) for key in SAME} for cell in sweep(request, Reporter()).cells]


def swept_cells(output: Path, stdout: str) -> list[dict]:
    """The cells of a `--json` run, each checked against the model file it stored."""
    cells = json.loads(stdout)["cells"]
    for cell in cells:
        model = output / "cells" / cell["name"] / "model" / "model.tflite"
        assert hashlib.sha256(model.read_bytes()).hexdigest() == cell["int8_sha256"]
    return [{key: cell[key] for key in SAME} for cell in cells]


def test_two_local_workers_give_the_same_cells(one_process, tmp_path):
    output = tmp_path / "out"
    result = run_cli("sweep", *GRID, "--jobs", "2", "--output", str(output), "--json")
    assert result.returncode == 0, result.stderr
    assert "in 2 local worker processes" in result.stderr
    cells = swept_cells(output, result.stdout)
    assert [cell["status"] for cell in cells] == ["done", "done"]
    assert cells == one_process
    # the folder's marker recorded only finished cells: a rerun accepts the folder and reuses both
    rerun = run_cli("sweep", *GRID, "--jobs", "2", "--output", str(output), "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert [cell["reused"] for cell in json.loads(rerun.stdout)["cells"]] == [True, True]


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return {int(child) for child in handle.read().split()}


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_a_stop_ends_every_worker_and_writes_no_cell(tmp_path, how):
    output = tmp_path / "out"
    # its own session, as a terminal's foreground job: Ctrl-C is SIGINT to the whole process group
    process = subprocess.Popen([sys.executable, "-m", "mobikit", "sweep", *GRID, "--jobs", "2", "--output",
                                str(output)], stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(process.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)  # spawn's resource tracker and two workers
        assert len(workers) >= 3, workers
        time.sleep(3)  # into the cells: the workers import TensorFlow and build
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:  # a SIGKILLed driver cannot stop its workers: they must see it gone and end by themselves
            process.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGTERM)
        stderr = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == {"ctrl-c": 130, "sigterm": 143, "sigkill": -signal.SIGKILL}[how], stderr
    assert "Traceback" not in stderr
    if how != "sigkill":
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("interrupted: stopped" if how == "ctrl-c" else "terminated: stopped"), stderr
        assert "written complete" not in last  # no cell finished: the claimed folder is not an output written
    # spawn's resource tracker ends when it reads the end of its pipe, which the driver and every worker hold
    deadline = time.monotonic() + 15
    while [pid for pid in workers if _running(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if _running(pid)]
    assert not list((output / "cells").iterdir())  # no cell, and no scratch folder of one
    check_target(output, "sweep")  # the folder is as its marker recorded it: a rerun resumes it


# ------------------------------------------------------------------------------------------- a two-node Ray cluster


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A head and a worker node on 127.0.0.1, one CPU each, each in its own temporary folder (short: Ray's socket
    paths must fit 107 bytes) and its own process group, yielded as (address, folder, {node: process group}); every
    process of both killed however the tests end (by group: `ray stop` would stop every cluster on the machine).
    Shared by this module's Ray tests; the one that stops the head node runs last."""
    ray = str(Path(sys.executable).with_name("ray"))
    port, root = _free_port(), tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    groups = {}

    def start(node, *args):
        started = subprocess.Popen([ray, "start", "--num-cpus", "1", "--disable-usage-stats", "--temp-dir",
                                    str(root / node), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env, start_new_session=True)
        groups[node] = started.pid  # a session of its own: every process the node starts is in this group
        output = started.communicate(timeout=180)[0]
        assert started.returncode == 0, output

    try:
        start("head", "--head", "--port", str(port), "--include-dashboard", "false")
        start("worker", "--address", f"127.0.0.1:{port}")
        yield f"127.0.0.1:{port}", root, groups
    finally:
        for group in groups.values():
            _kill_group(group)
        for pid in _named(root):  # Ray's worker processes, each in a process group of its own
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _named(root: Path) -> list[int]:
    """The processes whose command line names `root`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(root).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _ray_task_workers(root: Path) -> list[int]:
    """Ray worker processes running a sweep cell, children of this cluster's raylets."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            raylet = (Path("/proc") / parent / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError):
            continue
        if title.startswith("ray::_in_worker") and str(root) in raylet:
            found.append(int(entry.name))
    return found


def test_ray_cluster_sweep_survives_a_killed_worker(one_process, ray_cluster, tmp_path):
    address, root, _groups = ray_cluster
    output = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "mobikit", "sweep", *GRID, "--ray", address, "--output",
                                str(output), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (busy := _ray_task_workers(root)) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert busy, "no Ray worker ran a cell"
        time.sleep(2)  # mid-cell: importing TensorFlow, building, converting
        os.kill(busy[0], signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=420)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "as Ray tasks on" in stderr and "Traceback" not in stderr
    # Ray's own lines (its coloured "(raylet) A worker died" notes, its C++ client's log) are not mobikit's to print
    assert "(raylet)" not in stderr and "\x1b" not in stderr
    cells = swept_cells(output, stdout)
    assert [cell["status"] for cell in cells] == ["done", "done"]  # the killed cell ran again (Ray's max_retries)
    assert cells == one_process
    assert not [path for path in output.rglob("*") if path.name.startswith(".mobikit-tmp-")]


@pytest.mark.parametrize("host", ["127.0.0.1", "10.255.255.1"])  # refused; nothing answers (no route, or dropped)
def test_ray_without_a_cluster_is_one_error_in_seconds(tmp_path, host):
    port = _free_port()  # nothing listens there: Ray's own client would retry it for minutes
    result = run_cli("sweep", *GRID, "--ray", f"{host}:{port}", "--output", str(tmp_path / "out"), timeout=120)
    assert "cannot reach the Ray cluster" in assert_one_error(result, 1)
    assert not (tmp_path / "out").exists()  # the cluster is joined before the sweep folder is made


@pytest.mark.parametrize("args, message", [(("--ray", ""), "or auto, got ''"),
                                           (("--jobs", "1", "--ray", "auto"), "give one of them")])
def test_ray_usage_errors(tmp_path, args, message):
    result = run_cli("sweep", *GRID, *args, "--output", str(tmp_path / "out"))
    assert message in assert_one_error(result, 2)
    assert not (tmp_path / "out").exists()


def test_ray_not_installed_is_one_usage_error(tmp_path):
    # the package hidden as an interpreter without it sees it (a None entry in sys.modules: find_spec finds nothing)
    code = ("import sys; sys.modules['ray'] = None; from mobikit.__main__ import run; sys.argv[0] = 'mobikit'; "
            "run()")
    result = subprocess.run([sys.executable, "-c", code, "sweep", *GRID, "--ray", "auto", "--output",
                             str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert "pip install 'mobikit[ray]'" in assert_one_error(result, 2)
    assert not (tmp_path / "out").exists()


def test_ray_head_node_lost_mid_sweep_is_one_error(ray_cluster, tmp_path):
    """Last of the module: it stops the shared cluster's head node, as `ray stop --force` there does."""
    address, root, groups = ray_cluster
    output = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "mobikit", "sweep", *GRID, "--ray", address, "--output",
                                str(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not _ray_task_workers(root) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ray_task_workers(root), "no Ray worker ran a cell"
        _kill_group(groups["head"])
        stdout, stderr = process.communicate(timeout=180)  # Ray alone would end the process after 60 s, wordless
    finally:
        if process.poll() is None:
            process.kill()
    error = assert_one_error(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), 1)
    assert f"the Ray cluster at {address} went away" in error, stderr
    assert "(raylet)" not in stderr and "\x1b" not in stderr
    check_target(output, "sweep")  # the folder is as its marker recorded it: a rerun resumes it

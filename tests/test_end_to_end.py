"""The main flows end to end, exact: a real `mobikit quantize` output and a real `mobikit train --quantize` output,
deployed by the real CLI through the real adb client and server to the simulated phone (tests/adb_sim) and benched
there with both tools. Every figure the host reports must equal what the phone side measured (the simulator records
it in `SimDevice.measured`), the app and benchmark_model must have received the thread count and delegate asked
for, and the model on the phone, pulled back with `adb pull`, must be the output folder's byte for byte.

The simulated app's side is the Kotlin app's own core (tests/adb_sim/app_core.py): its statistics, result JSON and
random input are computed by android_app's Kotlin, only inference runs on the host's LiteRT. The simulator records
the native time of every inference core asked for, so the app's figures are held against the host's rule
(`mobikit.stats.summarize`) on the same runs: a drift between the two fails, which a variant of the app with another
p90 rule shows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from adb_sim import SimDevice
from adb_sim.storage import internal_dir
from android_build import CORE, CORE_TESTS, find_toolchain, kotlinc, require_core_build
from mobikit.android import contract
from mobikit.stats import summarize
from support import elf_program, embedded_images, run_cli

ADB = shutil.which("adb")
pytestmark = pytest.mark.skipif(ADB is None, reason="adb is not installed (Debian/Ubuntu: apt-get install adb)")
THREADS, DELEGATES, WARMUP, RUNS = (1, 3), ("cpu", "xnnpack"), 2, 9
FIGURES = ("runs", "init_ms", "first_ms", "mean_ms", "median_ms", "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms",
           "std_ms", "size_bytes", "peak_rss_mb")


def _adb(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([ADB, *args], env={**os.environ, **env}, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def adb_env(tmp_path_factory):
    """A private adb server (own port and HOME), killed at the end; the simulated app's Kotlin core compiled first."""
    require_core_build()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"ANDROID_ADB_SERVER_PORT": str(port), "HOME": str(tmp_path_factory.mktemp("adb-home")),
           "ANDROID_SERIAL": ""}
    _adb(env, "start-server")
    yield env
    _adb(env, "kill-server")


@pytest.fixture
def phone(adb_env):
    with _connected(adb_env, SimDevice()) as device:
        yield device


@contextlib.contextmanager
def _connected(adb_env, device: SimDevice):
    device.start()
    assert b"connected to" in _adb(adb_env, "connect", device.serial).stdout
    deadline = time.monotonic() + 30
    while f"{device.serial}\tdevice".encode() not in _adb(adb_env, "devices").stdout:
        assert time.monotonic() < deadline, "the simulated phone never came online"
        time.sleep(0.2)
    try:
        yield device
    finally:
        _adb(adb_env, "disconnect", device.serial)
        device.stop()
        shutil.rmtree(device.root, ignore_errors=True)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory) -> Path:
    """`mobikit quantize` as a user runs it (untrained α0.25@96 to stay fast, the package's photos)."""
    output = tmp_path_factory.mktemp("e2e") / "quantized_int8"
    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "96", "--weights", "none", "--calib-samples", "8",
                     "--no-bias-correction", "--output", str(output))
    assert result.returncode == 0, result.stderr
    return output


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """`mobikit train --quantize` on two class folders of the package's photos (1 epoch: the flow, not accuracy)."""
    import cv2

    data = tmp_path_factory.mktemp("e2e-data") / "photos"
    for index, photo in enumerate(sorted(embedded_images().glob("*.jpg"))[:16]):
        folder = data / ("plain" if index % 2 else "flipped")
        folder.mkdir(parents=True, exist_ok=True)
        image = cv2.imread(str(photo))
        cv2.imwrite(str(folder / photo.name), image if index % 2 else image[:, ::-1])
    output = tmp_path_factory.mktemp("e2e") / "trained"
    result = run_cli("train", str(data), "--alpha", "0.25", "--resolution", "96", "--weights", "none", "--epochs",
                     "1", "--quantize", "--output", str(output), "--json")
    assert result.returncode == 0, result.stderr
    return Path(json.loads(result.stdout)["quantized"]["output_dir"])


def _on_phone(adb_env, phone, folder: Path, tmp_path) -> dict[str, bytes]:
    """The deployed folder's files, pulled back through adb's sync protocol."""
    pulled = {}
    for name in contract.MODEL_FILES:
        local = tmp_path / f"pulled-{name}"
        result = _adb(adb_env, "-s", phone.serial, "pull", f"{contract.MODELS_DIR}/{folder.name}/{name}", str(local))
        assert result.returncode == 0, result.stderr
        pulled[name] = local.read_bytes()
    return pulled


def _logged_reports(adb_env, phone) -> list[dict]:
    """The MOBIKIT_BENCH lines the app logged, read with `adb logcat -d` as a user would."""
    text = _adb(adb_env, "-s", phone.serial, "logcat", "-d", "-s", contract.LOGCAT_TAG).stdout.decode()
    return [json.loads(line.split(f"{contract.LOGCAT_PREFIX} ", 1)[1]) for line in text.splitlines()
            if f"{contract.LOGCAT_PREFIX} " in line]


def _bench(adb_env, folder: Path, *extra: str, threads=THREADS, delegates=DELEGATES) -> list[dict]:
    threads, delegates = ",".join(map(str, threads)), ",".join(delegates)
    result = run_cli("bench", str(folder), "--device", "pixel", "--threads", threads, "--delegate", delegates,
                     "--warmup", str(WARMUP), "--runs", str(RUNS), "--min-seconds", "0", *extra, "--json",
                     env=adb_env, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _deploy(adb_env, folder: Path, tmp_path) -> None:
    apk = tmp_path / "app-debug.apk"  # the simulator's pm installs any APK; deploy checks it is one (a zip with a
    with zipfile.ZipFile(apk, "w") as archive:  # manifest)
        archive.writestr("AndroidManifest.xml", b"mobikit demo app (simulated)")
    deployed = run_cli("deploy", str(folder), "--apk", str(apk), "--json", env=adb_env, timeout=120)
    assert deployed.returncode == 0, deployed.stderr


def assert_app_statistics_follow_the_host_rule(record: dict) -> None:
    """The app's figures are `mobikit.stats.summarize` over the native times of the timed inferences core asked
    for (after its first run and warm-up runs). The app sums in order, the host exactly rounded (math.fsum): the
    means may differ in their last bits (n·ε relative at most; 1e-12 allowed), and so std, the root of E[x²] − mean²,
    by up to √(2nε)·mean (|√a − √b| ≤ √|a − b|); order statistics are the same operations on the same values, exact.
    A different rule differs by far more."""
    measured = record["measured"]
    timed = [ns / 1e6 for ns in record["inference_ns"][1 + measured["warmup_runs"]:]]
    expected = summarize(timed).to_json()
    assert measured["timing"] == "native" and measured["runs"] == len(timed)
    allowed = {key: 1e-12 * abs(value) for key, value in expected.items()}
    allowed["std_ms"] = math.sqrt(2 * len(timed) * np.finfo(float).eps) * expected["mean_ms"]
    drifted = {key: (measured[key], value) for key, value in expected.items()
               if abs(measured[key] - value) > allowed[key]}
    assert not drifted, f"the app's figures drift from the host's rule (app, host): {drifted}"


@pytest.mark.parametrize("made_by", ["quantized", "trained"])
def test_deploy_then_bench_reports_exactly_what_the_phone_measured(request, adb_env, phone, tmp_path, made_by):
    folder = request.getfixturevalue(made_by)
    _deploy(adb_env, folder, tmp_path)
    # the model on the phone is the output folder's, byte for byte: the deployed copy (pulled back through adb) and
    # the copy the app imported into its internal storage
    expected = {name: (folder / name).read_bytes() for name in contract.MODEL_FILES}
    assert _on_phone(adb_env, phone, folder, tmp_path) == expected
    imported = phone.host_path(f"{internal_dir(contract.PACKAGE)}/files/{contract.MODELS_SUBDIR}/{folder.name}")
    assert (imported / contract.MODEL_FILE).read_bytes() == expected[contract.MODEL_FILE]

    rows = _bench(adb_env, folder)
    asked = [(t, d) for t in THREADS for d in DELEGATES]
    assert [(row["threads"], row["delegate"]) for row in rows] == asked
    app_runs = [record for record in phone.measured if record["tool"] == "app"]
    assert len(app_runs) == len(asked)
    for row, record, logged in zip(rows, app_runs, _logged_reports(adb_env, phone)):
        received, measured = record["received"], record["measured"]
        # what the app received is what was asked for
        assert (received[contract.EXTRA_THREADS], received[contract.EXTRA_DELEGATE]) == (row["threads"],
                                                                                         row["delegate"])
        assert (received[contract.EXTRA_WARMUP_RUNS], received[contract.EXTRA_NUM_RUNS]) == (WARMUP, RUNS)
        assert received[contract.EXTRA_MODEL] == folder.name
        assert received[contract.EXTRA_SHA256] == hashlib.sha256(expected[contract.MODEL_FILE]).hexdigest()
        # every figure the host reports is the app's own, unchanged; the logcat line says the same
        assert {key: row[key] for key in FIGURES} == {key: measured[key] for key in FIGURES}
        assert logged == measured and row["error"] is None and row["runs"] == RUNS
        assert_app_statistics_follow_the_host_rule(record)
        assert measured["size_bytes"] == (folder / "model.tflite").stat().st_size
        assert (row["device"], row["model"]) == ("Pixel 7", folder.name)

    binary = tmp_path / "benchmark_model"
    elf_program(binary)
    native = _bench(adb_env, folder, "--tool", "benchmark_model", "--benchmark-binary", str(binary))
    runs = [record for record in phone.measured if record["tool"] == "benchmark_model"]
    assert [(row["threads"], row["delegate"]) for row in native] == asked and len(runs) == len(asked)
    # the graph benchmark_model ran is the folder's (the run's folder on the phone is gone again)
    assert {run["graph_sha256"] for run in runs} == {hashlib.sha256(expected[contract.MODEL_FILE]).hexdigest()}
    assert not phone.host_path("/data/local/tmp").exists() or not os.listdir(phone.host_path("/data/local/tmp"))
    for row, record in zip(native, runs):
        received, printed = record["received"], record["measured"]
        assert (printed["threads"], printed["delegate"]) == (row["threads"], row["delegate"])
        assert received["num_threads"] == str(row["threads"])
        assert (received["warmup_runs"], received["num_runs"]) == (str(WARMUP), str(RUNS))
        us = 1e-3  # benchmark_model prints µs; the host reports ms
        assert row["runs"] == printed["count"] == RUNS
        assert (row["init_ms"], row["first_ms"], row["mean_ms"], row["min_ms"], row["max_ms"], row["std_ms"]) == (
            printed["init_us"] * us, printed["first_us"] * us, printed["avg_us"] * us, printed["min_us"] * us,
            printed["max_us"] * us, printed["std_us"] * us)
        # its memory line is a growth of the peak RSS since the tool started, not the peak: labelled so
        assert (row["peak_rss_mb"], row["peak_rss_delta_mb"]) == (None, printed["overall_mb"])
        assert row["size_bytes"] == (folder / "model.tflite").stat().st_size and row["error"] is None
    assert np.isfinite([row["mean_ms"] for row in rows + native]).all()


@pytest.fixture(scope="module")
def drifted_app(tmp_path_factory) -> str:
    """The app's core compiled with another p90 rule (nearest rank instead of linear interpolation): the classpath."""
    toolchain = find_toolchain()
    work = tmp_path_factory.mktemp("drifted-core")
    stats = (CORE / "LatencyStats.kt").read_text()
    rule = "percentile(values, 90.0)"
    assert stats.count(rule) == 1, "LatencyStats.kt's p90 changed; update the drifted variant"
    (work / "LatencyStats.kt").write_text(stats.replace(rule, "values[(n * 9 + 9) / 10 - 1]"))
    sources = [path for path in sorted(CORE.glob("*.kt")) if path.name != "LatencyStats.kt"]
    compiled = kotlinc(toolchain, str(toolchain.stdlib), work / "classes",
                       [*sources, work / "LatencyStats.kt", CORE_TESTS / "SimulatedAppMain.kt"])
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return os.pathsep.join([str(work / "classes"), str(toolchain.stdlib)])


def test_an_app_whose_statistics_drift_from_the_host_fails_the_exactness_check(adb_env, quantized, drifted_app,
                                                                               tmp_path):
    """The check above catches a host↔app drift: the app with another p90 rule benched end to end."""
    with _connected(adb_env, SimDevice(app_core=drifted_app)) as device:
        _deploy(adb_env, quantized, tmp_path)
        row, = _bench(adb_env, quantized, threads=(1,), delegates=("xnnpack",))
        record, = [record for record in device.measured if record["tool"] == "app"]
        assert row["p90_ms"] == record["measured"]["p90_ms"]  # the host reports what the app said…
        with pytest.raises(AssertionError, match=r"drift from the host's rule \(app, host\): \{'p90_ms': \(") as caught:
            assert_app_statistics_follow_the_host_rule(record)  # …and that is not the host's rule
        assert "median_ms" not in str(caught.value)  # only p90 drifted

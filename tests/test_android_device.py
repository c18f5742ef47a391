"""The device path end to end: the real `mobikit` CLI → the real adb client and server → a simulated Pixel.

Each test gets a fresh simulated phone (tests/adb_sim) connected to a private adb server (own port, own HOME).
Nothing is mocked on the host side: `mobikit devices/deploy/bench` run as subprocesses and drive Debian's adb.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from adb_sim import SimDevice
from adb_sim.device import ShellDrop
from adb_sim.shell import run_argv
from android_build import require_core_build
from support import assert_clean_failure, elf_program, run_cli
import mobikit
from mobikit.android import contract
from mobikit.android.deploy import ABSENT, UNVERIFIED, UPLOAD_FILES, Folder, Layout, next_step

ADB = shutil.which("adb")
pytestmark = pytest.mark.skipif(ADB is None, reason="adb is not installed (Debian/Ubuntu: apt-get install adb)")


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not 5555 <= port <= 5585:
            return port


@pytest.fixture(scope="session")
def adb_env(tmp_path_factory):
    """A private adb server: its own port and HOME (it writes ~/.android/adbkey), killed at the end; the simulated
    app's Kotlin core compiled first."""
    require_core_build()
    home = tmp_path_factory.mktemp("adb-home")
    env = {"ANDROID_ADB_SERVER_PORT": str(_free_port()), "HOME": str(home), "ANDROID_SERIAL": ""}
    adb(env, "start-server")
    yield env
    adb(env, "kill-server")


def adb(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ADB, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def connect(env: dict, device: SimDevice) -> None:
    """`adb connect` exits 0 even when it fails, so read what it says and wait for the `device` state."""
    output = adb(env, "connect", device.serial).stdout
    assert "connected to" in output, output
    deadline = time.monotonic() + 15
    while f"{device.serial}\tdevice" not in adb(env, "devices").stdout:
        assert time.monotonic() < deadline, adb(env, "devices").stdout
        time.sleep(0.2)


@pytest.fixture
def phone(adb_env):
    with _phone(adb_env) as device:
        yield device


class _phone:
    def __init__(self, env: dict, **options):
        self.env, self.device = env, SimDevice(**options)

    def __enter__(self) -> SimDevice:
        connect(self.env, self.device.start())
        return self.device

    def __exit__(self, *exc) -> None:
        adb(self.env, "disconnect", self.device.serial)
        self.device.stop()
        shutil.rmtree(self.device.root, ignore_errors=True)


def _write_model_folder(folder: Path, tflite: bytes, labels: list[str]) -> Path:
    """A quantize output folder with the model.json `mobikit quantize` writes (read off the model itself)."""
    from mobikit.description import ModelDescription, model_tensors
    from mobikit.preprocess import describe

    folder.mkdir(parents=True)
    (folder / "model.tflite").write_bytes(tflite)
    (folder / "labels.txt").write_text("".join(f"{label}\n" for label in labels))
    tensors = model_tensors(tflite)
    resolution = tensors[0].shape[1]
    description = ModelDescription(folder.name, "int8", resolution, len(labels), *tensors, softmax=True,
                                   size_bytes=0, sha256="", arch="v1", alpha=0.25, full_integer=True,
                                   preprocessing=describe(resolution)).with_model(tflite)
    (folder / "model.json").write_text(json.dumps(description.to_json(), indent=2))
    return folder


def tiny_classifier(batch_size: int | None = None) -> bytes:
    """A tiny but real full-integer int8 TFLite classifier (conv → depthwise → pool → dense softmax), converted
    here; with a free batch dimension (dynamic-sized tensors) unless `batch_size` fixes it."""
    import numpy as np

    from mobikit.runtime import tensorflow

    tf = tensorflow()
    inputs = tf.keras.Input((32, 32, 3), batch_size=batch_size)
    x = tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10, activation="softmax")(x)
    converter = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inputs, outputs))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")]
                                                for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.fixture(scope="session")
def tiny_tflite() -> bytes:
    return tiny_classifier()


@pytest.fixture
def model_dir(tmp_path, tiny_tflite) -> Path:
    return _write_model_folder(tmp_path / "tiny_int8", tiny_tflite, [f"class {i}" for i in range(10)])


@pytest.fixture
def apk(tmp_path) -> Path:
    """Any file is an APK to the simulator's `pm install` (adb itself only insists on the .apk suffix); deploy checks
    that it is a zip holding AndroidManifest.xml, as every APK is."""
    import zipfile

    path = tmp_path / "app-debug.apk"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("AndroidManifest.xml", b"mobikit demo app (simulated)" + os.urandom(64))
    return path


def eventually(condition, timeout: float = 10.0) -> bool:
    """The simulated app starts asynchronously, like a real one after `am start` returns."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _model_on(device: SimDevice, name: str) -> str:
    return f"{contract.MODELS_DIR}/{name}"


def deploy(env, model_dir, *extra):
    return run_cli("deploy", str(model_dir), *extra, "--json", env=env, timeout=120)


# --- devices ---------------------------------------------------------------------------------------------------------

def test_devices_lists_the_simulated_pixel(adb_env, phone):
    result = run_cli("devices", "--json", env=adb_env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"server": "local", "serial": phone.serial, "state": "device",
                                          "model": "Pixel 7", "android": "14", "sdk": 34, "abi": "arm64-v8a",
                                          "soc": "Tensor G2", "error": None, "mobikit_version": mobikit.__version__}]
    table = run_cli("devices", env=adb_env, timeout=60)
    assert table.returncode == 0 and "Pixel 7" in table.stdout and phone.serial in table.stdout


def test_devices_json_is_an_empty_list_without_devices(adb_env):
    result = run_cli("devices", "--json", env=adb_env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_adb_missing_is_a_clean_error(adb_env, tmp_path):
    explicit = run_cli("devices", "--adb", str(tmp_path / "no-adb"), env=adb_env)
    assert_clean_failure(explicit, 1)
    assert "adb not found at" in explicit.stderr
    nowhere = run_cli("devices", env={**adb_env, "PATH": str(tmp_path), "ADB": "", "ANDROID_HOME": "",
                                      "ANDROID_SDK_ROOT": ""})
    assert_clean_failure(nowhere, 1)
    assert "apt-get install adb" in nowhere.stderr and "--adb" in nowhere.stderr


# --- deploy ------------------------------------------------------------------------------------------------------------

def test_deploy_installs_uploads_verifies_and_launches(adb_env, phone, model_dir, apk):
    result = deploy(adb_env, model_dir, "--device", "pixel", "--apk", str(apk))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"device": "Pixel 7", "serial": phone.serial, "model": "tiny_int8",
                      "path": _model_on(phone, "tiny_int8"), "sha256": hashlib.sha256(
                          (model_dir / "model.tflite").read_bytes()).hexdigest(),
                      "app": "installed", "upload": "uploaded", "launched": True, "running": report["running"],
                      "mobikit_version": mobikit.__version__}
    assert (report["running"]["model"], report["running"]["sha256"], report["running"]["error"]) == \
        ("tiny_int8", report["sha256"], None)
    for name in contract.MODEL_FILES:
        assert phone.read_file(f"{_model_on(phone, 'tiny_int8')}/{name}") == (model_dir / name).read_bytes()
    assert phone.apps[contract.PACKAGE].apk_sha256 == hashlib.sha256(apk.read_bytes()).hexdigest()
    app = phone.app
    assert app.received == [None, "tiny_int8"], app.received  # started once to create its folder, then the model
    assert any(line.startswith("sha256sum ") and ".tiny_int8.upload" in line for line in phone.commands)

    def pushes() -> int:  # upload folders made (not the run's phone marker under /data/local/tmp)
        return len([c for c in phone.commands if c.startswith("mkdir") and "/data/local/tmp/" not in c])

    pushes_before = pushes()
    again = deploy(adb_env, model_dir, "--device", "PIXEL", "--apk", str(apk))
    assert again.returncode == 0, again.stderr
    assert (json.loads(again.stdout)["app"], json.loads(again.stdout)["upload"]) == ("current", "unchanged")
    assert pushes() == pushes_before
    assert app.received == [None, "tiny_int8", "tiny_int8"], app.received
    assert app.running["sha256"] == report["sha256"]


def test_deploy_name_with_space_and_quote_and_toybox_sha256(adb_env, tmp_path, tiny_tflite, apk):
    labels = [f"class {i}" for i in range(10)]
    folder = _write_model_folder(tmp_path / "it's my model", tiny_tflite, labels)
    with _phone(adb_env, has_sha256sum=False) as device:
        result = deploy(adb_env, folder, "--device", device.serial, "--apk", str(apk))
        assert result.returncode == 0, result.stderr
        assert device.read_file(f"{contract.MODELS_DIR}/it's my model/labels.txt") == "".join(
            f"{label}\n" for label in labels).encode()
        assert device.app.received[-1:] == ["it's my model"]
        assert device.app.running["model"] == "it's my model"
        assert any(c.startswith("toybox sha256sum") for c in device.commands)


def test_device_drops_mid_push_keeps_previous_model_and_retry_succeeds(adb_env, phone, model_dir, tmp_path,
                                                                       tiny_tflite, apk):
    assert deploy(adb_env, model_dir, "--apk", str(apk)).returncode == 0
    newer = _write_model_folder(tmp_path / "v2" / "tiny_int8", tiny_tflite + b"\0" * 4096,
                                [f"label {i}" for i in range(10)])
    phone.faults.drop_push = ("model.tflite", 2048)
    failed = deploy(adb_env, newer, "--apk", str(apk))
    assert_clean_failure(failed, 1)
    assert "uploading into .tiny_int8.upload" in failed.stderr
    assert "cannot be checked now, but it holds the previous tiny_int8 in place" in failed.stderr
    final = _model_on(phone, "tiny_int8")
    assert phone.read_file(f"{final}/model.tflite") == tiny_tflite
    assert phone.read_file(f"{final}/labels.txt") == (model_dir / "labels.txt").read_bytes()

    offline = run_cli("deploy", str(newer), "--device", phone.serial, env=adb_env, timeout=60)
    assert_clean_failure(offline, 1)
    assert "offline" in offline.stderr and "reconnect" in offline.stderr
    phone.away = False
    adb(adb_env, "disconnect", phone.serial)
    connect(adb_env, phone)
    retry = deploy(adb_env, newer, "--apk", str(apk))
    assert retry.returncode == 0, retry.stderr
    assert json.loads(retry.stdout)["upload"] == "uploaded"
    assert phone.read_file(f"{final}/model.tflite") == (newer / "model.tflite").read_bytes()
    assert phone.read_file(f"{final}/labels.txt") == (newer / "labels.txt").read_bytes()


# --- the swap on the phone, cut at every step ------------------------------------------------------------------------

MODEL = "tiny_int8"
FOLDERS = {"live": f"{contract.MODELS_DIR}/{MODEL}", "old": f"{contract.MODELS_DIR}/.{MODEL}.old",
           "upload": f"{contract.MODELS_DIR}/.{MODEL}.upload"}
LOOSE = 0.5  # seconds a loose cable is away: deploy waits for it, re-checks the phone and says what it found


def shell_cut(*words: str, when: str = "after", loose: bool = False):
    """Arm the phone to drop the connection at the shell command starting with these words (folder roles become
    paths); a pulled cable stays away until the test reconnects, a loose one comes back after LOOSE seconds."""
    argv = tuple(FOLDERS.get(word, word) for word in words)
    return lambda phone: setattr(phone.faults, "drop_shell", ShellDrop(argv, when, LOOSE if loose else None))


def push_cut(file: str, after_bytes: int = 2048):
    return lambda phone: setattr(phone.faults, "drop_push", (file, after_bytes))


@dataclass(frozen=True)
class Cut:
    """One deploy of `version` that the fault interrupts, what the models folder holds after it, and a part of the
    one error line."""

    version: str
    fault: Callable[[SimDevice], None]
    holds: dict[str, str]
    says: str


PREVIOUS, NEW = f"the previous {MODEL} in place", f"the new {MODEL} in place"
BOTH_COPIES = (f"no {MODEL} in place, but the new model (verified) in .{MODEL}.upload and the previous model in "
               f".{MODEL}.old, which the next deploy moves into place first")
CERTAIN = "the phone cannot be checked now, but it holds "  # the step in flight cannot have changed that
EITHER = "the phone cannot be checked now, and it is unknown whether that step happened, so it holds either "
CHECKED = "checked again, the phone holds "  # a loose cable: back within the wait

# (live version before, the interrupted deploys in order, the version the clean retry deploys, its "upload" field,
# whether that retry has to push again). Cutting "after" a command: it ran but adb never saw its exit status;
# "before": it never ran; "during" an rm -r: one file is gone.
SWAP_CUTS = {
    "first deploy, upload cut": (None, [
        Cut("v1", push_cut("labels.txt", 4), {f".{MODEL}.upload": "partial"},
            CERTAIN + f"no {MODEL} in place and no complete copy of it")], "v1", "uploaded", True),
    "reading the live model.json, answer lost": ("v1", [
        Cut("v2", shell_cut("cat", f"{FOLDERS['live']}/model.json"), {MODEL: "v1"},
            "the phone cannot be checked now, but nothing on it was changed")], "v2", "uploaded", True),
    # `pm path` says 1 for a missing app; the cut's bare 0 once read as "not installed", and the install that
    # followed failed as "on the device" while the retry, at once, found the phone still offline.
    "listing the app, loose cable": ("v1", [
        Cut("v2", shell_cut("pm", "path", loose=True), {MODEL: "v1"},
            "while checking the demo app and its models folder (no answer from 'pm path' on the device (connection "
            "cut?)); " + CHECKED + PREVIOUS)], "v2", "uploaded", True),
    "checking the upload, answer lost": ("v1", [
        Cut("v2", shell_cut("sha256sum", *(f"{FOLDERS[role]}/{name}" for role in ("live", "upload")
                                           for name in contract.MODEL_FILES), loose=True),
            {MODEL: "v1", f".{MODEL}.upload": "v2"},
            f"while uploading into .{MODEL}.upload (no answer from sha256sum on the device (connection cut?)); "
            + CHECKED + PREVIOUS)], "v2", "uploaded", False),
    "staging folder made": ("v1", [
        Cut("v2", shell_cut("mkdir", "-p", "upload", loose=True), {MODEL: "v1", f".{MODEL}.upload": "partial"},
            CHECKED + PREVIOUS)], "v2", "uploaded", True),
    "before moving the live model aside": ("v1", [
        Cut("v2", shell_cut("mv", "live", "old", when="before", loose=True), {MODEL: "v1", f".{MODEL}.upload": "v2"},
            CHECKED + PREVIOUS)], "v2", "uploaded", False),
    "live model moved aside": ("v1", [
        Cut("v2", shell_cut("mv", "live", "old"), {f".{MODEL}.old": "v1", f".{MODEL}.upload": "v2"},
            EITHER + f"{PREVIOUS}, or {BOTH_COPIES}")], "v2", "uploaded", False),
    "live model moved aside, loose cable": ("v1", [
        Cut("v2", shell_cut("mv", "live", "old", loose=True), {f".{MODEL}.old": "v1", f".{MODEL}.upload": "v2"},
            CHECKED + BOTH_COPIES)], "v2", "uploaded", False),
    "before the new model moves in": ("v1", [
        Cut("v2", shell_cut("mv", "upload", "live", when="before"), {f".{MODEL}.old": "v1", f".{MODEL}.upload": "v2"},
            EITHER + f"{BOTH_COPIES}, or {NEW}")], "v2", "uploaded", False),
    "new model moved in": ("v1", [
        Cut("v2", shell_cut("mv", "upload", "live", loose=True), {MODEL: "v2", f".{MODEL}.old": "v1"},
            CHECKED + NEW)], "v2", "unchanged", False),
    "removing the previous model": ("v1", [
        Cut("v2", shell_cut("rm", "-rf", "old", when="during", loose=True), {MODEL: "v2", f".{MODEL}.old": "partial"},
            CHECKED + NEW)], "v2", "unchanged", False),
    # The retry drops again: it puts the previous model back before it deletes or uploads anything.
    "moved aside, then another model's upload cut": ("v1", [
        Cut("v2", shell_cut("mv", "live", "old", loose=True), {f".{MODEL}.old": "v1", f".{MODEL}.upload": "v2"},
            CHECKED + BOTH_COPIES),
        Cut("v3", push_cut("model.tflite"), {MODEL: "v1", f".{MODEL}.upload": "partial"},
            CERTAIN + PREVIOUS)], "v3", "uploaded", True),
    "moved aside, then the restore cut": ("v1", [
        Cut("v2", shell_cut("mv", "live", "old", loose=True), {f".{MODEL}.old": "v1", f".{MODEL}.upload": "v2"},
            CHECKED + BOTH_COPIES),
        Cut("v3", shell_cut("mv", "old", "live", loose=True), {MODEL: "v1", f".{MODEL}.upload": "v2"},
            CHECKED + PREVIOUS)], "v3", "uploaded", True),
    "moved aside, then removing the stale upload cut": ("v1", [
        Cut("v2", shell_cut("mv", "live", "old", loose=True), {f".{MODEL}.old": "v1", f".{MODEL}.upload": "v2"},
            CHECKED + BOTH_COPIES),
        Cut("v3", shell_cut("rm", "-rf", "upload", when="during", loose=True),
            {MODEL: "v1", f".{MODEL}.upload": "partial"}, CHECKED + PREVIOUS)], "v3", "uploaded", True),
}


@pytest.fixture
def versions(tmp_path, tiny_tflite) -> dict[str, Path]:
    """Three versions of one model (same folder name, different bytes in every file)."""
    return {f"v{n}": _write_model_folder(tmp_path / f"v{n}" / MODEL, tiny_tflite + b"\0" * (4096 * n),
                                         [f"v{n} class {i}" for i in range(10)]) for n in (1, 2, 3)}


def _set_up(phone: SimDevice, apk: Path, live: Path | None) -> None:
    """The phone as a finished deploy leaves it: the app installed (by the sim's own pm) with its folders, and the
    `live` model folder, if any, in place."""
    phone.host_path("/data/local/tmp/app.apk").write_bytes(apk.read_bytes())
    assert run_argv(phone, ["pm", "install", "/data/local/tmp/app.apk"])[0] == 0
    models = phone.host_path(contract.MODELS_DIR)
    models.mkdir(parents=True)
    if live is not None:
        shutil.copytree(live, models / MODEL)


def _holds(phone: SimDevice, versions: dict[str, Path]) -> dict[str, str]:
    """Each entry of the phone's models folder → the version whose three files it holds byte for byte, or
    "partial"."""
    models, held = phone.host_path(contract.MODELS_DIR), {}
    for entry in sorted(os.listdir(models)):
        files = {name: (models / entry / name).read_bytes() for name in contract.MODEL_FILES
                 if (models / entry / name).is_file()}
        held[entry] = next((version for version, folder in versions.items()
                            if files == {name: (folder / name).read_bytes() for name in contract.MODEL_FILES}),
                           "partial")
    return held


def _plug_back_in(env: dict, phone: SimDevice) -> None:
    """The adb server keeps retrying a TCP device that dropped off, so it is back as soon as the phone answers."""
    phone.away = False
    assert adb(env, "-s", phone.serial, "wait-for-device").returncode == 0


@pytest.mark.parametrize("case", SWAP_CUTS, ids=list(SWAP_CUTS))
def test_a_cut_at_any_step_leaves_a_complete_model_and_the_retry_finishes(adb_env, versions, apk, case):
    live, cuts, final, upload, pushes_again = SWAP_CUTS[case]
    with _phone(adb_env) as phone:
        _set_up(phone, apk, versions.get(live))
        for cut in cuts:
            cut.fault(phone)
            failed = deploy(adb_env, versions[cut.version], "--apk", str(apk))
            assert_clean_failure(failed, 1)
            lines = failed.stderr.strip().splitlines()
            errors = [line for line in lines if line.startswith("error:")]  # progress notes may come before it
            assert errors == lines[-1:] and cut.says in lines[-1], failed.stderr
            held = _holds(phone, versions)
            assert held == cut.holds
            assert live is None or set(held.values()) - {"partial"}, "no complete model left on the phone"
            _plug_back_in(adb_env, phone)
        commands_before = len(phone.commands)
        retry = deploy(adb_env, versions[final], "--apk", str(apk))
        assert retry.returncode == 0, retry.stderr
        assert json.loads(retry.stdout)["upload"] == upload
        assert _holds(phone, versions) == {MODEL: final}
        made_staging = [c for c in phone.commands[commands_before:] if c.startswith("mkdir") and FOLDERS["upload"] in c]
        assert bool(made_staging) == pushes_again, phone.commands[commands_before:]


FOLDER_KINDS = {"absent": ABSENT, "partial": UNVERIFIED, "previous": Folder(True, True),
                "new": Folder(True, True, True)}


def _has_complete_model(layout: Layout) -> bool:
    """A complete model under the live name, or a copy the next deploy moves there."""
    return layout.live.complete or layout.old.complete or layout.upload.new


@pytest.mark.parametrize("live,old,upload", list(itertools.product(FOLDER_KINDS, repeat=3)))  # mutmut collects twice
def test_the_swap_rules_never_leave_the_phone_without_a_complete_model(live, old, upload):
    """From any leftover the rules reach "the new model live, nothing else" in a few steps; no step removes a
    complete model unless a complete model stays under the live name, and none, whole or cut half way, takes away
    the last complete model. (A cut rename did or did not happen, both checked here; a cut removal leaves a partial
    folder, no more complete than a removed one, and every such half-way layout is one of the starting layouts.)"""
    layout = Layout(FOLDER_KINDS[live], FOLDER_KINDS[old], FOLDER_KINDS[upload])
    had_model = _has_complete_model(layout)
    for _ in range(8):
        step = next_step(layout)
        if step is None:
            break
        if step.kind == "remove":  # staging counts as complete only when it holds the files being deployed
            removed = getattr(layout, step.source)
            complete = removed.new if step.source == "upload" else removed.complete
            assert not complete or (layout.live.complete and step.source != "live"), (layout, step)
        after = step.effect(layout)
        if step is UPLOAD_FILES:  # into a fresh staging name only (a leftover may hold files of another model)
            assert not layout.upload.present and after.upload == UNVERIFIED, (layout, step)
            after = after.with_folder("upload", FOLDER_KINDS["new"])
        assert not had_model or _has_complete_model(after), (layout, step)
        had_model, layout = had_model or _has_complete_model(after), after
    assert next_step(layout) is None and layout == Layout(FOLDER_KINDS["new"], ABSENT, ABSENT)


def test_corrupted_upload_is_caught_by_the_checksum(adb_env, phone, model_dir, apk):
    phone.faults.corrupt_push = "model.tflite"
    failed = deploy(adb_env, model_dir, "--apk", str(apk))
    assert_clean_failure(failed, 1)
    assert "checksum mismatch" in failed.stderr and "model.tflite" in failed.stderr
    assert not phone.exists(_model_on(phone, "tiny_int8"))
    assert phone.app.received == [None]  # never sent a bad model
    assert deploy(adb_env, model_dir, "--apk", str(apk)).returncode == 0
    assert phone.read_file(f"{_model_on(phone, 'tiny_int8')}/model.tflite") == \
        (model_dir / "model.tflite").read_bytes()


def test_two_devices_matching_pixel_is_a_usage_error(adb_env, phone, model_dir, apk):
    with _phone(adb_env, model="Pixel 8 Pro") as second:
        ambiguous = deploy(adb_env, model_dir, "--device", "pixel", "--apk", str(apk))
        assert_clean_failure(ambiguous, 2)
        assert phone.serial in ambiguous.stderr and second.serial in ambiguous.stderr
        assert "--device SERIAL" in ambiguous.stderr
        nothing = deploy(adb_env, model_dir, "--device", "galaxy", "--apk", str(apk))
        assert_clean_failure(nothing, 2)
        assert "no device matches 'galaxy'" in nothing.stderr and "Pixel 8 Pro" in nothing.stderr
        host = deploy(adb_env, model_dir, "--device", "host", "--apk", str(apk))
        assert_clean_failure(host, 2)
        assert "needs a phone" in host.stderr
        chosen = deploy(adb_env, model_dir, "--device", "8 pro", "--apk", str(apk))
        assert chosen.returncode == 0, chosen.stderr
        assert json.loads(chosen.stdout)["serial"] == second.serial
        assert contract.PACKAGE not in phone.apps


def test_deploy_without_app_or_apk_names_the_options(adb_env, phone, model_dir, apk, tmp_path):
    """An installed mobikit run outside a checkout: the APK comes from --apk or $MOBIKIT_APK, else one line says
    how to get one."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = run_cli("deploy", str(model_dir), env=adb_env, cwd=outside)
    assert_clean_failure(result, 2)
    assert all(hint in result.stderr for hint in ("--apk", "$MOBIKIT_APK", "gradlew assembleDebug"))
    from_env = run_cli("deploy", str(model_dir), "--json", env={**adb_env, "MOBIKIT_APK": str(apk)}, cwd=outside)
    assert from_env.returncode == 0, from_env.stderr
    assert json.loads(from_env.stdout)["app"] == "installed"


def test_deploy_rejects_a_folder_that_is_not_a_quantize_output(adb_env, tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"x")
    result = run_cli("deploy", str(tmp_path), env=adb_env)
    assert_clean_failure(result, 2)
    assert "labels.txt" in result.stderr


# --- bench --device --------------------------------------------------------------------------------------------------

def _bench(env, model_dir, *extra):
    return run_cli("bench", str(model_dir), "--device", "pixel", "--warmup", "2", "--runs", "12", "--min-seconds", "0",
                   *extra, "--json", env=env, timeout=180)


def _check_measured(result: dict, threads: int, delegate: str, runs: int = 12) -> None:
    assert (result["device"], result["model"], result["threads"], result["delegate"]) == \
        ("Pixel 7", "tiny_int8", threads, delegate)
    assert result["error"] is None and result["runs"] == runs
    assert 0 < result["min_ms"] <= result["mean_ms"] + 1e-9 and result["mean_ms"] <= result["max_ms"] + 1e-9
    assert result["init_ms"] > 0 and result["first_ms"] > 0


def test_bench_with_the_app(adb_env, phone, model_dir, apk):
    assert deploy(adb_env, model_dir, "--apk", str(apk), "--no-launch").returncode == 0
    result = _bench(adb_env, model_dir, "--threads", "1,2", "--delegate", "cpu,xnnpack,gpu")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["threads"], r["delegate"]) for r in rows] == [(t, d) for t in (1, 2) for d in ("cpu", "xnnpack", "gpu")]
    for row in rows:
        if row["delegate"] == "gpu":
            assert "gpu delegate unavailable" in row["error"] and row["mean_ms"] is None
        else:
            _check_measured(row, row["threads"], row["delegate"])
            assert row["p5_ms"] <= row["median_ms"] <= row["p95_ms"]
    assert not phone.host_path(contract.RESULTS_DIR).exists() or not any(phone.host_path(contract.RESULTS_DIR).iterdir())
    assert sum(line.count(contract.LOGCAT_PREFIX) for line in phone.logcat) == 6
    assert "tiny_int8" not in phone.app.received  # --no-launch; bench never opens the camera


def test_bench_app_reports_an_error_when_every_configuration_fails(adb_env, phone, model_dir, apk):
    assert deploy(adb_env, model_dir, "--apk", str(apk)).returncode == 0
    result = _bench(adb_env, model_dir, "--delegate", "gpu")
    assert_clean_failure(result, 1)
    assert "gpu delegate unavailable" in result.stderr


@pytest.mark.parametrize("output_format", ["2024", "2019"])
def test_bench_with_benchmark_model(adb_env, model_dir, tmp_path, output_format):
    binary = tmp_path / "benchmark_model"
    elf_program(binary)
    with _phone(adb_env, benchmark_format=output_format) as device:
        result = _bench(adb_env, model_dir, "--tool", "benchmark_model", "--benchmark-binary", str(binary),
                        "--threads", "2", "--delegate", "xnnpack,nnapi,gpu")
        assert result.returncode == 0, result.stderr
        xnnpack, nnapi, gpu = json.loads(result.stdout)
        _check_measured(xnnpack, 2, "xnnpack")
        _check_measured(nnapi, 2, "nnapi")
        assert "GPU delegate" in gpu["error"]
        runs = [c for c in device.commands if c.startswith("/data/local/tmp/mobikit-bench-")]
        assert len(runs) == 3 and all("--num_runs=12" in c and "--warmup_runs=2" in c and "--graph=" in c
                                      for c in runs)
        assert os.listdir(device.host_path("/data/local/tmp")) == []  # benchmark_model and the graph went again


def test_bench_benchmark_model_needs_the_binary(adb_env, phone, model_dir):
    result = _bench(adb_env, model_dir, "--tool", "benchmark_model")
    assert_clean_failure(result, 2)
    assert "--benchmark-binary" in result.stderr


def test_bench_on_a_phone_refuses_absurd_threads_and_names_its_argument(adb_env, phone, model_dir):
    """`--threads 100000` took the (simulated) phone down and was reported as "the phone stopped answering"; a
    .tflite file given to `bench --device` was refused as `OUTPUT_DIR`, an argument bench does not have."""
    threads = _bench(adb_env, model_dir, "--threads", "100000")
    assert_clean_failure(threads, 2)
    assert "--threads takes at most 64" in threads.stderr
    file = _bench(adb_env, model_dir / "model.tflite")
    assert_clean_failure(file, 2)
    assert "MODEL" in file.stderr and "OUTPUT_DIR" not in file.stderr


def test_deploy_refuses_a_name_too_long_for_the_phone_before_contacting_it(adb_env, tmp_path, tiny_tflite):
    """`.NAME.upload` must fit the phone's 255-byte file names: a 250-byte (or 83-CJK-character) name used to fail
    mid-deploy with a misleading "connection cut?"."""
    for name in ("a" * 248, "名" * 83):
        folder = _write_model_folder(tmp_path / name, tiny_tflite, [f"class {i}" for i in range(10)])
        result = run_cli("deploy", str(folder), "--adb", "/no/such/adb", env=adb_env)
        assert_clean_failure(result, 2)
        assert "over the file system's 255" in result.stderr and "at most 247 bytes" in result.stderr


def test_a_file_under_the_models_name_is_refused_and_left_alone(adb_env, phone, model_dir, apk):
    """A file where a model's folder (or its .upload) goes is not mobikit's: deploy used to fail saying "the next
    deploy moves it into place", forever. Now one line names it, and the file stays as it was."""
    import shutil

    first = deploy(adb_env, model_dir, "--device", "pixel", "--apk", str(apk))  # the app and its folders exist
    assert first.returncode == 0, first.stderr
    blocked = shutil.copytree(model_dir, model_dir.parent / "blocked")
    blocker = model_dir.parent / "junk"
    blocker.write_bytes(b"the user's own file")
    for name in ("blocked", ".blocked.upload"):
        pushed = adb(adb_env, "push", str(blocker), f"{contract.MODELS_DIR}/{name}")
        assert pushed.returncode == 0, pushed.stderr
        result = deploy(adb_env, blocked, "--device", "pixel", "--apk", str(apk))
        assert_clean_failure(result, 1)
        assert "is not a folder" in result.stderr and f"/{name} " in result.stderr, result.stderr
        assert phone.read_file(f"{contract.MODELS_DIR}/{name}") == b"the user's own file"
        assert adb(adb_env, "shell", "rm", f"{contract.MODELS_DIR}/{name}").returncode == 0
    retried = deploy(adb_env, blocked, "--device", "pixel", "--apk", str(apk))
    assert retried.returncode == 0, retried.stderr

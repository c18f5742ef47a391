"""Put a quantize output folder into the demo app on a phone, verified, and start the app with it.

The upload goes to a temporary folder next to the model folder, is checked with sha256 on the device, and only
then renamed into place: a dropped cable or a corrupted copy never replaces the model the app is using. The app is
"current" when the APK installed on the device (`pm path`) has the same sha256 as the local APK.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..description import ModelDescription, file_sha256, load_output_folder
from ..errors import MobikitError, UsageError
from ..progress import Reporter
from . import contract
from .adb import Adb, AdbError, Device, ShellError, select_device

APK_ENV = "MOBIKIT_APK"
CHECKOUT_APP = Path("android_app")  # a mobikit checkout's Android project, relative to the checkout root
DEBUG_APK = Path("app") / "build" / "outputs" / "apk" / "debug" / "app-debug.apk"  # relative to the project
NO_APK_HELP = (f"pass --apk PATH or set ${APK_ENV} to the demo app's APK; to build one, run "
               "'./gradlew assembleDebug' in android_app/ of a mobikit checkout (needs an Android SDK), or take "
               "app-debug.apk from the project's GitHub Android workflow")
APP_START_TIMEOUT = 30.0
UPLOAD_TIMEOUT = 300.0
GRADLE_TIMEOUT = 1800.0


@dataclass(frozen=True)
class LocalModel:
    """A quantize output folder: its name on the device and the sha256 of each file the app reads."""

    folder: Path
    name: str
    description: ModelDescription
    sha256: dict[str, str]


@dataclass
class DeployResult:
    device: str
    serial: str
    model: str
    path: str
    sha256: str
    app: str  # "installed" or "current"
    upload: str  # "uploaded" or "unchanged"
    launched: bool

    def to_json(self) -> dict:
        return asdict(self)


def load_model_folder(folder: str | os.PathLike) -> LocalModel:
    """A quantize output folder whose model.json is proven to describe its model and labels (dtypes, shapes,
    quantization, label count, sha256) — checked before anything reaches the phone."""
    checked = load_output_folder(Path(folder).resolve(), "output_dir")
    name = checked.path.name
    if name.startswith(".") or "/" in name:
        raise UsageError("cannot use {name!r} as a model name on the device: rename the folder", name=name)
    sha256 = {file: file_sha256(checked.path / file) for file in contract.MODEL_FILES}
    return LocalModel(checked.path, name, checked.description, sha256)


def remote_sha256(adb: Adb, paths: list[str]) -> dict[str, str]:
    """sha256 of device files (missing ones left out), with `sha256sum`, else `toybox sha256sum`."""
    for tool in (["sha256sum"], ["toybox", "sha256sum"]):
        result = adb.shell(*tool, *paths, check=False)
        if result.exit_code == 127:  # "inaccessible or not found": try the next spelling
            continue
        sums = {}
        for line in result.stdout.splitlines():
            digest, _, path = line.partition("  ")
            if len(digest) == 64 and path in paths:
                sums[path] = digest
        return sums
    raise MobikitError("the device has neither sha256sum nor toybox sha256sum: cannot verify the upload")


def checkout_app(start: Path | None = None) -> Path | None:
    """The android_app/ folder of the mobikit checkout holding the working directory, if there is one."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CHECKOUT_APP / "settings.gradle.kts").is_file():
            return folder / CHECKOUT_APP
    return None


def find_apk(apk: str | os.PathLike | None, reporter: Reporter) -> Path | None:
    """--apk, else $MOBIKIT_APK, else the debug APK of the checkout we run in (built with Gradle when an Android
    SDK is present); None when there is none of these."""
    if apk is not None:
        if not Path(apk).is_file():
            raise UsageError("{apk} {path}: no such file", "apk", path=str(apk))
        return Path(apk)
    if os.environ.get(APK_ENV):
        if not Path(os.environ[APK_ENV]).is_file():
            raise UsageError("${env} {path}: no such file", env=APK_ENV, path=os.environ[APK_ENV])
        return Path(os.environ[APK_ENV])
    app = checkout_app()
    if app is None:
        return None
    if (app / DEBUG_APK).is_file():
        return app / DEBUG_APK
    if (app / "gradlew").is_file() and _android_sdk(app) is not None:
        return _gradle_build(app, reporter)
    return None


def _gradle_build(app: Path, reporter: Reporter) -> Path:
    reporter.info(f"building the demo app ({app / 'gradlew'} assembleDebug) ...")
    try:
        build = subprocess.run([str(app / "gradlew"), "assembleDebug"], cwd=app, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=GRADLE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise MobikitError(f"gradlew assembleDebug timed out after {GRADLE_TIMEOUT:g} s") from None
    if build.returncode != 0 or not (app / DEBUG_APK).is_file():
        tail = (build.stderr or build.stdout).strip().splitlines()[-1:] or ["no output"]
        raise MobikitError(f"gradlew assembleDebug failed: {tail[0]}")
    return app / DEBUG_APK


def _android_sdk(app: Path) -> Path | None:
    for value in (os.environ.get("ANDROID_HOME"), os.environ.get("ANDROID_SDK_ROOT")):
        if value and Path(value).is_dir():
            return Path(value)
    properties = app / "local.properties"
    if properties.is_file():
        for line in properties.read_text(encoding="utf-8").splitlines():
            if line.startswith("sdk.dir=") and Path(line[8:].strip()).is_dir():
                return Path(line[8:].strip())
    return None


def ensure_app(adb: Adb, apk: str | os.PathLike | None, reporter: Reporter) -> str:
    """Install the demo app unless the installed APK is byte-identical to ours; returns "installed"/"current"."""
    listed = adb.shell("pm", "path", contract.PACKAGE, check=False).stdout
    installed = [line[len("package:"):].strip() for line in listed.splitlines() if line.startswith("package:")]
    local = find_apk(apk, reporter)
    if local is None:
        if installed:
            reporter.info(f"{contract.PACKAGE} is installed; no local APK to compare, keeping it")
            return "current"
        raise UsageError(f"the demo app ({contract.PACKAGE}) is not installed and there is no APK: {NO_APK_HELP}")
    base = next((path for path in installed if path.endswith("/base.apk")), installed[0] if installed else None)
    if base is not None and remote_sha256(adb, [base]).get(base) == file_sha256(local):
        return "current"
    reporter.info(f"installing {local} ...")
    result = adb.run("install", "-r", "-g", str(local), timeout=UPLOAD_TIMEOUT, check=False)
    if result.returncode != 0 or "Success" not in result.stdout:
        raise ShellError(f"adb install {local.name}", result.returncode, result.stdout,
                         (result.stderr + result.stdout).strip())
    return "installed"


def start_activity(adb: Adb, activity: str, extras: dict[str, str | int] | None = None,
                   flags: tuple[str, ...] = ()) -> None:
    """`am start -n PACKAGE/.Activity` with typed extras (`--es` for strings, `--ei` for ints)."""
    component = f"{contract.PACKAGE}/{activity[len(contract.PACKAGE):]}"
    argv = ["am", "start", *flags, "-n", component]
    for key, value in (extras or {}).items():
        argv += ["--ei" if isinstance(value, int) else "--es", key, str(value)]
    result = adb.shell(*argv, check=False)
    text = result.stdout + result.stderr
    if result.exit_code != 0 or "Error" in text:
        error = next((line for line in text.splitlines() if "Error" in line), text.strip() or "no output")
        raise MobikitError(f"cannot start {component}: {error.strip()}")


def ensure_models_dir(adb: Adb, reporter: Reporter, timeout: float = APP_START_TIMEOUT) -> None:
    """Android 11+: only the app can create its external files folder, so start it once and wait for it."""
    if adb.shell("test", "-d", contract.MODELS_DIR, check=False).exit_code == 0:
        return
    if adb.shell("test", "-d", contract.EXTERNAL_FILES_DIR, check=False).exit_code != 0:
        reporter.info("starting the app once so that it creates its files folder ...")
        start_activity(adb, contract.MAIN_ACTIVITY)
        deadline = time.monotonic() + timeout
        while adb.shell("test", "-d", contract.EXTERNAL_FILES_DIR, check=False).exit_code != 0:
            if time.monotonic() > deadline:
                raise MobikitError(f"the app did not create {contract.EXTERNAL_FILES_DIR} within {timeout:g} s: "
                                   "open the app on the phone once, then retry")
            time.sleep(0.3)
    adb.shell("mkdir", "-p", contract.MODELS_DIR)


def upload_model(adb: Adb, model: LocalModel, reporter: Reporter) -> bool:
    """Upload through a temporary folder, verify, then swap it in; returns False when it was already there."""
    final = f"{contract.MODELS_DIR}/{model.name}"
    wanted = {name: model.sha256[name] for name in contract.MODEL_FILES}
    present = remote_sha256(adb, [f"{final}/{name}" for name in contract.MODEL_FILES])
    if all(present.get(f"{final}/{name}") == digest for name, digest in wanted.items()):
        return False
    staging, previous = f"{contract.MODELS_DIR}/.{model.name}.upload", f"{contract.MODELS_DIR}/.{model.name}.old"
    adb.shell("rm", "-rf", staging, previous)
    adb.shell("mkdir", "-p", staging)
    reporter.info(f"uploading {model.name} ({(model.folder / contract.MODEL_FILE).stat().st_size:,} bytes) ...")
    try:
        adb.push([model.folder / name for name in contract.MODEL_FILES], staging + "/", timeout=UPLOAD_TIMEOUT)
    except AdbError as exc:
        raise AdbError("upload failed; the previous model on the device is unchanged", exc.stderr) from None
    uploaded = remote_sha256(adb, [f"{staging}/{name}" for name in contract.MODEL_FILES])
    for name, digest in wanted.items():
        got = uploaded.get(f"{staging}/{name}")
        if got != digest:
            adb.shell("rm", "-rf", staging, check=False)
            raise MobikitError(f"checksum mismatch on the device for {name}: expected {digest[:12]}…, got "
                               f"{(got or 'no file')[:12]}…; the upload was discarded and the previous model kept")
    if adb.shell("test", "-e", final, check=False).exit_code == 0:
        adb.shell("mv", final, previous)
    adb.shell("mv", staging, final)
    adb.shell("rm", "-rf", previous)
    return True


def deploy(output_dir: str | os.PathLike, device: str | None = None, apk: str | os.PathLike | None = None,
           launch: bool = True, adb: Adb | None = None, timeout: float = APP_START_TIMEOUT,
           reporter: Reporter | None = None) -> DeployResult:
    """The whole `mobikit deploy`: app current, models folder present, model verified in place, app launched."""
    model = load_model_folder(output_dir)
    adb, chosen = select_device(adb or Adb(), device)
    return deploy_to(adb, chosen, model, reporter or Reporter(), apk, launch, timeout)


def deploy_to(adb: Adb, device: Device, model: LocalModel, reporter: Reporter, apk: str | os.PathLike | None = None,
              launch: bool = True, timeout: float = APP_START_TIMEOUT) -> DeployResult:
    app = ensure_app(adb, apk, reporter)
    ensure_models_dir(adb, reporter, timeout)
    uploaded = upload_model(adb, model, reporter)
    if launch:
        start_activity(adb, contract.MAIN_ACTIVITY, {contract.EXTRA_MODEL: model.name})
    return DeployResult(device.name, device.serial, model.name, f"{contract.MODELS_DIR}/{model.name}",
                        model.sha256[contract.MODEL_FILE], app, "uploaded" if uploaded else "unchanged", launch)

"""Put a quantize output folder into the demo app on a phone, verified, and switch the running app to it.

The upload goes to a temporary folder next to the model folder, is checked with sha256 on the device, and only
then renamed into place: a corrupted copy never replaces the model the app is using, and a connection dropped at any
moment leaves either a complete model under its name or a complete copy that the next deploy puts back first. The
app is "current" when the APK installed on the device (`pm path`) has the same sha256 as the local APK, and
"unchecked" when there is no local APK to compare it with.

Then the switch: `am start -W` sends the camera screen the model's name, its sha256 and a request id. The screen is
`singleTask`, so Android hands that intent to the running screen (`onNewIntent`) whether it is stopped, in the
background or in front; the app copies the folder into its internal storage, verifies the copy's sha256, loads it,
and logs one `MOBIKIT_MODEL` line with the request id — the one line deploy waits for (app_log.py), to report what
the app now runs, with how many nodes its delegate took, or why it refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..description import ModelDescription, file_sha256, load_output_folder
from ..errors import MobikitError, UsageError, printable
from ..progress import Reporter
from . import contract
from ..runtime import raise_if_stopped, stop_deferred, written
from .adb import (Adb, AdbError, AdbTimeout, Device, ShellError, check_timeout, is_transport_error, select_device,
                  transfer_timeout)
from .phone_claim import claimed
from .app_log import new_request_id, wait_for_report

APK_ENV = "MOBIKIT_APK"
CHECKOUT_APP = Path("android_app")  # a mobikit checkout's Android project, relative to the checkout root
DEBUG_APK = Path("app") / "build" / "outputs" / "apk" / "debug" / "app-debug.apk"  # relative to the project
NO_APK_HELP = (f"set ${APK_ENV} to the demo app's APK (deploy also takes --apk PATH); to build one, run "
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
    app: str  # "installed", "current" (byte-identical to the local APK) or "unchecked" (no local APK to compare)
    upload: str  # "uploaded" or "unchanged"
    launched: bool
    running: dict | None = None  # the app's MOBIKIT_MODEL report (contract.MODEL_KEYS) after the switch

    def to_json(self) -> dict:
        return asdict(self)


def load_model_folder(folder: str | os.PathLike) -> LocalModel:
    """A quantize output folder whose model.json is proven to describe its model and labels (dtypes, shapes,
    quantization, label count, sha256) — checked before anything reaches the phone."""
    checked = load_output_folder(Path(folder).resolve(), "output_dir")
    name = checked.path.name
    if name.startswith(".") or "/" in name or not name.isprintable() or not _utf8(name):
        raise UsageError("cannot use {name} as a model name on the device (a name there is printable UTF-8 text "
                         "not starting with '.': no line breaks or control characters): rename the folder",
                         name=f"'{printable(name)}'")
    longest = max(len(folder.encode("utf-8")) for folder in folder_names(name).values())
    if longest > NAME_MAX:
        raise UsageError("cannot use {name} as a model name on the device: its upload folder's name would be "
                         "{length} bytes, over the file system's {limit}: rename the folder (at most {room} bytes)",
                         name=f"'{printable(name)}'", length=longest, limit=NAME_MAX,
                         room=NAME_MAX - (longest - len(name.encode("utf-8"))))
    sha256 = {file: file_sha256(checked.path / file) for file in contract.MODEL_FILES}
    return LocalModel(checked.path, name, checked.description, sha256)


NAME_MAX = 255  # bytes in one file name on Android's file systems (ext4, f2fs), as on Linux


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_apk(apk: str | os.PathLike, origin: str | None = None) -> Path:
    """An APK given by the user (--apk, or $MOBIKIT_APK when `origin` names it): a file that is a zip holding
    AndroidManifest.xml, checked before adb is looked for (a usage error, exit 2)."""
    import zipfile

    path, where = Path(apk), ("{apk}", ("apk",)) if origin is None else (origin, ())
    if not path.is_file():
        raise UsageError(f"{where[0]} {{path}}: no such file", *where[1], path=str(apk))
    try:
        with zipfile.ZipFile(path) as archive:
            archive.getinfo("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError, OSError):
        raise UsageError(f"{where[0]} {{path}} is not an Android app (an .apk is a zip holding AndroidManifest.xml)",
                         *where[1], path=str(apk)) from None
    return path


def given_apk(apk: str | os.PathLike | None) -> Path | None:
    """The APK the user named (--apk, else $MOBIKIT_APK), checked; None when they named none."""
    if apk is not None:
        return check_apk(apk)
    if os.environ.get(APK_ENV):
        return check_apk(os.environ[APK_ENV], f"${APK_ENV}")
    return None


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
        if result.exit_code == 0 and len(sums) < len(set(paths)):
            raise AdbError(f"no answer from {tool[-1]} on the device (connection cut?)")  # adb says 0 when cut
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
    given = given_apk(apk)
    if given is not None:
        return given
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
    """Install the demo app unless the installed APK is byte-identical to ours. Returns what is known of it:
    "installed" (ours, just installed), "current" (the installed one is byte-identical to ours) or "unchecked"
    (installed, but there is no local APK to compare it with)."""
    listed = adb.shell("pm", "path", contract.PACKAGE, check=False)
    installed = [line[len("package:"):].strip() for line in listed.stdout.splitlines() if line.startswith("package:")]
    if listed.exit_code == 0 and not installed:  # pm exits 1 for a missing package; adb says 0 when the cable went
        raise AdbError("no answer from 'pm path' on the device (connection cut?)")
    local = find_apk(apk, reporter)
    if local is None:
        if installed:
            reporter.info(f"{contract.PACKAGE} is installed; no local APK to compare it with, keeping it unchecked")
            return "unchecked"
        raise UsageError(f"the demo app ({contract.PACKAGE}) is not installed and there is no APK: {NO_APK_HELP}")
    base = next((path for path in installed if path.endswith("/base.apk")), installed[0] if installed else None)
    if base is not None and remote_sha256(adb, [base]).get(base) == file_sha256(local):
        return "current"
    reporter.info(f"installing {local} ...")
    result = adb.run("install", "-r", "-g", str(local), timeout=transfer_timeout(local.stat().st_size, adb.timeout),
                     check=False)
    if result.returncode != 0 and is_transport_error(result.stderr):
        raise AdbError("'adb install' failed", result.stderr)
    if result.returncode != 0 or "Success" not in result.stdout:
        raise ShellError(f"adb install {local.name}", result.returncode, result.stdout,
                         (result.stderr + result.stdout).strip())
    return "installed"


def start_activity(adb: Adb, activity: str, extras: dict[str, str | int | float] | None = None,
                   flags: tuple[str, ...] = ("-W",)) -> str:
    """`am start -n PACKAGE/.Activity` with typed extras (`--es` for strings and numbers with a fraction, `--ei` for
    ints); `-W` waits until Android has launched it (or delivered the intent), at most the client's bound (the verb's
    --timeout). Returns am's report."""
    component = f"{contract.PACKAGE}/{activity[len(contract.PACKAGE):]}"
    argv = ["am", "start", *flags, "-n", component]
    for key, value in (extras or {}).items():
        argv += ["--ei" if isinstance(value, int) and not isinstance(value, bool) else "--es", key, str(value)]
    try:
        result = adb.shell(*argv, check=False)
    except AdbTimeout:
        raise MobikitError(f"{component} did not start within {adb.timeout:g} s: keep the phone unlocked with the "
                           "screen on, or allow more time (deploy --timeout)") from None
    text = result.stdout + result.stderr
    if result.exit_code != 0 or "Error" in text:
        error = next((line for line in text.splitlines() if "Error" in line), text.strip() or "no output")
        raise MobikitError(f"cannot start {component}: {error.strip()}")
    return result.stdout


def ensure_models_dir(adb: Adb, reporter: Reporter, timeout: float = APP_START_TIMEOUT) -> None:
    """Android 11+: only the app can create its external files folder, so start it once and wait for it."""
    if adb.shell("test", "-d", contract.MODELS_DIR, check=False).exit_code == 0:
        return
    if adb.shell("test", "-d", contract.EXTERNAL_FILES_DIR, check=False).exit_code != 0:
        reporter.info("starting the app once so that it creates its files folder ...")
        start_activity(adb, contract.MAIN_ACTIVITY)  # -W: returns once the screen is up
        deadline = time.monotonic() + timeout
        while adb.shell("test", "-d", contract.EXTERNAL_FILES_DIR, check=False).exit_code != 0:
            if time.monotonic() > deadline:
                raise MobikitError(f"the app did not create {contract.EXTERNAL_FILES_DIR} within {timeout:g} s: "
                                   "open the app on the phone once, then retry")
            time.sleep(0.3)
    adb.shell("mkdir", "-p", contract.MODELS_DIR)


# --- the model folder on the device: upload, verify, swap, recover -------------------------------------------------
#
# Three names per model under MODELS_DIR: `<m>` (the folder the app reads), `.<m>.upload` (staging) and `.<m>.old`
# (the previous model while the new one is renamed in). The device shell has no atomic exchange of two folders, only
# an atomic rename of one, so the swap is two renames with a moment in between where `<m>` is missing and the
# previous model sits complete in `.<m>.old`. Every deploy therefore works from what it finds on the phone: it checks
# the three names, takes the one step `next_step` picks, checks again, and so on. The same rules that upload and
# swap also recover any leftover of an interrupted run, putting a complete copy back under `<m>` before anything is
# deleted. The host never trusts a step it did not see the effect of: adb reports a shell command cut by a dropped
# connection as a success, so only the re-check after each step counts.

LIVE, OLD, UPLOAD = "live", "old", "upload"
RECONNECT_WAIT = 3.0  # seconds to wait for a device that dropped off, to re-check it before reporting
MAX_STEPS = 16  # twice the longest recovery + upload + swap; more means the device ignores what it is told


def model_folders(name: str) -> dict[str, str]:
    """The device paths of a model's three folder names."""
    return {LIVE: f"{contract.MODELS_DIR}/{name}", OLD: f"{contract.MODELS_DIR}/.{name}.old",
            UPLOAD: f"{contract.MODELS_DIR}/.{name}.upload"}


@dataclass(frozen=True)
class Folder:
    """What one of the three names holds, as checked on the device."""

    present: bool = False
    complete: bool = False  # model.tflite's sha256 is the one its model.json names, and labels.txt is there
    new: bool = False  # its three files are the local model's (sha256); implies complete
    sha256: tuple[tuple[str, str], ...] = ()  # (file, digest) of the files found


ABSENT = Folder()
UNVERIFIED = Folder(present=True)  # a folder whose content is not known to be complete


@dataclass(frozen=True)
class Layout:
    """The three names of one model on the device."""

    live: Folder
    old: Folder
    upload: Folder

    def with_folder(self, role: str, folder: Folder) -> Layout:
        return replace(self, **{role: folder})


@dataclass(frozen=True)
class Step:
    """One change to a model's folders: rename `source` to `target`, remove `source`, or upload into `source`."""

    kind: str  # "move", "remove" or "upload"
    source: str
    target: str | None
    doing: str  # for messages; {live}, {old} and {upload} are the folder names

    def effect(self, layout: Layout) -> Layout:
        """The layout after this step, had it fully happened (an upload is not verified until checked)."""
        if self.kind == "move":
            return layout.with_folder(self.target, getattr(layout, self.source)).with_folder(self.source, ABSENT)
        return layout.with_folder(self.source, ABSENT if self.kind == "remove" else UNVERIFIED)


PROMOTE_UPLOAD = Step("move", UPLOAD, LIVE, "moving the verified {upload} into place as {live}")
RESTORE_OLD = Step("move", OLD, LIVE, "putting the previous model back from {old} to {live}")
SET_LIVE_ASIDE = Step("move", LIVE, OLD, "moving the previous {live} aside to {old}")
REMOVE_LIVE = Step("remove", LIVE, None, "removing the incomplete {live}")
REMOVE_OLD = Step("remove", OLD, None, "removing {old}")
REMOVE_UPLOAD = Step("remove", UPLOAD, None, "removing {upload}")
UPLOAD_FILES = Step("upload", UPLOAD, None, "uploading into {upload}")


def next_step(layout: Layout) -> Step | None:
    """The one step towards "the new model under its name, nothing else"; None when there.

    Nothing complete is removed unless a complete model is under the live name; a missing live model is first
    replaced by the complete copy (the verified upload, else the previous model); the live name is vacated only when
    a verified upload is ready to take it. `.<m>.upload` counts only when it equals the local files, because
    model.json vouches for model.tflite but not for labels.txt."""
    live, old, upload = layout.live, layout.old, layout.upload
    if not live.complete and (upload.new or old.complete):
        if live.present:
            return REMOVE_LIVE
        return PROMOTE_UPLOAD if upload.new else RESTORE_OLD
    if old.present:
        return REMOVE_OLD  # the live model is complete, or this is no complete copy
    if live.new:
        return REMOVE_UPLOAD if upload.present else None
    if upload.new:
        return SET_LIVE_ASIDE  # the live name is taken (else the upload would have been promoted); .old is free
    return REMOVE_UPLOAD if upload.present else UPLOAD_FILES


def describe(layout: Layout, name: str) -> str:
    """What the phone holds under a model's names, as the object of "the phone holds ..."."""
    names = folder_names(name)
    live = layout.live
    if live.complete:
        return f"{'the new' if live.new else 'the previous'} {names[LIVE]} in place"
    missing = f"an incomplete {names[LIVE]}" if live.present else f"no {names[LIVE]} in place"
    copies = [f"the new model (verified) in {names[UPLOAD]}"] if layout.upload.new else []
    copies += [f"the previous model in {names[OLD]}"] if layout.old.complete else []
    if not copies:
        return f"{missing} and no complete copy of it"
    return f"{missing}, but {' and '.join(copies)}, which the next deploy moves into place first"


def folder_names(name: str) -> dict[str, str]:
    """The three folder names as the user sees them in a listing of the models folder."""
    return {role: path.rsplit("/", 1)[1] for role, path in model_folders(name).items()}


def inspect_folders(adb: Adb, model: LocalModel) -> Layout:
    """Check the three names on the device: which exist, and which hold a complete model (and whether the new one)."""
    paths = model_folders(model.name)
    present = [role for role, path in paths.items() if adb.shell("test", "-d", path, check=False).exit_code == 0]
    for role, path in paths.items():  # a file (not mobikit's: it makes folders) would block every deploy
        if role not in present and adb.shell("test", "-e", path, check=False).exit_code == 0:
            raise MobikitError(f"{printable(path)} on the phone is not a folder, so not one mobikit made: remove "
                               "it with 'adb shell rm' or deploy under another folder name; nothing was changed")
    files = [f"{paths[role]}/{name}" for role in present for name in contract.MODEL_FILES]
    sums = remote_sha256(adb, files) if files else {}
    folders = {}
    for role, path in paths.items():
        found = tuple((name, sums[f"{path}/{name}"]) for name in contract.MODEL_FILES if f"{path}/{name}" in sums)
        new = dict(found) == model.sha256
        complete = new or (len(found) == len(contract.MODEL_FILES) and dict(found)[contract.MODEL_FILE]
                           == declared_sha256(adb, f"{path}/{contract.MODEL_JSON}"))
        folders[role] = Folder(role in present, complete, new, found)
    return Layout(**folders)


def declared_sha256(adb: Adb, model_json: str) -> str | None:
    """The model.tflite sha256 a device model.json names (None when unreadable)."""
    result = adb.shell("cat", model_json, check=False)
    if result.exit_code == 0 and not result.stdout:
        raise AdbError(f"no answer to 'cat {model_json}' (connection cut?)")
    try:
        meta = json.loads(result.stdout) if result.exit_code == 0 else None
    except ValueError:
        return None
    return meta.get("sha256") if isinstance(meta, dict) else None


def take_step(adb: Adb, model: LocalModel, step: Step, reporter: Reporter) -> None:
    paths = model_folders(model.name)
    if step.kind == "move":
        adb.shell("mv", paths[step.source], paths[step.target])
    elif step.kind == "remove":
        adb.shell("rm", "-rf", paths[step.source])
    else:
        adb.shell("mkdir", "-p", paths[step.source])
        reporter.info(f"uploading {model.name} ({(model.folder / contract.MODEL_FILE).stat().st_size:,} bytes) ...")
        files = [model.folder / name for name in contract.MODEL_FILES]
        adb.push(files, paths[step.source] + "/",
                 timeout=transfer_timeout(sum(f.stat().st_size for f in files), adb.timeout))


def stopped(adb: Adb, model: LocalModel, before: Layout | None, step: Step | None, exc: AdbError,
            doing: str = "checking the model folders") -> MobikitError:
    """The error for a step or check that failed, saying what the phone holds: re-checked once the device is back,
    else (not back within RECONNECT_WAIT) what it can hold given the last check and the step that was in flight."""
    doing = step.doing.format(**folder_names(model.name)) if step else doing
    what = f"deploy stopped while {doing} ({exc})"
    try:
        adb.run("wait-for-device", timeout=RECONNECT_WAIT)
        now = inspect_folders(adb, model)
    except AdbError:
        if before is None:
            state = "but nothing on it was changed"
        else:
            outcomes = dict.fromkeys([describe(before, model.name), describe(step.effect(before), model.name)])
            state = (f"but it holds {next(iter(outcomes))}" if len(outcomes) == 1 else
                     f"and it is unknown whether that step happened, so it holds either {', or '.join(outcomes)}")
        return MobikitError(f"{what}; the phone cannot be checked now, {state}; reconnect and run deploy again")
    return MobikitError(f"{what}; checked again, the phone holds {describe(now, model.name)}; run deploy again")


def refuse_replacing(adb: Adb, model: LocalModel) -> None:
    """For callers that must not replace what the user deployed (bench): refuse when the phone holds another model
    under this name, or the complete copy of one that the next deploy would put back."""
    layout = inspect_folders(adb, model)
    if layout.live.new:
        return
    theirs = layout.live if layout.live.complete else layout.old if layout.old.complete else None
    if theirs is None and not layout.live.present:
        return
    digest = dict(theirs.sha256).get(contract.MODEL_FILE, "") if theirs is not None else ""
    what = f"another model named {printable(model.name)}" + (f" (model.tflite sha256 {digest[:12]}…)"
                                                              if digest else "")
    raise MobikitError(f"the phone holds {what}, deployed earlier; bench does not replace it: deploy this folder "
                       f"first to replace it knowingly ('mobikit deploy {printable(str(model.folder))}'), or rename "
                       "the folder to bench it beside the other; nothing on the phone was changed")


def upload_model(adb: Adb, model: LocalModel, reporter: Reporter) -> bool:
    """Bring the phone to "the new model under its name, verified, no leftovers" one checked step at a time;
    returns False when the new model was already in place."""
    try:
        layout = inspect_folders(adb, model)
    except AdbError as exc:
        raise stopped(adb, model, None, None, exc) from None
    already = layout.live.new
    for _ in range(MAX_STEPS):
        step = next_step(layout)
        if step is None:
            return not already
        if layout.upload.new and not layout.live.new:  # the verified upload is moving in: renames finish first
            with stop_deferred():
                layout = checked_step(adb, model, layout, step, reporter)
            if layout.live.new:
                written.append(f"{model.name} on the phone {adb.serial}")
            continue
        layout = checked_step(adb, model, layout, step, reporter)
        if step is UPLOAD_FILES and not layout.upload.new:
            found = dict(layout.upload.sha256)
            name = next(name for name in contract.MODEL_FILES if found.get(name) != model.sha256[name])
            layout = checked_step(adb, model, layout, REMOVE_UPLOAD, reporter)
            raise MobikitError(f"checksum mismatch on the device for {name}: expected {model.sha256[name][:12]}…, "
                               f"got {(found.get(name) or 'no file')[:12]}…; the upload was discarded and the phone "
                               f"holds {describe(layout, model.name)}")
    raise MobikitError(f"the device did not carry out the renames and removals it was sent ({MAX_STEPS} steps); "
                       f"the phone holds {describe(layout, model.name)}")


def checked_step(adb: Adb, model: LocalModel, layout: Layout, step: Step, reporter: Reporter) -> Layout:
    """Take one step and check the folders again (a step cut off by a drop can look like a success)."""
    try:
        take_step(adb, model, step, reporter)
        return inspect_folders(adb, model)
    except AdbError as exc:
        raise stopped(adb, model, layout, step, exc) from None


def deploy(output_dir: str | os.PathLike, device: str | None = None, apk: str | os.PathLike | None = None,
           launch: bool = True, adb: Adb | str | os.PathLike | None = None, timeout: float = APP_START_TIMEOUT,
           reporter: Reporter | None = None) -> DeployResult:
    """The whole `mobikit deploy`: app current, models folder present, model verified in place, app launched.
    The folder is checked first, before adb is even looked for."""
    check_timeout(timeout)
    model = load_model_folder(output_dir)
    given_apk(apk)
    adb, chosen = select_device((adb if isinstance(adb, Adb) else Adb(adb)).within(timeout), device)
    with claimed(adb, "deploy"):  # not while another deploy or a bench uses the phone
        return deploy_to(adb, chosen, model, reporter or Reporter(), apk, launch, timeout)


def deploy_to(adb: Adb, device: Device, model: LocalModel, reporter: Reporter, apk: str | os.PathLike | None = None,
              launch: bool = True, timeout: float = APP_START_TIMEOUT) -> DeployResult:
    """Deploy on a chosen phone; `timeout` bounds every adb call (transfers: plus their size's time) and each wait
    for the app."""
    adb = adb.within(timeout)
    try:
        app = ensure_app(adb, apk, reporter)
        ensure_models_dir(adb, reporter, timeout)
    except ShellError:
        raise
    except AdbError as exc:  # the phone dropped off before any model folder was touched
        raise stopped(adb, model, None, None, exc, "checking the demo app and its models folder") from None
    raise_if_stopped()  # a phone's thread does not see the stop's signal: no step starts after it
    uploaded = upload_model(adb, model, reporter)
    raise_if_stopped()
    running = switch_app_to(adb, model, timeout, reporter) if launch else None
    return DeployResult(device.name, device.serial, model.name, f"{contract.MODELS_DIR}/{model.name}",
                        model.sha256[contract.MODEL_FILE], app, "uploaded" if uploaded else "unchanged", launch,
                        running)


def switch_app_to(adb: Adb, model: LocalModel, timeout: float, reporter: Reporter) -> dict:
    """Send the camera screen the model (name, sha256, request id) and wait for its one report line: what it runs
    now. A refusal (digest mismatch, model that does not load) is an error naming the app's reason."""
    request = new_request_id()
    reporter.info(f"switching the app to {printable(model.name)} ...")
    start_activity(adb, contract.MAIN_ACTIVITY, {contract.EXTRA_MODEL: model.name,
                                                 contract.EXTRA_SHA256: model.sha256[contract.MODEL_FILE],
                                                 contract.EXTRA_RESULT_ID: request})
    report = wait_for_report(adb, contract.LOGCAT_MODEL_PREFIX, request, timeout, f"running {printable(model.name)}")
    if report.get("error"):
        raise MobikitError(f"the app on the phone did not switch to {printable(model.name)}: "
                           f"{printable(str(report['error']))}")
    if report.get("sha256") != model.sha256[contract.MODEL_FILE]:
        raise MobikitError(f"the app reports running {printable(str(report.get('model')))} with sha256 "
                           f"{str(report.get('sha256'))[:12]}…, not the {model.sha256[contract.MODEL_FILE][:12]}… "
                           "just deployed")
    return report

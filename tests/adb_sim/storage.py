"""Who may read and write where: app-specific external storage, internal storage, and `run-as`.

Rules modelled (developer.android.com/training/data-storage, "Data and file storage overview" and
"Access app-specific files"; developer.android.com/tools/adb "run-as"; source.android.com "Scoped storage"):
* internal storage (`/data/data/<pkg>`, also reached as `/data/user/0/<pkg>`) belongs to the app's own user id;
  the adb shell (uid 2000) can neither list, read nor write it ("Permission denied");
* `run-as <pkg> <command>` runs the command as the app's user id, in its internal folder, but only for a
  debuggable package ("run-as: package not debuggable: <pkg>") that is installed ("run-as: unknown package");
* app-specific external storage (`/sdcard/Android/data/<pkg>/files`) is writable by the shell once the app made
  it; on Android 7–9 (API 24–28) any other app holding WRITE_EXTERNAL_STORAGE can write it too — from Android 10
  scoped storage keeps other apps out (enforced for all apps from Android 11); internal storage never.
"""

from __future__ import annotations

from .device import DeviceFsError, SimDevice

INTERNAL_ROOTS = ("/data/data", "/data/user/0")
LAST_SHARED_EXTERNAL_SDK = 28  # API 28 (Android 9): the last release where other apps may write Android/data


def internal_dir(package: str) -> str:
    return f"/data/data/{package}"


def canonical(device: SimDevice, path: str) -> str:
    """`/data/user/0/<pkg>/...` is the same folder as `/data/data/<pkg>/...`."""
    path = device.normalize(path)
    if path == "/data/user/0" or path.startswith("/data/user/0/"):
        return "/data/data" + path[len("/data/user/0"):]
    return path


def owner_of(device: SimDevice, path: str) -> str | None:
    """The package whose internal storage holds `path`, or None outside every app's internal storage."""
    path = canonical(device, path)
    if path.startswith("/data/data/"):
        return path.split("/")[3]
    return None


def check_shell_access(device: SimDevice, path: str, as_package: str | None) -> None:
    """The shell (or `run-as` a package) touching `path`: another app's internal storage is refused."""
    owner = owner_of(device, path)
    if owner is not None and owner != as_package:
        raise DeviceFsError(f"{path}: Permission denied")
    if canonical(device, path) == "/data/data" and as_package is None:
        raise DeviceFsError(f"{path}: Permission denied")


def run_as(device: SimDevice, package: str) -> str | None:
    """Why `run-as package` is refused, or None when it may run."""
    app = device.apps.get(package)
    if app is None:
        return f"run-as: unknown package: {package}"
    if not app.debuggable:
        return f"run-as: package not debuggable: {package}"
    return None


def other_app_writes(device: SimDevice, path: str, data: bytes) -> None:
    """Another app with WRITE_EXTERNAL_STORAGE writes `path` (test helper); refused where Android refuses it."""
    path = canonical(device, path)
    if owner_of(device, path) is not None:
        raise DeviceFsError(f"{path}: Permission denied (another app's internal storage)")
    if path.startswith("/sdcard/Android/data/") and int(device.props["ro.build.version.sdk"]) > LAST_SHARED_EXTERNAL_SDK:
        raise DeviceFsError(f"{path}: Permission denied (scoped storage)")
    target = device.host_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)

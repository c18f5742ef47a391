"""`mobikit devices` and `mobikit deploy` (on-device `bench` is `mobikit bench --device ...`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import printable
from ..runtime import showing_result
from .common import JsonOpt, emit_json, out, reporter
from .tables import devices_table

AdbOpt = typer.Option(None, "--adb", help="adb binary (default: $ADB, $ANDROID_HOME/platform-tools, then PATH).")


def devices(adb: Optional[Path] = AdbOpt, as_json: bool = JsonOpt):
    """List connected Android devices: serial, state, model, Android version, SDK, ABI, SoC."""
    from ..android.adb import Adb

    found = Adb(adb).devices()
    with showing_result():
        show_devices(found, as_json)


def show_devices(found, as_json: bool) -> None:
    from ..android.adb import OFFLINE_FIX, UNAUTHORIZED_FIX

    if as_json:
        emit_json([d.to_json() for d in found])
        return
    if not found:
        out.print("no devices connected (USB debugging on? for Wi-Fi: adb connect HOST:PORT)")
        return
    out.print(devices_table(found))
    states = {d.state for d in found}
    if "unauthorized" in states:
        out.print(f"unauthorized: {UNAUTHORIZED_FIX}")
    if states - {"device", "unauthorized"}:
        out.print(f"offline: {OFFLINE_FIX}")


def deploy(
    output_dir: Path = typer.Argument(..., help="A quantize output folder (model.tflite, labels.txt, model.json)."),
    device: Optional[str] = typer.Option(None, "--device", help="Serial or model substring such as 'pixel' "
                                                               "(default: $ANDROID_SERIAL or the only device)."),
    apk: Optional[Path] = typer.Option(None, "--apk", help="Demo app APK (default: $MOBIKIT_APK, or the debug build "
                                                          "of the checkout you run in)."),
    no_launch: bool = typer.Option(False, "--no-launch", help="Upload only; do not start the camera activity."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for the app: to create its folder, then to report it runs the model."),
    adb: Optional[Path] = AdbOpt,
    as_json: bool = JsonOpt,
):
    """Install the demo app if needed, upload the model verified by sha256, and switch the running app to it."""
    from ..android.deploy import deploy as run_deploy

    result = run_deploy(output_dir, device, apk, launch=not no_launch, adb=adb, timeout=timeout,
                        reporter=reporter())
    with showing_result():
        show_deploy(result, as_json)


APP_STATES = {"installed": "app installed", "current": "app current",
              "unchecked": "app as installed (no local APK to compare it with)"}


def show_deploy(result, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_json())
        return
    upload = "uploaded" if result.upload == "uploaded" else "already on the device, upload skipped"
    out.print(f"{result.model} → {result.device} ({result.serial}): {APP_STATES[result.app]}, model {upload}, "
              f"sha256 {result.sha256[:12]}… verified")
    if result.running:
        out.print(f"the app runs {printable(str(result.running['model']))} on {running_delegate(result.running)}")


def running_delegate(report: dict) -> str:
    """"gpu (28 of 31 nodes)", or "xnnpack (31 of 31 nodes; the gpu delegate took 0 of 31 nodes)"."""
    used, nodes, total = report.get("delegate_used") or report.get("delegate"), report.get("delegate_nodes"), \
        report.get("graph_nodes")
    coverage = f"{nodes} of {total} nodes" if nodes is not None and total is not None else \
        f"{nodes} nodes" if nodes is not None else "no delegate"
    asked = report.get("delegate")
    return f"{used} ({coverage}" + (f"; {asked} was asked" if asked and asked != used else "") + ")"

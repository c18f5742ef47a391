"""`mobikit devices` and `mobikit deploy` (on-device `bench` is `mobikit bench --device ...`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import MobikitError, printable
from ..runtime import showing_result
from .common import JsonOpt, emit_json, err, out, reporter
from .tables import devices_table, farm_deploy_table, phone_label

AdbOpt = typer.Option(None, "--adb", help="adb binary (default: $ADB, $ANDROID_HOME/platform-tools, then PATH).")
AdbServerOpt = typer.Option(None, "--adb-server", metavar="HOST:PORT",
                            help="An adb server on another host ('adb -a -P PORT nodaemon server' there), reached "
                                 "with adb's -H/-P; repeatable (default: $MOBIKIT_ADB_SERVERS, comma-separated, "
                                 "else this host's). adb servers are unauthenticated: trusted networks only.")
DEVICE_HELP = ("A phone: serial, model substring such as 'pixel', SERVER/SERIAL, 'all', or a comma-separated list "
               "(default: $ANDROID_SERIAL or the only phone).")


def devices(adb: Optional[Path] = AdbOpt, adb_server: Optional[list[str]] = AdbServerOpt, as_json: bool = JsonOpt):
    """List the Android devices of every adb server: server, serial, state, model, Android version, SDK, ABI, SoC."""
    from ..android.farm import adb_servers, check_answered, list_devices

    listings = list_devices(adb_servers(adb_server or (), reporter()), adb, reporter())
    with showing_result():
        show_devices(listings, as_json)
    check_answered(listings)


def show_devices(listings, as_json: bool) -> None:
    from ..android.adb import OFFLINE_FIX, UNAUTHORIZED_FIX

    if as_json:
        emit_json([row for listing in listings for row in listing.to_json()])
    elif not any(listing.devices or listing.error for listing in listings):
        out.print("no devices connected (USB debugging on? for Wi-Fi: adb connect HOST:PORT)")
    else:
        out.print(devices_table(listings))
        for listing in listings:
            if listing.error is not None:
                err.print(f"adb server {listing.server.name}: error: {listing.error}")
        states = {d.state for listing in listings for d in listing.devices}
        if "unauthorized" in states:
            out.print(f"unauthorized: {UNAUTHORIZED_FIX}")
        if states - {"device", "unauthorized"}:
            out.print(f"offline: {OFFLINE_FIX}")


def deploy(
    output_dir: Path = typer.Argument(..., help="A quantize output folder (model.tflite, labels.txt, model.json)."),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    apk: Optional[Path] = typer.Option(None, "--apk", help="Demo app APK (default: $MOBIKIT_APK, or the debug build "
                                                          "of the checkout you run in)."),
    no_launch: bool = typer.Option(False, "--no-launch", help="Upload only; do not start the camera activity."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds each adb call may take (an upload: plus its "
                                                           "size at 2 MB/s) and each wait for the app: to create its "
                                                           "folder, then to report it runs the model."),
    adb: Optional[Path] = AdbOpt,
    adb_server: Optional[list[str]] = AdbServerOpt,
    as_json: bool = JsonOpt,
):
    """Install the demo app if needed, upload the model verified by sha256, and switch the running app to it."""
    from ..android.adb import LISTING_TIMEOUT, check_timeout
    from ..android.deploy import deploy as run_deploy
    from ..android.farm import adb_servers, is_several, one_phone

    if is_several(device):
        return deploy_several(output_dir, device, adb_server or (), apk, not no_launch, adb, timeout, as_json)
    check_timeout(timeout)  # before it bounds the listing
    client, device = one_phone(adb_servers(adb_server or (), reporter()), device, adb, reporter(),
                               min(timeout, LISTING_TIMEOUT))
    result = run_deploy(output_dir, device, apk, launch=not no_launch, adb=client, timeout=timeout,
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


def deploy_several(output_dir, device, servers, apk, launch, adb, timeout, as_json) -> None:
    """`deploy --device all` (or a list): one row per phone; exit 1 when any phone failed. A stop shows the rows
    so far: which phones were deployed before it."""
    from ..android.farm import failure_summary
    from ..android.farm_runs import deploy_farm

    shown: list = []
    try:
        rows = deploy_farm(output_dir, device, servers, apk, launch, adb, timeout, reporter(), on_result=shown.append)
    except KeyboardInterrupt:
        if shown:
            show_farm_deploy(shown[0], as_json)
        raise
    show_farm_deploy(rows, as_json)
    failed = [row for row in rows if row.error]
    if failed:
        others = "none was deployed" if len(failed) == len(rows) else "the others were deployed"
        keys = [(row.server, row.serial) for row in failed], [(row.server, row.serial) for row in rows]
        raise MobikitError(f"{failure_summary(*keys)}: their errors are above; {others}")


def show_farm_deploy(rows, as_json: bool) -> None:
    with showing_result():
        if as_json:
            emit_json([row.to_json() for row in rows])
        else:
            out.print(farm_deploy_table(rows))
        for row in rows:
            if row.error:
                err.print(f"{phone_label(row)}: error: {row.error}")

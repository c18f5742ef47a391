"""`mobikit serve`: output folders in a browser page, on this machine or on a phone over `adb reverse`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .android import AdbOpt
from .common import JsonOpt, emit_json, err, out, reporter


def serve(
    folders: List[Path] = typer.Argument(..., metavar="FOLDER",
                                         help="One or more quantize output folders (the page's model picker)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but loopback opens the "
                                                          "page to the network (no login: see the warning)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on; 0 picks a free one."),
    device: Optional[str] = typer.Option(None, "--device", help="Also open the page on this phone (serial or model "
                                                                "substring such as 'pixel'), over adb reverse: a "
                                                                "phone of this host's adb server only (no "
                                                                "--adb-server: adb reverse reaches a port on the adb "
                                                                "server's own host, so through a remote server it "
                                                                "cannot reach mobikit's; $MOBIKIT_ADB_SERVERS is "
                                                                "not used either)."),
    adb: Optional[Path] = AdbOpt,
    as_json: bool = JsonOpt,
):
    """Live camera classification in a browser (LiteRT.js, WebAssembly), with an image-file mode; Ctrl-C stops."""
    from ..runtime import wait_for_stop
    from ..serving import serving

    with serving(folders, host=host, port=port, device=device, adb=adb, reporter=reporter()) as session:
        if as_json:
            emit_json(session.to_json())
        else:
            names = ", ".join(model.name for model in session.models)
            out.print(f"serving {names} at {session.url}")
            if session.phone_url:
                where = "opened" if session.opened_on_phone else "reachable"
                out.print(f"on {session.device} ({session.serial}): {where} as {session.phone_url} (adb reverse)")
        err.print("Ctrl-C stops the server" + (" and removes the adb reverse rule" if session.phone_url else ""))
        wait_for_stop()

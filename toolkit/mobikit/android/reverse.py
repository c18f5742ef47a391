"""The phone reaches a server on this host as its own `localhost`: `adb reverse`, and a page opened in its browser.

`adb reverse tcp:PORT tcp:PORT` makes adbd listen on the phone's loopback port and carry each connection to the
host's port through the adb connection: the phone's browser sees `http://localhost:PORT`, which counts as a secure
context, so the page may use the camera (a LAN address over plain http would not). The rule is made with
`--no-rebind`, so a rule the user made on that port is never replaced, and removed (only that one) on the way out.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..errors import MobikitError
from ..progress import Reporter
from .adb import Adb, AdbError

VIEW_ACTION = "android.intent.action.VIEW"


@contextmanager
def reverse_port(adb: Adb, port: int) -> Iterator[str]:
    """`adb reverse --no-rebind tcp:PORT tcp:PORT` while the block runs; the rule is removed however it ends."""
    rule = f"tcp:{port}"
    try:
        adb.run("reverse", "--no-rebind", rule, rule, timeout=30)
    except AdbError as exc:
        raise MobikitError("adb reverse {rule} {rule} was refused on {serial}: {reason}", rule=rule,
                           serial=adb.serial, reason=str(exc).split(": ", 1)[-1]) from None
    try:
        yield rule
    finally:
        adb.run("reverse", "--remove", rule, timeout=30, check=False)


def open_url(adb: Adb, url: str, reporter: Reporter) -> bool:
    """Open `url` in the phone's default browser (`am start -a android.intent.action.VIEW -d URL`); False, with a
    warning saying what to do by hand, when no app takes the intent."""
    result = adb.shell("am", "start", "-a", VIEW_ACTION, "-d", url, check=False)
    said = f"{result.stdout}\n{result.stderr}"
    if result.exit_code != 0 or "Error" in said:
        detail = next((line.strip() for line in said.splitlines() if "Error" in line), said.strip()[:120])
        reporter.warn(f"could not open the browser on the phone ({detail}): open {url} there by hand")
        return False
    return True

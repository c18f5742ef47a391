"""Waiting for the demo app's answer: one bounded, blocking `logcat` read, never a polling loop.

Each activity logs exactly one line per request — `MOBIKIT_MODEL <json>` when the camera screen loaded (or refused)
a model, `MOBIKIT_BENCH <json>` when a benchmark finished — carrying the `result_id` extra of the intent that asked.
`adb shell logcat -m 1 -e <that line>` prints the buffer, then blocks until the line is there, and returns; it is
the only thing the host runs while the phone works, so nothing competes with a timed benchmark. The call has a
timeout, and a phone that drops off ends it with adb's error at once.
"""

from __future__ import annotations

import json
import re
import uuid

from ..errors import MobikitError
from . import contract
from .adb import Adb, AdbTimeout


def new_request_id() -> str:
    """A fresh `result_id`: no earlier line in the log can carry it."""
    return f"mobikit-{uuid.uuid4().hex[:12]}"


def wait_for_report(adb: Adb, prefix: str, request_id: str, timeout: float, waiting_for: str) -> dict:
    """The JSON of the app's `<prefix> {...}` line for `request_id`, waiting at most `timeout` seconds."""
    pattern = f'{prefix} .*"{contract.EXTRA_RESULT_ID}": "{re.escape(request_id)}"'
    try:
        found = adb.shell("logcat", "-v", "brief", "-m", "1", "-s", f"{contract.LOGCAT_TAG}:V", "-e", pattern,
                          timeout=timeout, check=False)
    except AdbTimeout:
        raise MobikitError(f"the app did not report {waiting_for} within {timeout:g} s: keep the phone unlocked "
                           f"with the screen on, and check 'adb logcat -s {contract.LOGCAT_TAG}'") from None
    for line in found.stdout.splitlines():
        _, marker, payload = line.partition(f"{prefix} ")
        if marker:
            try:
                report = json.loads(payload)
            except ValueError:
                continue
            if isinstance(report, dict) and report.get(contract.EXTRA_RESULT_ID) == request_id:
                return report
    raise MobikitError(f"the phone stopped answering while waiting for the app to report {waiting_for} "
                       f"({(found.stderr or found.stdout).strip() or f'logcat exit {found.exit_code}'})")

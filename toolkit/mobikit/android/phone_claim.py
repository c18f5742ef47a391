"""Which mobikit run has a phone: a `bench` or a `deploy` makes a folder of its own under /data/local/tmp
(`mobikit-<verb>-<host id>-<pid>-<random>`) before it touches the phone and removes it at the end; a second run that
finds another's folder refuses at once, instead of racing on the model's upload folder or force-stopping a
benchmark. A folder whose process on this machine is gone is removed by the next run from this machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import uuid
from contextlib import contextmanager

from ..errors import MobikitError
from ..runtime import stop_deferred
from .adb import Adb, AdbError

REMOTE_TMP = "/data/local/tmp"
_FOLDER = re.compile(r"mobikit-(bench|deploy)-([0-9a-f]{8})-(\d+)-[0-9a-f]{8}")
_claiming = threading.Lock()  # the threads of one run claim in turn, so one of two on the same phone wins


def host_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        pass
    return False


def run_folder(verb: str) -> str:
    return f"{REMOTE_TMP}/mobikit-{verb}-{host_id()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_stale(adb: Adb) -> None:
    """The folders of earlier runs from this machine whose process is gone (their phone had dropped off)."""
    listed = adb.shell("ls", REMOTE_TMP, check=False)
    stale = [name for name in listed.stdout.split() if (match := _FOLDER.fullmatch(name))
             and match[2] == host_id() and _process_gone(int(match[3]))]
    if stale and listed.exit_code == 0:
        adb.shell("rm", "-rf", *(f"{REMOTE_TMP}/{name}" for name in stale), check=False)


def claim(adb: Adb, folder: str) -> None:
    """Make this run's folder, and refuse when another run's is there. (Two processes starting at the same moment
    both refuse.)"""
    with _claiming:
        adb.shell("mkdir", folder)
        others = [match for name in adb.shell("ls", REMOTE_TMP, check=False).stdout.split()
                  if (match := _FOLDER.fullmatch(name)) and f"{REMOTE_TMP}/{name}" != folder]
        if not others:
            return
        adb.shell("rm", "-rf", folder, check=False)
    verb, host, pid = others[0].group(1, 2, 3)
    if host == host_id() and int(pid) == os.getpid():
        raise MobikitError("this run reaches this phone a second time (through another adb server): it runs once")
    whose = (f"process {pid} on this machine" if host == host_id() else
             f"another machine; if none runs there, remove its folder: adb shell rm -rf {REMOTE_TMP}/{others[0][0]}")
    raise MobikitError(f"another mobikit {verb} is using this phone ({whose}): run this one when it has finished")


@contextmanager
def claimed(adb: Adb, verb: str):
    """The phone held by this run for the block; its folder goes afterwards (left for the next run from this
    machine when the phone cannot be reached)."""
    remove_stale(adb)
    folder = run_folder(verb)
    claim(adb, folder)
    try:
        yield
    finally:
        with stop_deferred():  # a stop meanwhile is acted on once the folder is gone
            try:
                adb.shell("rm", "-rf", folder, timeout=10, check=False)
            except AdbError:
                pass

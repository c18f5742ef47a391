"""The runtime around the library: lazy, quiet TensorFlow (so the CLI stays instant and the console free of
TensorFlow's noise) and a private temporary folder per run.

TensorFlow's C++ runtime and its converter print straight to file descriptors 1 and 2 (TF_CPP_MIN_LOG_LEVEL does
not silence all of it), so the noisy calls run inside `captured_output`, which keeps the text for error reports.
"""

import os
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager


class CapturedOutput:
    text: str = ""


_fd_lock = threading.RLock()  # fds 1 and 2 belong to the process: one capture at a time, whatever the thread


@contextmanager
def captured_output():
    """Collect everything written to fds 1 and 2 (C++ and Python alike) while the block runs. Captures in several
    threads (one per phone) take turns: interleaved, each would put back the fds the other had swapped in, and the
    run's result would be printed into a deleted file."""
    with _fd_lock:
        with _captured_fds() as captured:
            yield captured


@contextmanager
def _captured_fds():
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    captured = CapturedOutput()
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")


# Signals that stop a run cleanly (temporary files removed, no output replaced, one line, exit 128 + N). SIGUSR1/2
# and SIGALRM stop it too: their default would kill it without cleaning up, and mobikit has no use for them (no
# status report on USR1, no timer). SIGQUIT keeps its default (a core dump is what it asks for); SIGPIPE is ignored
# (Python's default) and a broken standard output is handled where it is written (exit 141).
STOP_SIGNALS = {"SIGINT": "interrupted", "SIGTERM": "terminated", "SIGHUP": "hangup", "SIGALRM": "alarm",
                "SIGUSR1": "SIGUSR1", "SIGUSR2": "SIGUSR2"}

_stop_signal: list[int] = []  # the signal that asked the run to stop, once one did
_deferring: list[bool] = []  # inside `stop_deferred`: a stop is recorded, acted on when the block ends
written: list[str] = []  # outputs this run has put into place (a stop after them says so)
notes: list[str] = []  # things the library noticed for the user outside any reporter (leftovers of killed runs)
missing: list[str] = []  # what a stopped run did not get to (bench rows not measured): its stop line names them
_result_shown: list[bool] = []  # the command has started to print its result: the run's one outcome is success


def new_run() -> None:
    """Forget what an earlier run in this process recorded (the CLI calls this first)."""
    del _stop_signal[:], written[:], notes[:], missing[:], _result_shown[:]


def request_stop(signal_number: int) -> None:
    """Record that the run must stop (the CLI's signal handler calls this, then raises KeyboardInterrupt unless a
    `stop_deferred` block is running)."""
    if not _stop_signal:
        _stop_signal.append(signal_number)


def stop_requested() -> int | None:
    return _stop_signal[0] if _stop_signal else None


def stop_is_deferred() -> bool:
    return bool(_deferring)


@contextmanager
def stop_deferred():
    """A step that must finish once started (moving outputs into place, deleting the earlier one they replaced): a
    stop requested meanwhile is recorded and acted on by the next `raise_if_stopped`."""
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()


@contextmanager
def showing_result():
    """The command prints its result: from here on the run has succeeded, and a stop that arrives meanwhile or later
    is only recorded (a run reports one outcome: never its result and then a stop line)."""
    _deferring.append(True)
    _result_shown.append(True)
    try:
        yield
    finally:
        _deferring.pop()


def result_shown() -> bool:
    return bool(_result_shown)


def raise_if_stopped() -> None:
    """Stop here if a stop was requested. Library code a KeyboardInterrupt may pass through without surviving (e.g.
    TensorFlow turning it into another error) calls this, so a requested stop always stops the run."""
    if _stop_signal:
        raise KeyboardInterrupt


def tensorflow():
    """Import TensorFlow with its start-up noise silenced, and return the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    with captured_output():
        import absl.logging
        import tensorflow as tf

        absl.logging.set_verbosity(absl.logging.ERROR)
        tf.get_logger().setLevel("ERROR")
        tf.keras.layers.Input(shape=(1,))  # first Keras use logs once more from C++
    return tf


# ----------------------------------------------------------------------------------------------- owned scratch

OWNER_FILE = ".mobikit-owner"  # in every scratch folder mobikit makes: which process made it (see `stale`)


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def owned_scratch(prefix: str, parent: str | os.PathLike | None = None) -> str:
    """A fresh scratch folder carrying OWNER_FILE, so a later run can prove it is a leftover of a killed run."""
    import json
    import socket

    folder = tempfile.mkdtemp(prefix=prefix, dir=parent)
    owner = {"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid(),
             "start": _process_start(os.getpid())}
    with open(os.path.join(folder, OWNER_FILE), "w", encoding="ascii") as handle:
        json.dump(owner, handle)
    return folder


def stale(folder: str | os.PathLike) -> bool | None:
    """True when `folder` is provably a scratch folder of a mobikit process that no longer runs (killed: SIGKILL,
    power loss); False when its process still runs; None when nothing proves it is mobikit's."""
    import json
    import socket

    try:
        with open(os.path.join(folder, OWNER_FILE), encoding="ascii") as handle:
            owner = json.load(handle)
        pid, start, host, boot = int(owner["pid"]), owner["start"], owner["host"], owner["boot"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host != socket.gethostname():
        return None  # a shared folder written from another machine: its process cannot be checked from here
    return boot != _boot_id() or _process_start(pid) != start


def sweep_leftovers(parent: str | os.PathLike, prefix: str) -> list[str]:
    """Remove the scratch folders named `prefix*` in `parent` that runs killed before they could clean up left
    behind (only those provably mobikit's and dead); return the names of look-alikes that are not provably ours."""
    import shutil
    import time

    unproved = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(prefix) or entry.is_symlink():
            continue
        if entry.is_dir():
            verdict = stale(entry.path)
            if verdict:
                shutil.rmtree(entry.path, ignore_errors=True)
                continue
            if verdict is False:
                continue
            try:  # made by mkdtemp, killed before its owner file: empty (a live run's newborn one: left alone)
                if not os.listdir(entry.path):
                    if time.time() - entry.stat().st_mtime > 60:
                        os.rmdir(entry.path)
                    continue
            except OSError:
                pass
        unproved.append(entry.name)
    return unproved


_outer_tmpdir: list[str | None] = []  # TMPDIR as it was before `private_tempdir`, while one is active


def outer_environment() -> dict:
    """The environment for programs that outlive the run (the adb server `adb` starts on first use): TMPDIR as the
    user set it, not the run's private folder, which is deleted when the run ends."""
    environment = dict(os.environ)
    if _outer_tmpdir:
        if _outer_tmpdir[-1] is None:
            environment.pop("TMPDIR", None)
        else:
            environment["TMPDIR"] = _outer_tmpdir[-1]
    return environment


@contextmanager
def private_tempdir():
    """Point every temporary file of the run (TensorFlow's SavedModel exports, autograph modules, mobikit's own
    scratch files) into one fresh folder, removed when the block ends — however it ends. Folders earlier runs left
    there when killed (SIGKILL) are removed first."""
    import shutil

    sweep_leftovers(tempfile.gettempdir(), "mobikit-")
    folder = owned_scratch("mobikit-")
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    _outer_tmpdir.append(saved[1])
    tempfile.tempdir = folder
    os.environ["TMPDIR"] = folder
    try:
        yield folder
    finally:
        _outer_tmpdir.pop()
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(folder, ignore_errors=True)


def library_versions() -> dict:
    """The versions of mobikit and the libraries behind its numbers, as output folders record them."""
    from importlib import metadata

    from . import __version__

    versions = {"mobikit": __version__}
    for name in ("tensorflow", "keras", "ai-edge-litert", "numpy", "opencv-python"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def stoppable_wait(event: threading.Event, seconds: float) -> bool:
    """`event.wait(seconds)`, then stop if a stop was requested meanwhile. A KeyboardInterrupt raised inside the wait
    itself, between its lock's release and re-acquire, comes out as RuntimeError('release unlocked lock'), which no
    `except KeyboardInterrupt` sees (a stopped farm bench lost every row it had measured)."""
    with stop_deferred():
        done = event.wait(seconds)
    raise_if_stopped()
    return done


def wait_for_stop() -> None:
    """Block until a stopping signal (the CLI turns each into KeyboardInterrupt)."""
    never = threading.Event()
    while True:
        stoppable_wait(never, 0.5)

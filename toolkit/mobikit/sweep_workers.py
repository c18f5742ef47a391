"""Where a sweep's cells run: in this process, in a pool of local processes (`jobs`), or as tasks on a Ray cluster.

A task runs in a private temporary folder of the process that runs it and returns its whole result (the sweep sends
back the cell and its model folder's files): only the driver writes into the output, so a worker stopped or killed
mid-cell leaves nothing half-written there, and the output's marker never records a worker's scratch. The local
pool starts its workers with 'spawn' (TensorFlow's threads do not survive a fork); they ignore SIGINT, which a
terminal sends to the whole process group, the driver terminates them when it stops, and they end by themselves when
the driver dies (killed). Ray retries a task whose worker died (`RAY_RETRIES` times); Ray is imported only when a
sweep asks for it.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from .errors import MobikitError, UsageError, first_line
from .progress import Reporter

RAY_RETRIES = 3  # a worker killed mid-task (node lost, out of memory, a kill) runs the task again elsewhere
RAY_EXTRA = "pip install 'mobikit[ray]'"
RAY_CONNECT_SECONDS = 3  # a TCP connection to the head node: milliseconds on a working network
RAY_CHECK_SECONDS = 2  # while cells run, how often the driver checks that the head node still answers


@dataclass(frozen=True)
class Lost:
    """A task whose process died (or, on Ray, that failed on every retry): why, in one line."""

    reason: str


def check_ray(address: str) -> None:
    """Refused before anything is written: an address that is not one, and Ray missing (an optional extra)."""
    if address != "auto":
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError("{ray} takes HOST:PORT (the head node's port, 6379 unless set) or auto, got {address!r}",
                             "ray", address=address)
    if importlib.util.find_spec("ray") is None:
        raise UsageError("{ray} needs Ray, an optional extra that is not installed: " + RAY_EXTRA, "ray")


def run_all(task: Callable, arguments: Sequence[tuple], reporter: Reporter, jobs: int = 1, ray: str | None = None,
            starting: Callable[[int], None] = lambda position: None) -> Iterator[tuple[int, Any]]:
    """Yield (position, `task(*arguments[position], reporter)` or `Lost`) as each task finishes. In this process
    (`jobs` 1, no `ray`) the tasks run in order and report to `reporter` (`starting` is told before each); elsewhere
    they report to a silent reporter (Ray's inside `ray_connected`). Use it in a `contextlib.closing` block: closing it
    stops the workers."""
    if not arguments:
        return
    if ray is not None:
        yield from _on_ray(task, arguments, ray)
    elif jobs > 1:
        yield from _in_pool(task, arguments, jobs)
    else:
        for position, args in enumerate(arguments):
            starting(position)
            yield position, task(*args, reporter)


def _in_worker(task: Callable, args: tuple):
    """A task in a worker process: TensorFlow's and the task's temporary files in a folder removed afterwards (one
    left by a killed worker is removed by the next run on that host)."""
    from .runtime import private_tempdir

    with private_tempdir():
        return task(*args, Reporter())


def _end_with_parent() -> None:
    """Run first in each pool worker: it ends as soon as the driver does, however the driver ends (SIGKILL, out of
    memory), rather than holding its memory forever (and spawn's resource tracker with it). Spawn gives each child a
    pipe (`parent_process().sentinel`, a handle on Windows) that is ready once the parent has gone."""
    import multiprocessing
    import os
    import threading
    from multiprocessing.connection import wait

    sentinel = multiprocessing.parent_process().sentinel

    def watch():
        wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="mobikit-parent-watch", daemon=True).start()


@contextmanager
def _sigint_ignored():
    """Processes started in the block ignore SIGINT from their first instruction (an ignored signal stays ignored
    across exec, and Python then installs no handler): a terminal's Ctrl-C reaches the whole process group, and the
    driver alone acts on it, by stopping them."""
    import signal

    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved)


def _in_pool(task: Callable, arguments: Sequence[tuple], jobs: int) -> Iterator[tuple[int, Any]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    executor = ProcessPoolExecutor(max_workers=min(jobs, len(arguments)),
                                   mp_context=multiprocessing.get_context("spawn"), initializer=_end_with_parent)
    try:
        with _sigint_ignored():  # the pool starts its processes as tasks are submitted
            futures = {executor.submit(_in_worker, task, args): position for position, args in enumerate(arguments)}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:
                outcome = Lost("its worker process died (killed, or out of memory)")
            yield futures[future], outcome
    except BaseException:
        # Python 3.14 names this executor.terminate_workers(); until then the pool's own process table
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


def _reach(address: str) -> None:
    """Raise OSError unless something accepts a TCP connection at HOST:PORT within `RAY_CONNECT_SECONDS`."""
    import socket

    host, _, port = address.rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_SECONDS):
        pass


@contextmanager
def ray_connected(address: str | None) -> Iterator[None]:
    """Connected to the Ray cluster at `address` for the block (nothing to do for None). A sweep connects before it
    makes its folder, so a cluster it cannot reach leaves nothing behind. An address nothing listens at is refused by
    a TCP probe within seconds: Ray's client retries a dead one for minutes, deaf to signals ("auto" Ray resolves
    itself, failing at once when no cluster runs here)."""
    if address is None:
        yield
        return
    try:
        if address != "auto":
            _reach(address)
    except OSError as exc:
        raise MobikitError("cannot reach the Ray cluster at {address}: {reason}", address=address,
                           reason=exc.strerror or str(exc)) from None
    ray = _quiet_ray_init(address)
    try:
        yield
    finally:
        ray.shutdown()


def _quiet_ray_init(address: str):
    """`ray.init`, keeping the CLI's stop handlers and its console: Ray's failures reach mobikit as exceptions, which
    it reports itself, so Ray's Python and C++ logging and its coloured "(raylet)" notes (printed whatever
    `log_to_driver` says) are silenced."""
    import logging
    import os
    import signal

    import ray
    import ray._private.worker

    from .runtime import captured_output

    # read by ray.init, unless the user set them: the C++ client's log level (it logs on fd 2), and how many
    # seconds (one attempt each) to try a head that accepts connections but does not answer as Ray (20 by default)
    settings = {"RAY_BACKEND_LOG_LEVEL": "fatal", "RAY_gcs_server_port_wait_time_s": str(RAY_CONNECT_SECONDS)}
    added = [name for name in settings if name not in os.environ]
    os.environ.update({name: settings[name] for name in added})
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with captured_output():
            ray.init(address=address, logging_level=logging.CRITICAL, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise MobikitError("cannot reach the Ray cluster at {address}: {reason}", address=address,
                           reason=first_line(exc)) from None
    finally:
        for number, handler in handlers.items():  # the CLI's stop handlers, not Ray's
            signal.signal(number, handler)
        for name in added:
            del os.environ[name]
    ray._private.worker._worker_logs_enabled = False  # the "(raylet)" notes; Ray's debugger uses the same switch
    return ray


def _check_head(head: str, address: str, returned: int, total: int) -> None:
    """A cluster whose head node stopped (`ray stop`, a crash, the network) fails the run in seconds, not after
    Ray's 60-second reconnect timeout, which ends the process with no word of ours."""
    try:
        _reach(head)
    except OSError as exc:
        raise MobikitError("the Ray cluster at {address} went away: its head node {head} stopped answering "
                           "({reason}); {returned} of {total} tasks had come back (kept), a rerun resumes the rest",
                           address=address, head=head, reason=exc.strerror or str(exc), returned=returned,
                           total=total) from None


def _on_ray(task: Callable, arguments: Sequence[tuple], address: str) -> Iterator[tuple[int, Any]]:
    """The tasks on the cluster `ray_connected` joined, the head node checked every `RAY_CHECK_SECONDS`."""
    import ray
    from ray.exceptions import RayError

    head = ray.get_runtime_context().gcs_address
    pending: list = []
    try:
        remote = ray.remote(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False)(_in_worker)
        refs = {remote.remote(task, args): position for position, args in enumerate(arguments)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=RAY_CHECK_SECONDS)
            if not done:
                _check_head(head, address, len(refs) - len(pending), len(refs))
            for ref in done:
                try:
                    outcome = ray.get(ref)
                except RayError as exc:  # a task lost with its cluster: the cluster's failure, said so
                    _check_head(head, address, len(refs) - len(pending) - 1, len(refs))
                    outcome = Lost(f"the Ray task failed after {RAY_RETRIES} retries: {first_line(exc)}")
                yield refs[ref], outcome
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise

"""The demo app's own Kotlin `core`, run on the JVM behind the simulated phone.

android_app's core and its test source set are compiled once per session (android_build.core_build); its
SimulatedAppMain is started lazily, once per simulated process that needs it, and speaks one JSON object per line on
stdin/stdout: the simulator sends a request (`op`), core may call back (`call`: open/allocate/run/close the host's
LiteRT interpreter, ask whether the activity is still in the foreground) and finally answers. So what the simulated
app logs and writes — its statistics, result JSON and the random input it feeds — is the Kotlin app's, and a drift
between the host's rules and the app's shows in the tests that compare them.
"""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Callable

MAIN_CLASS = "org.mobikit.demo.core.SimulatedAppMainKt"


class AppCoreError(RuntimeError):
    """The Kotlin side failed (its stack trace), or cannot run here (the reason)."""


class AppCore:
    """One JVM running core: a conversation at a time (as one app thread would), started on first use."""

    def __init__(self, classpath: str | None = None):
        self.classpath = classpath  # None: the session's build of android_app (tests/android_build.py)
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def ask(self, request: dict, calls: dict[str, Callable[[dict], dict]] | None = None) -> dict:
        """Sends `request`, answers core's calls with `calls[name](message)` and returns core's answer."""
        with self._lock:
            process = self._started()
            try:
                return self._converse(process, request, calls or {})
            except (OSError, ValueError) as closed:  # close() while core was talking: the simulator stopped
                raise AppCoreError(f"the app's core was stopped: {closed}") from None

    def _converse(self, process: subprocess.Popen, request: dict, calls: dict) -> dict:
        self._send(process, request)
        while True:
            line = process.stdout.readline()
            if not line:
                raise AppCoreError(f"the app's core exited ({process.poll()}): {process.stderr.read()}")
            message = json.loads(line)
            if "failure" in message:
                raise AppCoreError(message["failure"])
            if "call" not in message:
                return message
            try:
                reply = calls[message["call"]](message)
            except Exception as failure:  # noqa: BLE001 — the app reports it as LiteRT's exception
                reply = {"failure": f"{type(failure).__name__}: {failure}"}
            self._send(process, reply)

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()
            self._process.stderr.close()
            self._process = None

    def _started(self) -> subprocess.Popen:
        if self._process is None:
            java, classpath = _runtime(self.classpath)
            self._process = subprocess.Popen([java, "-cp", classpath, MAIN_CLASS], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                             encoding="utf-8", bufsize=1)
        return self._process

    @staticmethod
    def _send(process: subprocess.Popen, message: dict) -> None:
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()


def _runtime(classpath: str | None) -> tuple[str, str]:
    import android_build

    build = android_build.core_build()
    if isinstance(build, str):
        raise AppCoreError(f"the simulated app runs android_app's core: {build}")
    if build.compile_result.returncode != 0:
        raise AppCoreError(f"android_app's core does not compile: {build.compile_result.stderr}")
    return build.toolchain.java, classpath or build.runtime_classpath

"""Real Chromium for the browser tests: Debian's `chromium` driven by Playwright for Python (never a downloaded
browser), headless, with a fake camera playing a .y4m clip; and `mobikit serve` started as a user starts it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = os.environ.get("MOBIKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# flags that work on a bare CI machine: no sandbox (root in a container), no GPU, no network side traffic
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs Playwright for Python (pip install -e '.[dev]')"
    if not Path(CHROMIUM).is_file():
        return "needs Chromium (Debian: apt-get install chromium) or MOBIKIT_CHROMIUM=path"
    return None


needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """A YUV4MPEG2 clip (4:2:0) of RGB frames, what Chromium's fake camera plays (looping)."""
    import cv2

    height, width = frames[0].shape[:2]
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            handle.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@contextmanager
def chromium(playwright, camera_clip: Path | None = None):
    """A fresh headless Chromium (own profile folder) → a Playwright browser context."""
    profile = Path(tempfile.mkdtemp(prefix="mobikit-chromium-"))
    flags = list(CHROMIUM_FLAGS)
    if camera_clip is not None:
        flags += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={camera_clip}"]
    try:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=flags, viewport={"width": 1000, "height": 640})
        try:
            yield context
        finally:
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Server:
    """`python -m mobikit serve ... --port 0 --json` as a subprocess; `session` is what it printed."""

    def __init__(self, *args: str, env: dict | None = None, cwd=None):
        self.process = subprocess.Popen([sys.executable, "-m", "mobikit", "serve", *args, "--port", "0", "--json"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **(env or {})}, cwd=cwd)
        self.session = self._read_session()

    def _read_session(self) -> dict:
        text = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            text += line
            if line.startswith("}"):
                return json.loads(text)
        self.process.kill()
        raise AssertionError(f"mobikit serve did not start: {text}{self.process.stderr.read()}")

    @property
    def url(self) -> str:
        return self.session["url"]

    def stop(self, sig: int = signal.SIGINT) -> subprocess.CompletedProcess:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            stdout, stderr = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

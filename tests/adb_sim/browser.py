"""The phone's browser, as far as `am start -a android.intent.action.VIEW -d URL` reaches it.

Android's activity manager resolves an ACTION_VIEW intent with an http(s) data URI to the default browser
(developer.android.com: Intent.ACTION_VIEW, "Common intents" → Web browser; `am start` options -a ACTION and
-d DATA_URI in the adb shell `am` reference). `am` prints "Starting: Intent { act=... dat=... }" and returns at
once; the browser then loads the page. Here the browser loads it over the phone's network stack as the simulated
phone has one: `http://localhost:PORT` reaches the host only through an `adb reverse` rule (tests/adb_sim/reverse);
any other address fails to load. With `device.browser_installed` False no activity takes the intent and `am` says
so as Android does ("Error: Activity not started, unable to resolve Intent").
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import reverse
from .device import SimDevice

VIEW = "android.intent.action.VIEW"
Result = tuple[int, bytes, bytes]


@dataclass
class PageLoad:
    url: str
    status: int | None  # None: the browser could not connect (ERR_CONNECTION_REFUSED)
    body: bytes
    at: float


def is_view(args: list[str]) -> bool:
    """`am start ... -a android.intent.action.VIEW ...`"""
    return args[:1] == ["start"] and any(a == "-a" and b == VIEW for a, b in zip(args, args[1:]))


def start_view(device: SimDevice, args: list[str]) -> Result:
    url, i = None, 0
    while i < len(args):
        if args[i] in ("-a", "-d") and i + 1 < len(args):
            url = args[i + 1] if args[i] == "-d" else url
            i += 2
        elif args[i] in ("-W", "-S"):
            i += 1
        else:
            return 1, b"", f"Error: Unknown option: {args[i]}\n".encode()
    shown = f"Intent {{ act={VIEW} dat={_redacted(url)} }}" if url else f"Intent {{ act={VIEW} }}"
    if url is None or not device.browser_installed or urlsplit(url).scheme not in ("http", "https"):
        return 0, f"Starting: {shown}\n".encode(), \
            f"Error: Activity not started, unable to resolve {shown[:-2]} flg=0x10000000 }}\n".encode()
    threading.Thread(target=_load, args=(device, url), daemon=True).start()
    return 0, f"Starting: {shown}\n".encode(), b""


def _redacted(url: str) -> str:
    """am prints only the scheme and authority of a data URI (the rest is "...")."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..." if parts.netloc else url


def _load(device: SimDevice, url: str) -> None:
    parts = urlsplit(url)
    status, body = None, b""
    if parts.hostname in ("localhost", "127.0.0.1") and parts.scheme == "http":
        status, body = reverse.http_get(device, parts.port or 80, parts.path or "/")
    with device.lock:
        device.page_loads.append(PageLoad(url, status, body, time.monotonic()))

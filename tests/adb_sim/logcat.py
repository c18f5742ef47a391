"""Android's log buffer and the `logcat` command, as the device path uses them.

Rules modelled (developer.android.com/tools/logcat, "Logcat command-line tool"):
* every line carries a time stamp, pid, tid, priority and tag (`threadtime` format:
  `MM-DD HH:MM:SS.mmm  PID  TID P TAG: message`);
* `-d` dumps the buffer and exits; without it logcat prints the buffer and then *waits* for new lines, so one
  bounded blocking call can wait for a line that has not been written yet;
* `-m <count>` quits after printing count lines; `-e <expr>` prints only lines whose message matches the regular
  expression; `-s TAG[:PRIORITY]` silences every other tag; `-T '<time>'` prints only lines since that time;
  `--pid=<pid>` only that process's lines; `-c` clears the buffer;
* when the device connection goes, a waiting `adb logcat` ends with an error instead of hanging.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

PRIORITIES = "VDIWEF"
TIME_FORMAT = "%m-%d %H:%M:%S"
WAIT_LIMIT = 900.0  # seconds a blocking logcat may wait in the simulator at most (a host always bounds it sooner)

_watched = threading.local()  # the stream a blocking logcat writes to, to notice the host closing it


def watch(stream) -> None:
    """Called by the shell service: a blocking logcat run on this thread ends when `stream` closes."""
    _watched.stream = stream


@dataclass(frozen=True)
class LogLine:
    seconds: float
    pid: int
    priority: str
    tag: str
    message: str

    def render(self) -> str:
        stamp = time.strftime(TIME_FORMAT, time.localtime(self.seconds)) + f".{int(self.seconds * 1000) % 1000:03d}"
        return f"{stamp} {self.pid:5d} {self.pid:5d} {self.priority} {self.tag}: {self.message}"


class LogBuffer:
    """The device's main log buffer; `write` wakes every waiting logcat."""

    def __init__(self):
        self.lines: list[LogLine] = []
        self.changed = threading.Condition()

    def write(self, tag: str, message: str, priority: str = "I", pid: int = 4242) -> None:
        with self.changed:
            for text in message.splitlines() or [""]:
                self.lines.append(LogLine(time.time(), pid, priority, tag, text))
            self.changed.notify_all()

    def clear(self) -> None:
        with self.changed:
            self.lines.clear()

    def messages(self, tag: str | None = None) -> list[str]:
        """Test helper: the messages, optionally of one tag."""
        return [line.message for line in self.lines if tag is None or line.tag == tag]

    def __iter__(self):
        return iter(line.render() for line in list(self.lines))


@dataclass
class Query:
    dump: bool = False
    clear: bool = False
    max_lines: int | None = None
    pattern: re.Pattern | None = None
    tags: dict[str, str] | None = None  # tag -> lowest priority shown; None: all tags
    since: float | None = None
    pid: int | None = None

    def shows(self, line: LogLine) -> bool:
        if self.tags is not None:
            lowest = self.tags.get(line.tag, self.tags.get("*"))
            if lowest is None or lowest == "S" or PRIORITIES.index(line.priority) < PRIORITIES.index(lowest):
                return False
        return ((self.since is None or line.seconds >= self.since) and (self.pid is None or line.pid == self.pid)
                and (self.pattern is None or self.pattern.search(line.message) is not None))


def parse(args: list[str]) -> Query | str:
    """The logcat options the device path uses, or the error text for one it does not know."""
    query, i = Query(), 0
    while i < len(args):
        arg = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        if arg == "-d":
            query.dump = True
        elif arg == "-c":
            query.clear = True
        elif arg in ("-m", "-e", "-T", "-v", "-s") and value is None:
            return f"logcat: option requires an argument -- '{arg[1:]}'"
        elif arg == "-m":
            query.max_lines, i = int(value), i + 1
        elif arg == "-e":
            query.pattern, i = re.compile(value), i + 1
        elif arg == "-T":
            try:
                stamp, _, millis = value.partition(".")
                parsed = time.strptime(f"{time.localtime().tm_year}-{stamp}", "%Y-" + TIME_FORMAT)
            except ValueError:
                return f"logcat: -T '{value}' is not a time ('MM-DD hh:mm:ss.mmm')"
            query.since, i = time.mktime(parsed) + int(millis or 0) / 1000, i + 1
        elif arg == "-v":
            i += 1  # the format: the simulator always prints threadtime
        elif arg.startswith("--pid="):
            query.pid = int(arg[6:])
        elif arg == "-s":
            query.tags = {"*": "S"}
        elif ":" in arg and not arg.startswith("-"):
            tag, _, priority = arg.partition(":")
            query.tags = {**(query.tags or {}), tag: priority or "V"}
        elif not arg.startswith("-") and query.tags is not None:
            query.tags[arg] = "V"  # `-s TAG`
        else:
            return f"logcat: unknown option {arg}"
        i += 1
    return query


def run(buffer: LogBuffer, args: list[str], device_away) -> tuple[int, bytes, bytes]:
    """One `logcat` invocation: dump, or print and wait until `-m` lines were printed or the connection goes."""
    query = parse(args)
    if isinstance(query, str):
        return 1, b"", (query + "\n").encode()
    if query.clear:
        buffer.clear()
        return 0, b"", b""
    printed, seen = [], 0
    deadline = time.monotonic() + WAIT_LIMIT
    stream = getattr(_watched, "stream", None)
    with buffer.changed:
        while True:
            for line in buffer.lines[seen:]:
                if query.shows(line) and (query.max_lines is None or len(printed) < query.max_lines):
                    printed.append(line.render())
            seen = len(buffer.lines)
            done = query.dump or (query.max_lines is not None and len(printed) >= query.max_lines)
            if done:
                return 0, "".join(f"{text}\n" for text in printed).encode(), b""
            if device_away() or (stream is not None and (stream.closed or stream.conn.dead)) \
                    or time.monotonic() > deadline:
                return 1, "".join(f"{text}\n" for text in printed).encode(), b""
            buffer.changed.wait(timeout=0.2)

"""One small error hierarchy: the library raises, the CLI turns each into a one-line message and an exit code.

Messages name the library's parameters (`calib_samples`), never command-line flags: a message template marks them
as `{calib_samples}` and lists them in `params`, so a Python caller reads "calib_samples must be >= 1" and the CLI,
through its one parameter → flag mapping, prints "--calib-samples must be >= 1".
"""

from __future__ import annotations

import os
from typing import Callable


class MobikitError(Exception):
    """A runtime failure the user can act on (exit 1)."""

    exit_code = 1

    def __init__(self, template: str, *params: str, **values):
        self.template, self.params, self.values = template, params, values
        super().__init__(self.render())

    def render(self, name_of: Callable[[str], str] = str) -> str:
        """The message with each parameter written as `name_of(parameter)`."""
        if not self.params and not self.values:
            return self.template
        values = {key: plain(value) for key, value in self.values.items()}
        return self.template.format(**{param: name_of(param) for param in self.params}, **values)


def plain(value):
    """Numbers and sequences as Python prints them (`1`, `[1, 96]`), not NumPy's repr (`np.int32(1)`)."""
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()  # NumPy scalars and arrays
    return value


class UsageError(MobikitError):
    """The command line or the inputs are wrong (exit 2)."""

    exit_code = 2



def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-empty line of an exception's message (a library's multi-line error in one line), else its type;
    a first line that ends in a colon announces the next one (Keras: "…for object <Conv2D …>:"), which is joined."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    line = " ".join(lines[:2]) if lines[0].endswith(":") else lines[0]
    return line[:limit]


def printable(name: str) -> str:
    """A path as text that prints: bytes that are not UTF-8 as \\xNN escapes, control characters as escapes."""
    raw = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in raw)


ECHO_LIMIT = 200  # characters of a user's value a message echoes


def echoed(value: str, limit: int = ECHO_LIMIT) -> str:
    """A user's value as a message quotes it: `printable`, and cut with an ellipsis past `limit` characters (a
    100,000-character --device is not echoed whole)."""
    text = printable(value)
    return text if len(text) <= limit else text[:limit] + "…"


def one_line(text: str) -> str:
    """A multi-line message (adb's stderr after a server died) as one line: its non-empty lines joined."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())

"""What every command shares: the consoles, the options and parsers, the parameter → flag mapping, JSON output.

Conventions: `--json` prints only JSON on stdout (progress, logs and anything TensorFlow prints go to stderr); user
text is printed literally (the consoles never interpret Rich markup); errors are one line.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
from contextlib import contextmanager
from enum import Enum

import typer
from rich.console import Console

from ..errors import UsageError
from ..progress import ConsoleReporter

# Library parameters whose flag is not "--" + the name with dashes: the positional arguments, per command.
FLAG_NAMES = {"folder": "FOLDER", "output_dir": "OUTPUT_DIR"}
POSITIONAL = {"bench": {"model": "MODEL", "output_dir": "MODEL"}, "eval": {"model": "MODEL"}, "demo": {"model": "MODEL"},
              "inspect": {"model": "MODEL"}, "train": {"data": "DATA"},
              "serve": {"folders": "FOLDER"}}


def flag(param: str, command: str | None = None) -> str:
    """How the command line (of `command`, when known) spells a library parameter."""
    spelled = POSITIONAL.get(command or "", {}).get(param) or FLAG_NAMES.get(param)
    return spelled or "--" + param.replace("_", "-")


class _Console(Console):
    """Rich's console, but a broken pipe reaches `cli.main` (exit 141 with a line) instead of a silent exit 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def _stdout_console() -> Console:
    stream = sys.stdout if sys.stdout is not None else open(os.devnull, "w")
    if hasattr(stream, "reconfigure"):  # a file name that is not UTF-8 prints escaped, never as a crash
        stream.reconfigure(errors="backslashreplace")
    # Tables fit the terminal, or $COLUMNS, else 80 columns (off a terminal too); a line of text is never wrapped
    return _Console(file=stream, markup=False, highlight=False, soft_wrap=True)


out = _stdout_console()
# stderr through its own descriptor: noisy TensorFlow calls temporarily capture fd 2, progress must still show
err = Console(file=os.fdopen(os.dup(2), "w", buffering=1, errors="backslashreplace"), markup=False, highlight=False,
              soft_wrap=True)


def reporter() -> ConsoleReporter:
    """Progress bars and notes on stderr (with --json too: stdout holds only the JSON)."""
    return ConsoleReporter(err)


class Arch(str, Enum):
    v1 = "v1"
    v2 = "v2"


ArchOpt = typer.Option(Arch.v1, "--arch", help="MobileNet version: v1 or v2.")
AlphaOpt = typer.Option(1.0, "--alpha", help="Width multiplier α (> 0).")
ResolutionOpt = typer.Option(224, "--resolution", help="Input size R (square, >= 32).")
WeightsOpt = typer.Option("imagenet", "--weights", help="imagenet, none, or a .h5/.weights.h5/.keras file.")
JsonOpt = typer.Option(False, "--json", help="Print only JSON on stdout.")
ThreadsOpt = typer.Option(2, "--threads", help="CPU threads for inference and latency.")


def weights_arg(weights: str) -> str | None:
    return None if weights.lower() == "none" else weights


def int_list(text: str, param: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError("{%s} takes comma-separated whole numbers, got {text!r}" % param, param, text=text) from None
    if not values or min(values) < 1:
        raise UsageError("{%s} takes numbers >= 1, got {text!r}" % param, param, text=text)
    return values


def float_list(text: str, param: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError("{%s} takes comma-separated numbers, got {text!r}" % param, param, text=text) from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise UsageError("{%s} takes finite numbers > 0, got {text!r}" % param, param, text=text)
    return values


@contextmanager
def stdout_to_stderr():
    """Around every library call: whatever it prints on stdout (TensorFlow's converter, keras' "Downloading data
    from ..." line) goes to stderr, so stdout holds only the command's results (tables, lines, --json)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def emit_json(value) -> None:
    """The result as JSON on stdout; every object (each one of a list) ends with the `mobikit_version` that made it."""
    from .. import __version__

    def stamped(item):
        return {**item, "mobikit_version": __version__} if isinstance(item, dict) else item

    value = [stamped(item) for item in value] if isinstance(value, list) else stamped(value)
    sys.stdout.write(json.dumps(value, indent=2) + "\n")
    sys.stdout.flush()

"""The `mobikit` command line: a thin skin over the Python API — parse, call the library, print.

Every command is registered here, explicitly; `main()` maps every way a run can end to one line and an exit code:
usage errors 2, runtime failures 1, Ctrl-C 130, SIGTERM 143, SIGHUP 129 (temporary files removed, earlier outputs
intact).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Optional

import typer

from ..errors import MobikitError, first_line
from ..runtime import private_tempdir, request_stop, stop_requested
from . import analyze, android, build, inspect, measure, quantize, serve, train
from .common import err, flag

app = typer.Typer(
    name="mobikit",
    help="MobileNet from the papers' tables to an int8 model measured on a phone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

COMMANDS = (
    ("profile", build.profile),
    ("build", build.build),
    ("quantize", quantize.quantize),
    ("analyze", analyze.analyze),
    ("train", train.train),
    ("bench", measure.bench),
    ("eval", measure.evaluate),
    ("sweep", measure.sweep),
    ("demo", measure.demo),
    ("serve", serve.serve),
    ("inspect", inspect.inspect),
    ("devices", android.devices),
    ("deploy", android.deploy),
)
for command_name, function in COMMANDS:
    app.command(command_name)(function)

# SIGHUP too: a closed terminal must not leave a server or an adb reverse rule behind
STOPPING_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


class _Signals:
    """SIGINT, SIGTERM and SIGHUP all unwind the run as KeyboardInterrupt (so every `finally` cleans up) and are recorded
    in `runtime`, where the library checks them too (an interrupt swallowed by TensorFlow still stops the run);
    which one it was decides the exit code."""

    def __enter__(self):
        self.saved = {number: signal.signal(number, self._stop) for number in STOPPING_SIGNALS}
        return self

    def __exit__(self, *exc):
        for number, handler in self.saved.items():
            signal.signal(number, handler)

    @property
    def received(self) -> int | None:
        return stop_requested()

    @staticmethod
    def _stop(number, _frame):
        if stop_requested() is None:
            request_stop(number)
            raise KeyboardInterrupt


def _stopped(signals: _Signals) -> int:
    number = signals.received or signal.SIGINT
    err.print(f"{STOPPING_SIGNALS[number]}: stopped; nothing half-written was left and earlier outputs are unchanged")
    return 128 + number


def _stdout_usable() -> bool:
    try:
        os.fstat(1)
    except OSError:
        return False
    return sys.stdout is not None


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the Typer app and map every failure to a one-line message and an exit code."""
    command = typer.main.get_command(app)
    argv = sys.argv[1:] if argv is None else argv
    if not _stdout_usable():
        err.print("error: standard output is closed: mobikit has nowhere to print its results")
        return 1
    with _Signals() as signals, private_tempdir():
        try:
            code = command.main(args=argv or ["--help"], prog_name="mobikit", standalone_mode=False)
        except typer.Exit as exit_:
            code = exit_.exit_code
        except typer.TyperException as exc:  # click's usage errors carry exit code 2
            ctx = getattr(exc, "ctx", None)
            hint = f" (see 'mobikit {ctx.info_name} --help')" if ctx is not None and ctx.parent is not None else ""
            err.print(f"error: {' '.join(exc.format_message().split())}{hint}")
            return exc.exit_code
        except (typer.Abort, KeyboardInterrupt):
            return _stopped(signals)
        except MobikitError as exc:
            command_name = next((arg for arg in argv if not arg.startswith("-")), None)
            err.print(f"error: {exc.render(lambda param: flag(param, command_name))}")
            return exc.exit_code
        except Exception as exc:
            if signals.received is not None:
                return _stopped(signals)
            if os.environ.get("MOBIKIT_DEBUG"):
                raise
            err.print(f"error: {type(exc).__name__}: {first_line(exc)} (set MOBIKIT_DEBUG=1 for the traceback)")
            return 1
        if signals.received is not None or code == 130:
            return _stopped(signals)
    return code if isinstance(code, int) else 0

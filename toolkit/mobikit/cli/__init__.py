"""The `mobikit` command line: a thin skin over the Python API — parse, call the library, print.

Every command is registered here, explicitly; `main()` maps every way a run can end to one line and an exit code:
usage errors 2, runtime failures 1, a stopping signal N 128+N (Ctrl-C 130, SIGHUP 129, SIGTERM 143: temporary files
removed, earlier outputs intact), a standard output closed by its reader 141 (as SIGPIPE would).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Optional

import typer

from .. import runtime
from ..errors import MobikitError, first_line, printable
from ..runtime import STOP_SIGNALS, private_tempdir, request_stop, stop_is_deferred, stop_requested
from . import analyze, android, build, inspect, measure, quantize, serve, train
from .common import err, flag, out
from .usage import usage_message

app = typer.Typer(
    name="mobikit",
    help="MobileNet from the papers' tables to an int8 model measured on a phone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)

# name, function, the one-line summary `mobikit --help` lists (whole at 80 columns: at most 62 characters)
COMMANDS = (
    ("profile", build.profile, "Params and mult-adds per layer, counted as the papers count"),
    ("build", build.build, "Build a MobileNet from the paper's table; save a .keras"),
    ("quantize", quantize.quantize, "Quantize to TFLite (int8) and verify it against float"),
    ("analyze", analyze.analyze, "Per-layer int8 error on the calibration images"),
    ("train", train.train, "Fine-tune a MobileNet on your own class folders"),
    ("bench", measure.bench, "Latency as TFLite's benchmark_model measures it, host or phone"),
    ("eval", measure.evaluate, "Top-1/top-5 accuracy and the most frequent confusions"),
    ("sweep", measure.sweep, "Quantize and time every α × resolution; plot accuracy vs cost"),
    ("demo", measure.demo, "Live classification of a camera, video or image folder"),
    ("serve", serve.serve, "The camera live in a browser, on this machine or a phone"),
    ("inspect", inspect.inspect, "What is in a .tflite: metadata, tensors, ops, precision"),
    ("devices", android.devices, "List connected Android devices"),
    ("deploy", android.deploy, "Put a model on a phone and start the demo app with it"),
)
for command_name, function, summary in COMMANDS:
    app.command(command_name, short_help=summary)(function)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"mobikit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print mobikit's version and exit.")) -> None:
    """MobileNet from the papers' tables to an int8 model measured on a phone."""


STOPPING_SIGNALS = {getattr(signal, name): word for name, word in STOP_SIGNALS.items()}


class _Signals:
    """Every stopping signal unwinds the run as KeyboardInterrupt (so every `finally` cleans up) and is recorded in
    `runtime`, where the library checks it too (an interrupt swallowed by TensorFlow still stops the run); which one
    it was decides the exit code. Inside `runtime.stop_deferred` (outputs moving into place), and once the command
    has ended (its last line being printed, the temporary folder removed), a signal is only recorded. Once a command
    has started to print its result (`runtime.showing_result`), the run has succeeded: a signal then or later
    changes neither its exit code nor its last line."""

    finishing = False

    def __enter__(self):
        self.saved = {number: signal.signal(number, self._stop) for number in STOPPING_SIGNALS}
        self.saved_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def __exit__(self, *exc):
        for number, handler in self.saved.items():
            signal.signal(number, handler)
        sys.unraisablehook = self.saved_hook

    def _unraisable(self, unraisable):
        """Our KeyboardInterrupt raised inside a finalizer (`__del__`) cannot unwind the run; the stop is recorded
        and the library's own checks end the run, so Python's "Exception ignored" traceback would only be noise."""
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            self.saved_hook(unraisable)

    @property
    def received(self) -> int | None:
        return stop_requested()

    def _stop(self, number, _frame):
        if stop_requested() is None:
            request_stop(number)
            if not (stop_is_deferred() or self.finishing):
                raise KeyboardInterrupt


def _stopped(signals: _Signals) -> int:
    number = signals.received or signal.SIGINT
    missing = f"; {'; '.join(runtime.missing)}" if runtime.missing else ""
    if runtime.written:
        err.print(f"{STOPPING_SIGNALS[number]}: stopped after {', '.join(runtime.written)} "
                  f"{'was' if len(runtime.written) == 1 else 'were'} written complete; nothing half-written was left "
                  f"and no other output changed{missing}")
    else:
        err.print(f"{STOPPING_SIGNALS[number]}: stopped; nothing half-written was left and earlier outputs are "
                  f"unchanged{missing}")
    return 128 + number


def _stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (`| head -c0`)."""
    import select

    poller = select.poll()
    poller.register(1, select.POLLOUT)
    return any(events & select.POLLERR for _fd, events in poller.poll(0))


def _broken_stdout() -> int:
    """What Unix tools do when the reader of their output goes away (SIGPIPE: exit 141), with one line saying what
    was still written, since mobikit's outputs are files."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # nothing more reaches the closed pipe, not even the flush at exit
    os.close(null)
    written = f"; {', '.join(runtime.written)} written complete" if runtime.written else ""
    err.print(f"error: standard output was closed by its reader (broken pipe){written}")
    return 128 + signal.SIGPIPE


def _failure(signals: _Signals, exc: BaseException) -> int:
    """An unexpected error: one line (the traceback with MOBIKIT_DEBUG=1), or the stop that caused it."""
    if signals.received is not None:
        return _stopped(signals)
    if os.environ.get("MOBIKIT_DEBUG"):
        raise exc
    err.print(f"error: {type(exc).__name__}: {printable(first_line(exc))} (set MOBIKIT_DEBUG=1 for the traceback)")
    return 1


def _ended(exc: BaseException, signals: _Signals, argv: list[str]) -> int:
    """The one line (last, after any notes) and the exit code of a run that ended by an exception."""
    _notes()
    if isinstance(exc, typer.Exit):
        if signals.received is not None or exc.exit_code == 130:
            return _stopped(signals)
        return exc.exit_code
    if isinstance(exc, SystemExit):  # click turns a broken pipe into exit 1, silently
        if isinstance(exc.__context__, BrokenPipeError) and _stdout_reader_gone():
            return _broken_stdout()
        raise exc
    if isinstance(exc, typer.TyperException):  # the parser's usage errors carry exit code 2
        err.print(f"error: {printable(usage_message(exc, argv))}")
        return exc.exit_code
    if isinstance(exc, (typer.Abort, KeyboardInterrupt)):
        return _stopped(signals)
    if isinstance(exc, BrokenPipeError) and signals.received is None and _stdout_reader_gone():
        return _broken_stdout()
    if isinstance(exc, MobikitError) and signals.received is None:
        command_name = next((arg for arg in argv if not arg.startswith("-")), None)
        err.print(f"error: {printable(exc.render(lambda param: flag(param, command_name)))}")  # one line, always
        return exc.exit_code
    if not isinstance(exc, Exception):
        raise exc
    return _failure(signals, exc)


def _notes() -> None:
    for note in runtime.notes:
        err.print(f"note: {note}")
    runtime.notes.clear()


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
    runtime.new_run()
    if not _stdout_usable():
        err.print("error: standard output is closed: mobikit has nowhere to print its results")
        return 1
    with _Signals() as signals, private_tempdir():
        try:
            code = command.main(args=argv or ["--help"], prog_name="mobikit", standalone_mode=False)
        except BaseException as exc:  # noqa: B036 — every way a run ends gets its line and exit code
            signals.finishing = True
            return _ended(exc, signals, argv)
        signals.finishing = True
        _notes()
        if (signals.received is not None and not runtime.result_shown()) or code == 130:
            return _stopped(signals)
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return _broken_stdout()
    return code if isinstance(code, int) else 0

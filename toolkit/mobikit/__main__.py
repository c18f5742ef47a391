"""`mobikit` and `python -m mobikit`: the entry point, which stops cleanly on a signal even while the command line
is still loading (`mobikit.cli.main` takes over the signals once it runs), and runs with a closed standard error as
Unix tools do (its messages are lost; the exit code still tells)."""

import ctypes
import os
import signal
import sys

from .runtime import STOP_SIGNALS


def _stopped_while_loading(number, _frame) -> None:
    sys.stderr.write(f"{STOP_SIGNALS[signal.Signals(number).name]}: stopped before anything started\n")
    sys.exit(128 + number)


def _exit_if_stopped_in_a_finalizer(unraisable) -> None:
    """A signal that lands while Python runs a finalizer (`__del__`, a weakref callback) raises our SystemExit where
    Python prints and ignores it, and loading would go on to run the whole command. Nothing has started yet, so the
    process ends here, with the code the line above announced."""
    if isinstance(unraisable.exc_value, SystemExit) and unraisable.exc_value.code in _LOADING_EXIT_CODES:
        sys.stderr.flush()
        os._exit(unraisable.exc_value.code)
    sys.__unraisablehook__(unraisable)


_LOADING_EXIT_CODES = {128 + getattr(signal, name) for name in STOP_SIGNALS}


def _standard_error_open() -> None:
    """A closed fd 2 would be taken by the next file opened (and written into): hold it with /dev/null."""
    try:
        os.fstat(2)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 2:
            os.dup2(fd, 2)
            os.close(fd)
        sys.stderr = open(2, "w", closefd=False)


def stop_cleanly_while_loading() -> None:
    for name in STOP_SIGNALS:
        signal.signal(getattr(signal, name), _stopped_while_loading)
    sys.unraisablehook = _exit_if_stopped_in_a_finalizer


def run() -> None:
    stop_cleanly_while_loading()
    _standard_error_open()
    from .cli import main

    code = main()
    # The run has ended and said so: a late signal is ignored rather than let Python's shutdown (which puts the
    # default handlers back) kill the process after its outputs landed and its line was printed.
    for name in STOP_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    _forget_interrupts_already_handled()
    sys.exit(code)


def _forget_interrupts_already_handled() -> None:
    """Under `python -m`, CPython kills the process with SIGINT at exit if a KeyboardInterrupt ever escaped code run
    through `PyRun_String` (native libraries run Python that way), even one mobikit caught and reported: the
    harness's train/10/ALRM case printed its stop line, then died with -2. Each `PyRun_String` call clears that flag
    (`run_eval_code_obj` in CPython's pythonrun.c), so one empty call leaves the exit code to mobikit."""
    ctypes.pythonapi.PyRun_SimpleString(b"")


if __name__ == "__main__":
    run()

"""`mobikit` and `python -m mobikit`: the entry point, which stops cleanly on a signal even while the command line
is still loading (`mobikit.cli.main` takes over the signals once it runs)."""

import signal
import sys

STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stopped_while_loading(number, _frame) -> None:
    sys.stderr.write("interrupted: stopped before anything started\n")
    sys.exit(128 + number)


def run() -> None:
    for number in STOPPING_SIGNALS:
        signal.signal(number, _stopped_while_loading)
    from .cli import main

    sys.exit(main())


if __name__ == "__main__":
    run()

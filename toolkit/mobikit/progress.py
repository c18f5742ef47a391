"""How the library reports progress and warnings without printing: a Reporter the caller passes in.

The library stays silent by default (`Reporter()`); the CLI passes `ConsoleReporter`, which draws Rich progress
bars and messages on stderr so `--json` output on stdout stays clean.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

from .runtime import raise_if_stopped

T = TypeVar("T")


def _one(_item) -> int:
    return 1


class Reporter:
    """Silent reporter: the interface the library calls."""

    def __init__(self):
        self.warnings: list[str] = []
        self.notes: list[str] = []

    def track(self, items: Iterable[T], total: int | None, description: str,
              count: Callable[[T], int] = _one) -> Iterator[T]:
        """Yield `items`, showing progress towards `total` units; `count(item)` is how many units an item is
        (a batch of 16 images counts 16). A requested stop ends the loop between items."""
        for item in items:
            raise_if_stopped()
            yield item

    def info(self, message: str) -> None:
        self.notes.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    @contextmanager
    def own_notes(self):
        """Notes and warnings of a nested run kept apart while it runs (its report holds only its own), then
        appended to this reporter's."""
        saved = self.notes, self.warnings
        self.notes, self.warnings = [], []
        try:
            yield self
        finally:
            self.notes, self.warnings = saved[0] + self.notes, saved[1] + self.warnings


class ConsoleReporter(Reporter):
    """Progress bars and messages on a Rich console (stderr)."""

    def __init__(self, console):
        super().__init__()
        self.console = console

    def track(self, items: Iterable[T], total: int | None, description: str,
              count: Callable[[T], int] = _one) -> Iterator[T]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if not self.console.is_terminal:  # logs and pipes: one line when the phase is done, with its count
            start, done = time.perf_counter(), 0
            for item in items:
                raise_if_stopped()
                yield item
                done += count(item)
            self.console.print(f"{description}: {done}" + (f"/{total}" if total and total != done else "")
                               + f" in {time.perf_counter() - start:.1f} s", markup=False)
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total)
            for item in items:
                raise_if_stopped()
                yield item
                progress.advance(task, count(item))

    def info(self, message: str) -> None:
        super().info(message)
        self.console.print(message, markup=False)

    def warn(self, message: str) -> None:
        super().warn(message)
        self.console.print(f"warning: {message}", style="yellow", markup=False)

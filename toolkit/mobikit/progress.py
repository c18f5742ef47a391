"""How the library reports progress and warnings without printing: a Reporter the caller passes in.

The library stays silent by default (`Reporter()`); the CLI passes `ConsoleReporter`, which draws Rich progress
bars and messages on stderr so `--json` output on stdout stays clean.
"""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


class Reporter:
    """Silent reporter: the interface the library calls."""

    def __init__(self):
        self.warnings: list[str] = []
        self.notes: list[str] = []

    def track(self, items: Iterable[T], total: int | None, description: str) -> Iterator[T]:
        yield from items

    def info(self, message: str) -> None:
        self.notes.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class ConsoleReporter(Reporter):
    """Progress bars and messages on a Rich console (stderr)."""

    def __init__(self, console):
        super().__init__()
        self.console = console

    def track(self, items: Iterable[T], total: int | None, description: str) -> Iterator[T]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if not self.console.is_terminal:  # logs and pipes get no bar animation, just the step
            self.console.print(f"{description}…", markup=False)
            yield from items
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total)
            for item in items:
                yield item
                progress.advance(task)

    def info(self, message: str) -> None:
        super().info(message)
        self.console.print(message, markup=False)

    def warn(self, message: str) -> None:
        super().warn(message)
        self.console.print(f"warning: {message}", style="yellow", markup=False)

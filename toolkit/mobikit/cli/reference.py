"""The command reference of the docs site, rendered from the Typer app itself: one Markdown page per command, so the
site and `--help` cannot disagree (the docs build calls this; tests/test_docs.py holds the pages against --help)."""

from __future__ import annotations

import os
from contextlib import contextmanager

import typer

HELP_WIDTH = 80  # the width the site shows without scrolling, and the narrowest terminal the CLI targets


@contextmanager
def _columns(width: int):
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def help_text(name: str | None = None, width: int = HELP_WIDTH) -> str:
    """What `mobikit [NAME] --help` prints at `width` columns."""
    from . import app

    root = typer.main.get_command(app)
    command = root if name is None else root.commands[name]
    with _columns(width), typer.Context(root, info_name="mobikit", max_content_width=width) as parent:
        ctx = parent if name is None else typer.Context(command, info_name=name, parent=parent,
                                                        max_content_width=width)
        return command.get_help(ctx).rstrip() + "\n"


def command_names() -> list[str]:
    from . import app

    return list(typer.main.get_command(app).commands)


def _option_rows(command, ctx) -> list[str]:
    """The options as `--help` lists them (the same help records), as a Markdown table."""
    rows = ["| option | what it does |", "|---|---|"]
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None or param.param_type_name == "argument":
            continue
        names, text = record
        rows.append(f"| `{names}` | {' '.join(text.split()).replace('|', '&#124;')} |")
    return rows


def command_page(name: str) -> str:
    """The Markdown page of one command: its summary, its description, its options as a table, its --help."""
    from . import app

    root = typer.main.get_command(app)
    command = root.commands[name]
    ctx = typer.Context(command, info_name=name, parent=typer.Context(root, info_name="mobikit"))
    arguments = [param.name.upper() for param in command.params if param.param_type_name == "argument"]
    lines = [f"# mobikit {name}", "", f"*{command.short_help}*", "", command.help or "", ""]
    if arguments:
        lines += [f"Arguments: {', '.join(f'`{argument}`' for argument in arguments)} (see the help text below).", ""]
    lines += _option_rows(command, ctx)
    lines += ["", f"`mobikit {name} --help` prints (at {HELP_WIDTH} columns):", "", "```text",
              help_text(name).rstrip(), "```", "",
              "This page is generated from the command line itself when the site is built.", ""]
    return "\n".join(lines)


def index_page() -> str:
    from . import app

    root = typer.main.get_command(app)
    lines = ["# Commands", "",
             "Every command has `--help` and prints only JSON on stdout with `--json`; progress, notes and warnings "
             "go to stderr. A usage error exits 2, a runtime failure 1, each with one `error:` line.", "",
             "| command | what it does |", "|---|---|"]
    lines += [f"| [`mobikit {name}`]({name}.md) | {command.short_help} |" for name, command in root.commands.items()]
    lines += ["", "`mobikit --help` prints:", "", "```text", help_text().rstrip(), "```", ""]
    return "\n".join(lines)

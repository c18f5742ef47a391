"""Command-line usage errors in mobikit's own words: which flag, what it takes, what was given, and a "did you
mean" that names the one closest flag — never the parsing library's wording ("Value error, …", "Possible
options: …")."""

from __future__ import annotations

import difflib
import re

_CHOICE = re.compile(r"^(?:Value error, )?(.*) is not one of (.*?)\.?$", re.S)
_KINDS = {"valid integer": "a whole number", "valid number": "a number", "valid float": "a number",
          "valid boolean": "true or false"}


def usage_message(exc, argv: list[str]) -> str:
    """One line for a usage error raised while parsing the command line."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "mobikit"
    see = f" (see '{command} --help')" if ctx is not None and ctx.parent is not None else ""
    if hasattr(exc, "option_name") and hasattr(exc, "possibilities"):
        return _no_such_option(exc.option_name, ctx, command, argv) + see
    param = getattr(exc, "param", None)
    if param is not None:
        flag = _spelling(param)
        if type(exc).__name__ == "MissingParameter":
            return f"{command} needs {flag}{see}"
        return _bad_value(flag, str(getattr(exc, "message", exc)), _given(flag, argv)) + see
    message = " ".join(exc.format_message().split())
    needs = re.match(r"^Option '(.*)' requires an? (?:argument|arguments)\.?$", message)
    return (f"{needs.group(1)} needs a value" if needs else message) + see


def _spelling(param) -> str:
    options = [name for name in param.opts if name.startswith("--")] or list(param.opts)
    return options[0] if getattr(param, "param_type_name", "") == "option" and options else param.name.upper()


def _no_such_option(option: str, ctx, command: str, argv: list[str]) -> str:
    known = sorted({name for param in (ctx.command.params if ctx is not None else ())
                    for name in (*param.opts, *param.secondary_opts) if name.startswith("--")} | {"--help"})
    typed = next((arg.split("=")[0] for arg in argv if arg.startswith(option) and not arg.startswith("--")), option)
    if "-" + typed in known:  # -alpha: one dash short (the parser reads it as -a lpha)
        return f"{command} has no option {typed}; did you mean -{typed}?"
    close = difflib.get_close_matches(option, known, n=1, cutoff=0.75)
    if close:
        return f"{command} has no option {option}; did you mean {close[0]}?"
    elsewhere = _where_else(option, ctx)
    return f"{command} has no option {option}" + (f"; {option} is an option of {elsewhere}" if elsewhere else "")


def _where_else(option: str, ctx) -> str | None:
    """The command (or `mobikit` itself) where an option misplaced on the command line does belong."""
    root = ctx.find_root() if ctx is not None else None
    if root is None:
        return None
    if ctx is not root and any(option in param.opts for param in root.command.params):
        return f"mobikit itself: mobikit {option}"
    owners = [name for name, sub in getattr(root.command, "commands", {}).items()
              if any(option in (*param.opts, *param.secondary_opts) for param in sub.params)]
    return f"mobikit {owners[0]}" + (" and other commands" if len(owners) > 1 else "") if owners else None


def _given(flag: str, argv: list[str]) -> str | None:
    """What the user typed for `flag` (the last occurrence wins, as in parsing)."""
    given = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            given = argv[i + 1]
        elif arg.startswith(flag + "="):
            given = arg[len(flag) + 1:]
    return given


def _bad_value(flag: str, message: str, given: str | None) -> str:
    message = " ".join(message.split())
    choice = _CHOICE.match(message)
    if choice:
        given, choices = choice.groups()
        names = [name.strip().strip("'") for name in choices.split(",")]
        return f"{flag} takes {', '.join(names[:-1]) + ' or ' + names[-1] if len(names) > 1 else names[0]}, " \
               f"got {given}"
    kind = next((words for key, words in _KINDS.items() if key in message), None)
    if kind:
        return f"{flag} takes {kind}" + (f", got {given!r}" if given is not None else "")
    return f"{flag}: {message.removeprefix('Value error, ')}"

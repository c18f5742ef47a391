"""The device shell: one command line, split with POSIX rules, run against the sandboxed filesystem.

Only simple commands exist here. Unquoted shell syntax (`;`, `|`, `&`, `>`, `$`, backquotes, globs) is refused,
so a client that forgets to quote an argument fails loudly instead of passing by luck; so does any unknown command
(exit 127, as Android's sh reports it).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import stat
import threading
import time

from mobikit.android import contract

from . import activities, apps, browser, logcat, storage
from .device import APP_DATA, AppState, DeviceFsError, SimDevice

Result = tuple[int, bytes, bytes]
PACKAGE = contract.PACKAGE  # the sim's pm installs any APK as the demo app
SHELL_SYNTAX = set(";&|<>`$*?[(){}")


def _unquoted_syntax(line: str) -> str | None:
    """The first shell metacharacter outside quotes (single quotes protect all, double quotes all but $ and `)."""
    quote, escaped = None, False
    for char in line:
        if escaped:
            escaped = False
        elif quote == "'":
            quote = None if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif quote == '"':
            if char == '"':
                quote = None
            elif char in "$`":
                return char
        elif char in "'\"":
            quote = char
        elif char in SHELL_SYNTAX:
            return char
    return None


def run_command(device: SimDevice, line: str) -> Result:
    with device.lock:
        device.commands.append(line)
    if line.endswith(" </dev/null"):  # adb's own `rm` after a push install redirects stdin; nothing to read
        line = line[:-len(" </dev/null")]
    bad = _unquoted_syntax(line)
    if bad is not None:
        return 2, b"", f"/system/bin/sh: sim: unsupported shell syntax {bad!r} in: {line}\n".encode()
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        return 2, b"", f"/system/bin/sh: syntax error: {exc}\n".encode()
    return run_argv(device, argv)


def run_interrupted(device: SimDevice, line: str) -> None:
    """What a command has done when the connection is cut half way: `rm -r` has removed the first file it reached
    (toybox removes a tree file by file); the other commands are one system call each, so they have done nothing."""
    with device.lock:
        device.commands.append(line)
    argv = shlex.split(line)
    if argv[:1] == ["toybox"]:
        argv = argv[1:]
    if argv[:1] != ["rm"]:
        return
    _, paths = _flags(argv[1:], "rRf")
    for path in paths:
        target = device.host_path(path)
        files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else []
        if files:
            files[0].unlink()
            return


def run_argv(device: SimDevice, argv: list[str], as_package: str | None = None) -> Result:
    """One command as the shell user, or (`as_package`, from run-as) as that app's user id."""
    if not argv:
        return 0, b"", b""
    name, args = argv[0], argv[1:]
    if name == "run-as":
        return _run_as(device, args)
    try:
        for arg in args:
            if arg.startswith("/"):
                storage.check_shell_access(device, arg, as_package)
    except DeviceFsError as exc:
        return 1, b"", f"{name}: {exc}\n".encode()
    if name == "toybox" and args:
        name, args = args[0], args[1:]
    elif name == "sha256sum" and not device.has_sha256sum:
        return _not_found(name)
    handler = COMMANDS.get(name)
    if handler is not None:
        try:
            return handler(device, args)
        except DeviceFsError as exc:
            return 1, b"", f"{name}: {exc}\n".encode()
    if name.startswith("/"):
        return _execute(device, name, args)
    return _not_found(name)


def _not_found(name: str) -> Result:
    return 127, b"", f"/system/bin/sh: {name}: inaccessible or not found\n".encode()


def _ok(text: str = "") -> Result:
    return 0, text.encode(), b""


def _fail(message: str, code: int = 1) -> Result:
    return code, b"", (message + "\n").encode()


def _flags(args: list[str], allowed: str) -> tuple[set[str], list[str]]:
    flags, rest = set(), []
    for arg in args:
        if arg.startswith("-") and len(arg) > 1 and not rest:
            unknown = set(arg[1:]) - set(allowed)
            if unknown:
                raise DeviceFsError(f"Unknown option '{''.join(sorted(unknown))}'")
            flags |= set(arg[1:])
        else:
            rest.append(arg)
    return flags, rest


def _getprop(device: SimDevice, args: list[str]) -> Result:
    if args:
        return _ok(device.props.get(args[0], "") + "\n")
    return _ok("".join(f"[{key}]: [{value}]\n" for key, value in sorted(device.props.items())))


def _sha256sum(device: SimDevice, args: list[str]) -> Result:
    out, err, code = "", "", 0
    for path in args:
        target = device.host_path(path)
        if target.is_file():
            out += f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {path}\n"
        else:
            err += f"sha256sum: {path}: {'Is a directory' if target.is_dir() else 'No such file or directory'}\n"
            code = 1
    return code, out.encode(), err.encode()


def _mkdir(device: SimDevice, args: list[str]) -> Result:
    flags, paths = _flags(args, "p")
    for path in paths:
        target = device.host_path(path)
        if target.is_dir() and "p" in flags:
            continue
        if target.exists():
            return _fail(f"mkdir: '{path}': File exists")
        if not target.parent.is_dir() and "p" not in flags:
            return _fail(f"mkdir: '{path}': No such file or directory")
        missing, current = [], device.normalize(path)
        while not device.host_path(current).exists():
            missing.append(current)
            current = os.path.dirname(current)
        for folder in reversed(missing):
            device.check_writable(folder)
            device.host_path(folder).mkdir()
    return _ok()


def _mv(device: SimDevice, args: list[str]) -> Result:
    _, paths = _flags(args, "f")
    if len(paths) != 2:
        return _fail("mv: needs SOURCE DEST")
    source, dest = device.host_path(paths[0]), device.host_path(paths[1])
    if not source.exists():
        return _fail(f"mv: {paths[0]}: No such file or directory")
    device.check_writable(paths[0])
    device.check_writable(paths[1])
    if dest.is_dir():
        dest = dest / source.name
    os.rename(source, dest)
    return _ok()


def _rm(device: SimDevice, args: list[str]) -> Result:
    flags, paths = _flags(args, "rRf")
    for path in paths:
        target = device.host_path(path)
        if not target.exists():
            if "f" not in flags:
                return _fail(f"rm: {path}: No such file or directory")
            continue
        device.check_writable(path)
        if target.is_dir():
            if not flags & {"r", "R"}:
                return _fail(f"rm: {path}: Is a directory")
            shutil.rmtree(target)
        else:
            target.unlink()
    return _ok()


def _cat(device: SimDevice, args: list[str]) -> Result:
    out = b""
    for path in args:
        target = device.host_path(path)
        if not target.is_file():
            return 1, out, f"cat: {path}: No such file or directory\n".encode()
        out += target.read_bytes()
    return 0, out, b""


def _test(device: SimDevice, args: list[str]) -> Result:
    if len(args) != 2 or args[0] not in ("-d", "-f", "-e", "-x"):
        return _fail("test: sim supports only -d/-f/-e/-x PATH", 2)
    target = device.host_path(args[1])
    ok = {"-d": target.is_dir, "-f": target.is_file, "-e": target.exists,
          "-x": lambda: target.is_file() and os.access(target, os.X_OK)}[args[0]]()
    return 0 if ok else 1, b"", b""


def _ls(device: SimDevice, args: list[str]) -> Result:
    flags, paths = _flags(args, "a1")
    out = ""
    for path in paths or ["/"]:
        target = device.host_path(path)
        if not target.exists():
            return 1, out.encode(), f"ls: {path}: No such file or directory\n".encode()
        names = sorted(os.listdir(target)) if target.is_dir() else [path]
        out += "".join(f"{n}\n" for n in names if "a" in flags or not n.startswith("."))
    return _ok(out)


def _chmod(device: SimDevice, args: list[str]) -> Result:
    if len(args) < 2:
        return _fail("chmod: needs MODE FILE")
    mode, paths = args[0], args[1:]
    for path in paths:
        target = device.host_path(path)
        if not target.exists():
            return _fail(f"chmod: {path}: No such file or directory")
        device.check_writable(path)
        if mode == "+x":
            target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        else:
            target.chmod(int(mode, 8))
    return _ok()


def _logcat(device: SimDevice, args: list[str]) -> Result:
    return logcat.run(device.logcat, args, lambda: device.away)


def _run_as(device: SimDevice, args: list[str]) -> Result:
    """`run-as PKG CMD...` (storage.py): the command runs in the app's internal folder, as the app."""
    if not args:
        return _fail("run-as: usage: run-as <package-name> [<command> [<args>...]]")
    refusal = storage.run_as(device, args[0])
    if refusal is not None:
        return _fail(refusal)
    home = storage.internal_dir(args[0])
    command = [word if i == 0 or word.startswith(("/", "-")) else f"{home}/{word}" for i, word in enumerate(args[1:])]
    return run_argv(device, command, as_package=args[0])


# --- package manager and activity manager ---------------------------------------------------------------------------

def _apk_dir(package: str) -> str:
    return f"/data/app/~~sim==/{package}-1"


def _pm(device: SimDevice, args: list[str]) -> Result:
    if not args:
        return _fail("pm: needs a command")
    command, rest = args[0], args[1:]
    if command == "path":
        if rest and rest[0] in device.apps:
            return _ok(f"package:{_apk_dir(rest[0])}/base.apk\n")
        return 1, b"", b""
    if command == "list" and rest[:1] == ["packages"]:
        wanted = rest[1] if len(rest) > 1 else ""
        return _ok("".join(f"package:{p}\n" for p in sorted(device.apps) if wanted in p))
    if command == "install":
        flags = [a for a in rest if a.startswith("-")]
        paths = [a for a in rest if not a.startswith("-")]
        if len(paths) != 1 or not device.host_path(paths[0]).is_file():
            return _fail(f"Failure [INSTALL_FAILED_INVALID_URI: {' '.join(paths) or 'no path'}]")
        if PACKAGE in device.apps and "-r" not in flags:
            return _fail(f"Failure [INSTALL_FAILED_ALREADY_EXISTS: Attempt to re-install {PACKAGE}]")
        data = device.host_path(paths[0]).read_bytes()
        base = device.host_path(f"{_apk_dir(PACKAGE)}/base.apk")
        base.parent.mkdir(parents=True, exist_ok=True)
        base.write_bytes(data)
        device.apps[PACKAGE] = device.apps.get(PACKAGE) or AppState()
        device.apps[PACKAGE].apk_sha256 = hashlib.sha256(data).hexdigest()
        device.install_app(PACKAGE)
        return _ok("Success\n")
    if command == "uninstall" and rest:
        if device.apps.pop(rest[-1], None) is None:
            return _fail("Failure [DELETE_FAILED_INTERNAL_ERROR]")
        shutil.rmtree(device.host_path(_apk_dir(rest[-1])), ignore_errors=True)
        shutil.rmtree(device.host_path(f"{APP_DATA}/{rest[-1]}"), ignore_errors=True)
        shutil.rmtree(device.host_path(storage.internal_dir(rest[-1])), ignore_errors=True)
        device.activities.force_stop()
        device.app = device.activities = None
        return _ok("Success\n")
    if command == "grant":
        return _ok()
    return _fail(f"pm: sim does not know '{command}'")


def _am(device: SimDevice, args: list[str]) -> Result:
    """`am start [-W] [-S] [--activity-single-top|--activity-clear-top] -n PKG/.Activity [--es/--ei/--ez K V]...`
    and `am force-stop PKG`, by the rules of activities.py; `am start -a android.intent.action.VIEW -d URL` opens the
    phone's browser (browser.py)."""
    if browser.is_view(args):
        return browser.start_view(device, args[1:])
    if args[:1] == ["force-stop"]:
        if device.activities is not None and args[1:2] == [device.activities.package]:
            device.activities.force_stop()
        return _ok()
    if args[:1] != ["start"]:
        return _fail(f"am: sim supports start and force-stop, not {args[:1]}")
    component, extras, options, i = None, {}, set(), 1
    while i < len(args):
        arg = args[i]
        if arg in ("-W", "-S", *activities.AM_FLAGS):
            options.add(arg)
            i += 1
        elif arg == "-n" and i + 1 < len(args):
            component, i = args[i + 1], i + 2
        elif arg in ("--es", "--ei", "--ez") and i + 2 < len(args):
            value = args[i + 2]
            extras[args[i + 1]] = int(value) if arg == "--ei" else (value == "true" if arg == "--ez" else value)
            i += 3
        else:
            return _fail(f"Error: Unknown option: {arg}")
    if component is None or "/" not in component:
        return _fail("Error: am start needs -n PACKAGE/.Activity")
    package, activity = component.split("/", 1)
    activity = activity[len(package) + 1:] if activity.startswith(package + ".") else activity.lstrip(".")
    if package not in device.apps or device.activities is None or activity not in device.activities.declared:
        shown = f"Starting: Intent {{ cmp={component}{' (has extras)' if extras else ''} }}\n"
        return 0, shown.encode(), (f"Error type 3\nError: Activity class {{{package}/{package}.{activity}}} "
                                   "does not exist.\n").encode()
    wait = "-W" in options
    launch = lambda: device.activities.start(activity, extras, options & set(activities.AM_FLAGS),  # noqa: E731
                                             stop_first="-S" in options)
    if not wait:  # am returns at once; the app starts on its own time
        threading.Thread(target=launch, daemon=True).start()
        return _ok(activities.am_start_report(component, bool(extras), activities.Launch("created", "", None),
                                              wait=False))
    return _ok(activities.am_start_report(component, bool(extras), launch(), wait=True))


def _execute(device: SimDevice, path: str, args: list[str]) -> Result:
    target = device.host_path(path)
    if not target.is_file():
        return _not_found(path)
    if not os.access(target, os.X_OK):
        return 126, b"", f"/system/bin/sh: {path}: can't execute: Permission denied\n".encode()
    if os.path.basename(path) == "benchmark_model":
        return apps.benchmark_model(device, args)
    return 126, b"", f"/system/bin/sh: {path}: not executable: 64-bit ELF file\n".encode()


COMMANDS = {"getprop": _getprop, "sha256sum": _sha256sum, "mkdir": _mkdir, "mv": _mv, "rm": _rm, "cat": _cat,
            "test": _test, "ls": _ls, "chmod": _chmod, "logcat": _logcat, "pm": _pm, "am": _am}

"""The README and the docs site as a reader meets them: every code block runs offline, or says why it cannot and has
its `mobikit` flags checked (a block repeating an earlier block's plain `mobikit quantize` line reuses that run's
output folder: `QuantizeRuns`); the command pages say what `--help` says; the API page lists every public name; the
README stays a front page. The conventions are in docs/development.md ("Every code block runs")."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

import mobikit
from mobikit.cli import app
from mobikit.cli.reference import HELP_WIDTH, command_names, command_page, help_text
from support import KERAS_HOME, ROOT, SHARED_MISSING, SHARED_PRESENT

PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md") if "_hooks" not in p.parts)]
SHELLS = {"bash", "console", "shell", "sh"}
RUN = SHELLS | {"python"}
SKIP = re.compile(r"^<!--\s*skip:\s*(.+?)\s*-->$")
NEEDS_SHARED = "<!-- snippets: needs ../shared -->"
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
FENCE_TIMEOUT = 600
ON_PURPOSE = "# mistyped on purpose"  # a line showing a usage error keeps its wrong flag


@dataclass
class Fence:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.lang or 'no language'})"


def fences(page: Path) -> list[Fence]:
    found, lines, i = [], page.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        match = FENCE.match(lines[i].strip())
        if not match:
            i += 1
            continue
        marker, lang, start = match.group(1), match.group(2).lower(), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i])
            i += 1
        skip = SKIP.match(lines[start - 1].strip()) if start else None
        found.append(Fence(page, start + 1, lang, "\n".join(body) + "\n", skip.group(1) if skip else None))
        i += 1
    return found


ALL = [fence for page in PAGES for fence in fences(page)]


def shell_lines(fence: Fence) -> str:
    """The commands of a shell block: a console block runs only its `$ ` lines, without the prompt."""
    if fence.lang != "console":
        return fence.code
    return "\n".join(line[2:] for line in fence.code.splitlines() if line.startswith("$ ")) + "\n"


# ------------------------------------------------------------------------------------------------ flags


def _options(command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)} | {"--help"}


def mobikit_calls(code: str) -> list[list[str]]:
    """Every `mobikit …` command line of a shell block, as tokens (continuations joined, comments dropped)."""
    calls = []
    joined = re.sub(r"\\\n", " ", code)
    for line in joined.splitlines():
        if ON_PURPOSE in line:
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split()
        current: list[str] = []
        for token in [*tokens, ";"]:
            if token in (";", "&&", "||", "|", ">", "2>", "&"):
                if current[:1] == ["mobikit"]:
                    calls.append(current)
                current = [] if token != ">" else ["<redirect>"]
            else:
                current.append(token)
    return calls


def flag_errors(call: list[str]) -> list[str]:
    root = typer.main.get_command(app)
    args = [token.strip("[]") for token in call[1:]]
    name = next((arg for arg in args if not arg.startswith("-")), None)
    command = root.commands.get(name) if name else root
    if command is None:
        return [f"no command {name!r} in: {' '.join(call)}"]
    known = _options(command)
    return [f"{flag.split('=')[0]} is not an option of mobikit{' ' + name if name else ''}: {' '.join(call)}"
            for flag in args if flag.startswith("-") and flag != "-" and flag.split("=")[0] not in known]


def accounted_for(fence: Fence) -> bool:
    """A block is output (`text`), runs (a shell or Python block), or says on the line before why it cannot."""
    return fence.lang == "text" or fence.skip is not None or fence.lang in RUN


def test_every_block_says_what_it_is():
    unlabelled = [str(fence) for fence in ALL if not fence.lang]
    assert not unlabelled, f"label these blocks (```text for output, ```bash for commands): {unlabelled}"
    unexplained = [str(fence) for fence in ALL if not accounted_for(fence)]
    assert not unexplained, f"these blocks neither run nor say why not (<!-- skip: the reason -->): {unexplained}"


def test_a_block_that_neither_runs_nor_says_why_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```kotlin\nval x = 1\n```\n\n<!-- skip: needs a phone -->\n```kotlin\nval y = 2\n```\n\n"
                    "```text\noutput\n```\n\n```bash\ntrue\n```\n")
    assert [accounted_for(fence) for fence in fences(page)] == [False, True, True, True]


def test_skipped_python_blocks_parse():
    """A Python block that cannot run is still compiled, so a syntax slip in it fails here."""
    skipped = [fence for fence in ALL if fence.lang == "python" and fence.skip is not None]
    errors = []
    for fence in skipped:
        try:
            compile(fence.code, str(fence), "exec")
        except SyntaxError as error:
            errors.append(f"{fence}: line {error.lineno}: {error.msg}")
    assert skipped and not errors, "\n".join(errors)


def test_every_mobikit_line_uses_real_commands_and_flags():
    """Skipped blocks too: a renamed or removed option fails here even where the block cannot run."""
    checked, errors = 0, []
    for fence in ALL:
        if fence.lang in SHELLS:
            for call in mobikit_calls(shell_lines(fence)):
                checked += 1
                errors += [f"{fence}: {error}" for error in flag_errors(call)]
    assert checked > 30 and not errors, "\n".join(errors)


def test_the_flag_check_can_fail():
    assert flag_errors(["mobikit", "quantize", "--alhpa", "1"]) and flag_errors(["mobikit", "quantise"])
    assert not flag_errors(["mobikit", "quantize", "--alpha=1", "-o", "x"])
    assert not flag_errors(["mobikit", "--version"])


# ------------------------------------------------------------------------------------------------ running


def _session(tmp_path: Path, page: Path) -> tuple[Path, dict]:
    work, bin_dir, keras = tmp_path / "work", tmp_path / "bin", tmp_path / "keras-empty"
    for folder in (work, bin_dir, keras):
        folder.mkdir()
    for name, command in (("mobikit", f'"{sys.executable}" -m mobikit'), ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')  # a symlink would lose the venv
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "KERAS_HOME": str(keras),
           "MOBIKIT_SNIPPET_STATE": str(tmp_path / "shell-state"), "COLUMNS": "100"}
    env.pop("MOBIKIT_DEBUG", None)
    if NEEDS_SHARED in page.read_text(encoding="utf-8"):
        if not SHARED_PRESENT:
            pytest.skip(f"{page.relative_to(ROOT)} needs ../shared: {SHARED_MISSING}")
        env["KERAS_HOME"] = str(KERAS_HOME)
    return work, env


# Variables a block sets stay set for the next block of the page, as in one terminal.
_KEEP_STATE = '''
for __name in $(compgen -v); do
  case "$__name" in __*|BASH*|FUNCNAME|PIPESTATUS|GROUPS|DIRSTACK|SHELLOPTS|EUID|PPID|UID|SHLVL|_) continue;; esac
  [ -n "${!__name+set}" ] && printenv "$__name" >/dev/null 2>&1 && continue
  declare -p "$__name" 2>/dev/null
done > "$MOBIKIT_SNIPPET_STATE"
'''


def run_fence(fence: Fence, work: Path, env: dict) -> subprocess.CompletedProcess:
    script = work.parent / f"fence_{fence.line}"
    if fence.lang == "python":
        script.with_suffix(".py").write_text(fence.code)
        argv = [sys.executable, str(script.with_suffix(".py"))]
    else:
        state = f'[ -f "$MOBIKIT_SNIPPET_STATE" ] && source "$MOBIKIT_SNIPPET_STATE"\nset -e\n'
        script.with_suffix(".sh").write_text(state + shell_lines(fence) + _KEEP_STATE)
        argv = ["bash", str(script.with_suffix(".sh"))]
    return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=FENCE_TIMEOUT,
                          stdin=subprocess.DEVNULL)


def quantize_line(fence: Fence) -> str | None:
    """The command of a shell block that is one plain `mobikit quantize …` line (no variables, no shell syntax)."""
    code = shell_lines(fence).strip() if fence.lang in SHELLS else ""
    plain = code.startswith("mobikit quantize ") and not re.search(r"[\n$;&|<>`#\\(){}*?~'\"]", code)
    return code if plain else None


class QuantizeRuns:
    """One test session's quantize blocks: the first block with a given line runs; a later block (on any page) with
    the byte-identical line, under the same KERAS_HOME rule, is not run again when its folder holds none of the
    paths the first run created: those files are copied in at the same relative paths (so the output folder has the
    same relative name) and the first run's result stands for it. Any other block, or the same line in a folder
    that already holds one of those paths, runs for real."""

    def __init__(self, store: Path):
        self.store = store
        self.done: dict[tuple[str, str], tuple[Path, list[Path], subprocess.CompletedProcess]] = {}

    def run(self, fence: Fence, work: Path, env: dict) -> subprocess.CompletedProcess:
        line = quantize_line(fence)
        if line is None:
            return run_fence(fence, work, env)
        key = (line, "shared" if env["KERAS_HOME"] == str(KERAS_HOME) else "empty")
        if key not in self.done:
            return self._first(key, fence, work, env)
        kept, created, result = self.done[key]
        if any((work / path).exists() or (work / path).is_symlink() for path in created):
            return run_fence(fence, work, env)
        for path in created:  # sorted: a folder comes before what it holds
            if (kept / path).is_dir():
                (work / path).mkdir()
            else:
                shutil.copy2(kept / path, work / path)
        return result

    def _first(self, key: tuple[str, str], fence: Fence, work: Path, env: dict) -> subprocess.CompletedProcess:
        before = set(work.rglob("*"))
        result = run_fence(fence, work, env)
        if result.returncode == 0:
            kept = self.store / f"run_{len(self.done)}"
            created = sorted(path.relative_to(work) for path in set(work.rglob("*")) - before)
            for path in created:  # sorted: a folder comes before what it holds
                if (work / path).is_dir():
                    (kept / path).mkdir(parents=True)
                else:
                    shutil.copy2(work / path, kept / path)
            self.done[key] = (kept, created, result)
        return result


@pytest.fixture(scope="session")
def quantize_runs(tmp_path_factory) -> QuantizeRuns:
    return QuantizeRuns(tmp_path_factory.mktemp("quantize-runs"))


RUNNABLE_PAGES = [page for page in PAGES if any(f.lang in RUN and f.skip is None for f in fences(page))]


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE_PAGES])
def test_page_runs(page, tmp_path, quantize_runs):
    work, env = _session(tmp_path, page)
    for fence in fences(page):
        if fence.lang not in RUN or fence.skip is not None:
            continue
        result = quantize_runs.run(fence, work, env)
        assert result.returncode == 0, (f"{fence} failed (exit {result.returncode}):\n{fence.code}\n--- stdout\n"
                                        f"{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
        assert "Traceback" not in result.stderr, f"{fence}:\n{result.stderr[-3000:]}"


def test_the_runner_keeps_shell_variables_and_stops_on_errors(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nanswer=42\n```\n\n```console\n$ test \"$answer\" = 42 && echo ok\nok\n```\n")
    work, env = _session(tmp_path, page)
    first, second = fences(page)
    assert run_fence(first, work, env).returncode == 0
    assert run_fence(second, work, env).stdout == "ok\n"
    failing = Fence(page, 99, "bash", "false\necho not reached\n", None)
    result = run_fence(failing, work, env)
    assert result.returncode != 0 and "not reached" not in result.stdout


def test_an_identical_quantize_line_reuses_the_first_runs_files(tmp_path):
    """Here `mobikit` on PATH is a script that counts its calls and writes an output folder: the subject is the
    runner's bookkeeping, not quantize."""
    page = tmp_path / "page.md"
    page.write_text("```bash\nmobikit quantize --alpha 0.25\n```\n\n```bash\nmobikit quantize --alpha 0.5\n```\n\n"
                    "```bash\nmobikit quantize --alpha 0.25 && true\n```\n")
    same, other, not_plain = fences(page)
    assert quantize_line(same) == "mobikit quantize --alpha 0.25" and quantize_line(not_plain) is None
    runs, calls = QuantizeRuns(tmp_path / "store"), tmp_path / "calls"
    sessions = []
    for name in ("first", "second", "third"):
        (tmp_path / name).mkdir()
        work, env = _session(tmp_path / name, page)
        (tmp_path / name / "bin" / "mobikit").write_text(
            f'#!/bin/sh\necho "$@" >> "{calls}"\nmkdir -p mobikit-out/m\necho "$@" > mobikit-out/m/model.tflite\n')
        sessions.append((work, env))
    (first, first_env), (second, second_env), (third, third_env) = sessions
    assert runs.run(same, first, first_env).returncode == 0
    assert runs.run(same, second, second_env).returncode == 0  # copied, not run
    assert (second / "mobikit-out" / "m" / "model.tflite").read_text() == "quantize --alpha 0.25\n"
    assert calls.read_text() == "quantize --alpha 0.25\n"
    assert runs.run(other, second, second_env).returncode == 0  # another line runs
    (third / "mobikit-out").mkdir()  # a path the first run created: this folder is not where it started
    assert runs.run(same, third, third_env).returncode == 0
    assert runs.run(not_plain, third, third_env).returncode == 0
    assert calls.read_text().splitlines() == ["quantize --alpha 0.25", "quantize --alpha 0.5"] + \
        ["quantize --alpha 0.25"] * 2


# ------------------------------------------------------------------------------------------------ the pages


@pytest.mark.parametrize("name", command_names())
def test_command_page_is_what_help_prints(name):
    shown = subprocess.run([sys.executable, "-m", "mobikit", name, "--help"], capture_output=True, text=True,
                           env={**os.environ, "COLUMNS": str(HELP_WIDTH)}, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == help_text(name)
    page = command_page(name)
    assert help_text(name).rstrip() in page
    command = typer.main.get_command(app).commands[name]
    for param in command.params:
        if param.param_type_name == "option":
            assert all(f"{opt}" in page for opt in param.opts), (name, param.opts)


@pytest.mark.parametrize("columns", [80, 120])
def test_help_lists_every_summary_whole(columns):
    shown = subprocess.run([sys.executable, "-m", "mobikit", "--help"], capture_output=True, text=True,
                           env={**os.environ, "COLUMNS": str(columns)}, timeout=60)
    listing = shown.stdout.split("Commands:")[1]
    assert shown.returncode == 0 and "..." not in listing, shown.stdout
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        assert re.search(rf"^  {name} +{re.escape(command.short_help)}$", shown.stdout, re.M), (columns, name)
    assert max(len(line) for line in shown.stdout.splitlines()) <= columns


def test_python_api_page_documents_every_public_name():
    page = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    missing = [name for name, (module, attribute) in mobikit._API.items()
               if f"::: mobikit.{module}.{attribute}\n" not in page]
    assert not missing, missing


def test_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, len(lines)
    links = re.findall(r"\]\((docs/[^)#]+)", "\n".join(lines))
    assert links and all((ROOT / link).exists() for link in links), [l for l in links if not (ROOT / l).exists()]

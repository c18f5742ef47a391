"""The generative fault harness: every command that writes × a phase boundary × a fault, checked against the
invariants of the output policy. tests/test_fault_cases.py runs a seeded sample on each CI run; the full cross
product is benchmarks/fault_matrix.py.

A phase boundary is a line the run's Reporter prints on stderr (off a terminal: one line per finished phase, one per
note); phase 0 is "the CLI is still loading" (0.5 s after start). The fault is delivered when the run reaches it; a
run that ends first is checked as it ended.

Invariants, checked on every case:
1. a user's file is never changed (every input and a file of the user's beside the outputs, byte for byte);
2. an earlier output is byte-identical unless the run reports success (exit 0, or a stop/broken-pipe line naming
   it as written complete); a killed run (SIGKILL) may only have swapped in a complete new output;
3. no litter survives the next run: what a later run does first (`check_target` beside the outputs, the private
   TMPDIR sweep) leaves no `.mobikit-tmp-*` and an empty TMPDIR;
4. the exit code is in the documented set, with exactly one final line (`error: …` or `<signal word>: stopped …`)
   and no traceback;
5. nothing is left running (the run's process group is empty when it has exited).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import still_running

SEED_VARIABLE = "MOBIKIT_FAULT_SEED"
CASES_VARIABLE = "MOBIKIT_FAULT_CASES"
OTHER_VERSION_VARIABLE = "MOBIKIT_FAULT_PYTHONPATH"  # the toolkit/ folder of another mobikit to run the cases on
TEMP_PREFIX = ".mobikit-tmp-"
SIZE = ["--alpha", "0.25", "--resolution", "96", "--weights", "none"]
LOADING_DELAY = 0.5  # phase 0: the entry point has installed its handlers, the CLI is still importing


def run_seed() -> int:
    """The seed of this run: $MOBIKIT_FAULT_SEED, else a new one, kept there so that every generated test of the
    run shares it (conftest prints it in pytest's summary)."""
    value = os.environ.get(SEED_VARIABLE)
    if not value:
        value = os.environ[SEED_VARIABLE] = str(random.SystemRandom().randrange(1 << 32))
    return int(value)


# ------------------------------------------------------------------------------------------------ the case space


@dataclass(frozen=True)
class Command:
    """A command that writes: its arguments (run in the workspace), the outputs it writes there, and how many phase
    boundaries it announces at most (measured on clean runs: later ones are not reached)."""

    name: str
    argv: tuple[str, ...]
    outputs: tuple[str, ...]
    phases: int
    resumable: bool = False  # a sweep folder is filled step by step and kept to resume from


COMMANDS = {command.name: command for command in (
    Command("build", ("build", *SIZE, "-o", "m.keras"), ("m.keras",), 0),  # announces nothing on stderr
    Command("quantize", ("quantize", *SIZE, "--calib-samples", "8", "-o", "own"), ("own",), 7),
    Command("analyze", ("analyze", "own", "--weights", "none", "--calib-samples", "4"), ("own",), 2),
    # lines 10–17 come while the int8 model is made, after the train folder is ready (data-loss path 1)
    Command("train", ("train", "data", *SIZE, "--epochs", "1", "--fine-tune", "0", "--quantize", "-o", "t"),
            ("t", "t_int8"), 18),
    Command("demo", ("demo", "own", "--source", "photos", "--no-window", "-o", "v.mp4"), ("v.mp4",), 1),
    Command("sweep", ("sweep", *SIZE, "--calib-samples", "4", "--no-bias-correction", "-o", "sw"), ("sw",), 5,
            resumable=True),
)}

STOP_WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hangup",
              signal.SIGALRM: "alarm", signal.SIGUSR1: "SIGUSR1"}
SIGNAL_FAULTS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "HUP": signal.SIGHUP, "USR1": signal.SIGUSR1,
                 "ALRM": signal.SIGALRM, "KILL": signal.SIGKILL}
STREAM_FAULTS = ("stdout-closed", "stdout-broken", "stderr-closed")
FAULTS = (*SIGNAL_FAULTS, *STREAM_FAULTS, "disk-full")
PHASELESS = set(STREAM_FAULTS) | {"disk-full"}  # faults present from the start: one phase only


@dataclass(frozen=True)
class Case:
    command: str
    phase: int
    fault: str

    @property
    def id(self) -> str:
        return f"{self.command}/{self.phase}/{self.fault}"

    @classmethod
    def parse(cls, text: str) -> "Case":
        command, phase, fault = text.split("/")
        return cls(command, int(phase), fault)

    def reproduction(self, seed: int) -> str:
        return (f"{SEED_VARIABLE}={seed} {CASES_VARIABLE}={self.id} python -m pytest tests/test_fault_cases.py"
                f"   # or: python benchmarks/fault_matrix.py --case {self.id}")


def cross_product() -> list[Case]:
    """Every command × phase × fault."""
    cases = []
    for command, fault in itertools.product(COMMANDS.values(), FAULTS):
        phases = [0] if fault in PHASELESS else range(command.phases + 1)
        cases += [Case(command.name, phase, fault) for phase in phases]
    return cases


def sample(seed: int, count: int) -> list[Case]:
    """`count` cases drawn with `seed`: every fault and every command at least once when count allows, the rest at
    random (cheap commands favoured: a train case costs several quantize cases)."""
    rng = random.Random(seed)
    every = cross_product()
    rng.shuffle(every)
    chosen: list[Case] = []
    for key in (*FAULTS, *COMMANDS):  # coverage first
        pick = next((c for c in every if key in (c.fault, c.command) and c not in chosen), None)
        if pick is not None and len(chosen) < count:
            chosen.append(pick)
    weights = {"train": 0.3, "sweep": 0.4}
    rest = [c for c in every if c not in chosen]
    while len(chosen) < count and rest:
        case = rng.choices(rest, [weights.get(c.command, 1.0) for c in rest])[0]
        rest.remove(case)
        chosen.append(case)
    return chosen


# ------------------------------------------------------------------------------------------------ the workspace


def _files(folder: Path) -> dict[str, str]:
    """Every file and link below `folder` → its digest (or link target); folders as themselves."""
    found = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            if os.path.islink(path):
                found[relative] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                found[relative] = "folder"
            else:
                with open(path, "rb") as handle:
                    found[relative] = hashlib.sha256(handle.read()).hexdigest()
    return found


def _noise_png(path: Path, seed: int) -> None:
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.resize(coarse, (48, 48), interpolation=cv2.INTER_CUBIC))


def make_workspace(ws: Path, tiny_output: Path, photos: Path) -> None:
    """Inputs of every command, a file of the user's, and an earlier output of mobikit's own under every output
    name (made through the output policy, so they carry real markers)."""
    from mobikit.outputs import new_file, new_folder

    ws.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_output, ws / "own")
    (ws / "photos").mkdir()
    for name in sorted(os.listdir(photos))[:3]:
        shutil.copy(photos / name, ws / "photos" / name)
    for label, klass in enumerate(("ants", "bees")):
        (ws / "data" / klass).mkdir(parents=True)
        for number in range(10):
            _noise_png(ws / "data" / klass / f"{number}.png", 100 * label + number)
    (ws / "notes.txt").write_text("the user's notes\n")
    for name, kind in (("t", "train"), ("t_int8", "quantize")):
        with new_folder(ws / name, kind) as folder:
            (folder / "model.keras").write_bytes(b"earlier " + name.encode())
            (folder / "report.md").write_text(f"earlier {name}\n")
    import zipfile

    with new_file(ws / "m.keras", "keras-model") as staging:
        with zipfile.ZipFile(staging, "w") as archive:
            archive.writestr("config.json", "{}")
    with new_file(ws / "v.mp4", "demo-video") as staging:
        staging.write_bytes(b"\0\0\0\x08free")


# ------------------------------------------------------------------------------------------------ one case


@dataclass
class Outcome:
    case: Case
    returncode: int | None
    stderr: str
    delivered: bool
    seconds: float
    violations: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the case could not be set up here (a tmpfs needs root)

    def report(self, seed: int) -> str:
        lines = "\n  ".join(self.violations)
        return (f"{self.case.id}: {len(self.violations)} invariant(s) broken (exit {self.returncode}, fault "
                f"{'delivered' if self.delivered else 'not reached'}):\n  {lines}\nstderr:\n{self.stderr[-2000:]}\n"
                f"reproduce: {self.case.reproduction(seed)}")


def _mount_small(folder: Path, size: str = "48m") -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def _fill(folder: Path, leave: int = 8192) -> None:
    free = shutil.disk_usage(folder).free - leave
    if free > 0:
        with open(folder / "filler", "wb") as handle:
            handle.truncate(0)
            for _ in range(free // (1 << 20)):
                handle.write(b"\0" * (1 << 20))
            handle.write(b"\0" * (free % (1 << 20)))


def run_case(case: Case, root: Path, tiny_output: Path, photos: Path, timeout: float = 400) -> Outcome:
    """Run one case in a fresh workspace under `root` and check every invariant."""
    command = COMMANDS[case.command]
    ws, temp = root / "ws", root / "tmp"
    temp.mkdir(parents=True)
    mounted = case.fault == "disk-full" and _mount_small(ws)
    if case.fault == "disk-full" and not mounted:
        return Outcome(case, None, "", False, 0.0, skipped="cannot mount a small tmpfs here (needs root)")
    try:
        return _run_in(case, command, ws, temp, tiny_output, photos, timeout, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(ws)], capture_output=True)


def _run_in(case: Case, command: Command, ws: Path, temp: Path, tiny_output: Path, photos: Path, timeout: float,
            mounted: bool) -> Outcome:
    make_workspace(ws, tiny_output, photos)
    if mounted:
        _fill(ws)
    outputs = set(command.outputs)
    before = _files(ws)
    user_before = {k: v for k, v in before.items() if k.split(os.sep)[0] not in outputs | {"filler"}}
    earlier = {name: {k: v for k, v in before.items() if k == name or k.startswith(name + os.sep)}
               for name in command.outputs}

    stdout_target: int | None = subprocess.PIPE
    read_end = None
    pass_fds: tuple[int, ...] = ()
    if case.fault == "stdout-broken":
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the run writes anything (`| head -c0`)
        stdout_target = write_end
    closes = {"stdout-closed": 1, "stderr-closed": 2}.get(case.fault)

    def child() -> None:
        if closes is not None:
            os.close(closes)

    env = {**os.environ, "TMPDIR": str(temp), "PYTHONUNBUFFERED": "1"}
    if os.environ.get(OTHER_VERSION_VARIABLE):  # run the cases against another checkout (e.g. before a fix)
        env["PYTHONPATH"] = os.environ[OTHER_VERSION_VARIABLE]
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "mobikit", *command.argv], cwd=ws, env=env,
                               stdin=subprocess.DEVNULL, stdout=stdout_target, stderr=subprocess.PIPE,
                               preexec_fn=child, start_new_session=True, pass_fds=pass_fds)
    if case.fault == "stdout-broken":
        os.close(stdout_target)
    lines: list[str] = []
    seen = threading.Condition()

    def read_stderr() -> None:
        for raw in process.stderr:
            with seen:
                lines.append(raw.decode("utf-8", "replace"))
                seen.notify_all()
        with seen:
            lines.append(None)  # end of stream
            seen.notify_all()

    def read_stdout() -> None:
        if process.stdout is not None:
            process.stdout.read()

    readers = [threading.Thread(target=read_stderr, daemon=True), threading.Thread(target=read_stdout, daemon=True)]
    for reader in readers:
        reader.start()
    delivered = False
    if case.fault in SIGNAL_FAULTS:
        number = SIGNAL_FAULTS[case.fault]
        if case.phase == 0:
            time.sleep(LOADING_DELAY)
            reached = process.poll() is None
        else:
            with seen:
                reached = seen.wait_for(lambda: (None in lines) or
                                        sum(1 for line in lines if line is not None) >= case.phase, timeout)
                reached = reached and None not in lines
        if reached and process.poll() is None:
            process.send_signal(number)
            delivered = True
    try:
        returncode = process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        returncode = process.wait()
        lines.append(f"[harness: killed after {timeout:g} s]\n")
    for reader in readers:
        reader.join(10)
    stderr = "".join(line for line in lines if line is not None)
    outcome = Outcome(case, returncode, stderr, delivered, round(time.monotonic() - start, 1))
    outcome.violations = _violations(case, command, ws, temp, process.pid, returncode, stderr, delivered,
                                     user_before, earlier, mounted)
    return outcome


def _violations(case: Case, command: Command, ws: Path, temp: Path, pid: int, returncode: int, stderr: str,
                delivered: bool, user_before: dict, earlier: dict, mounted: bool) -> list[str]:
    from mobikit.outputs import KINDS, _not_ours, check_target
    from mobikit.runtime import sweep_leftovers

    found: list[str] = []
    after = _files(ws)
    outputs = set(command.outputs)
    # 5. nothing left running
    if still_running(pid):
        found.append("processes of the run are still running after it exited")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    # 4. exit code and one final line
    killed = case.fault == "KILL" and delivered
    expected = {0}
    if delivered and case.fault in SIGNAL_FAULTS:
        expected.add(-signal.SIGKILL if killed else 128 + SIGNAL_FAULTS[case.fault])
    if case.fault == "stdout-closed":
        expected = {1}
    if case.fault == "stdout-broken":
        expected = {0, 141}
    if case.fault == "disk-full":
        expected = {0, 1}
    if returncode not in expected:
        found.append(f"exit {returncode}, expected one of {sorted(expected)}")
    if "Traceback" in stderr:
        found.append("a traceback on stderr")
    last = [line for line in stderr.splitlines() if line.strip()][-1:]
    if returncode not in (0, -signal.SIGKILL) and case.fault != "stderr-closed":
        words = ("error:", *(f"{word}:" for word in STOP_WORDS.values()))
        finals = [line for line in stderr.splitlines() if line.startswith(words)]
        if len(finals) != 1 or not last or not last[0].startswith(words):
            found.append(f"not exactly one final error/stop line: {finals or last}")
    # 1. the user's files
    for name, digest in user_before.items():
        if after.get(name) != digest:
            found.append(f"user file {name} {'removed' if name not in after else 'changed'}")
    # 2. earlier outputs
    reported = returncode == 0 or "written complete" in stderr
    for name, files in earlier.items():
        now = {k: v for k, v in after.items() if k == name or k.startswith(name + os.sep)}
        if now == files or reported:
            continue
        if command.resumable or killed:  # changed, but only into a complete output of mobikit's own
            kind = KINDS["sweep" if command.resumable else _kind_of(name)]
            if os.path.lexists(ws / name) and _not_ours(ws / name, kind) is None:
                continue
        found.append(f"earlier output {name} changed ({_difference(files, now)}) although the run did not "
                     "report success")
    # 3. no litter after the next run: what a later run does first, beside the outputs and in TMPDIR
    for name in command.outputs:
        try:
            check_target(ws / f"next-{name}", _kind_of(name))
        except Exception:  # a refusal is fine here: only the sweep of leftovers matters
            pass
    sweep_leftovers(temp, "mobikit-")
    litter = [p.name for p in ws.iterdir() if p.name.startswith(TEMP_PREFIX)] + os.listdir(temp)
    if litter:
        found.append(f"litter survives the next run: {sorted(litter)}")
    return found


def _kind_of(name: str) -> str:
    return {"m.keras": "keras-model", "v.mp4": "demo-video", "t": "train", "sw": "sweep"}.get(name, "quantize")


def _difference(before: dict, after: dict) -> str:
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return ", ".join(changed[:4]) + (", …" if len(changed) > 4 else "")

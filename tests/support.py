"""What the tests share besides fixtures: where the shared data lives, how to run the real CLI, what a clean failure
looks like, and small image folders made on the spot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOBIKIT_SHARED", ROOT.parent / "shared")).resolve()
PHOTOS = SHARED / "data" / "photos"
IMAGENET_DEV = SHARED / "data" / "imagenet-dev"
KERAS_HOME = SHARED / "keras"
# what the shared folder must hold (a bare folder of that name, e.g. made by a keras download attempt, is not it)
SHARED_PRESENT = (SHARED / "data").is_dir() and (KERAS_HOME / "models").is_dir()
SHARED_MISSING = (f"needs the shared test data (ImageNet weights and images) at {SHARED}; set MOBIKIT_SHARED to "
                  "its folder")
needs_shared = pytest.mark.skipif(not SHARED_PRESENT, reason=SHARED_MISSING)


def embedded_images() -> Path:
    """The photos shipped inside the package: images any test may use, with or without the shared data."""
    from mobikit.images import embedded_images as shipped

    return shipped("calibration")


def run_cli(*args: str, env: dict | None = None, timeout: float = 600,
            cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run the real `mobikit` console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mobikit", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


def assert_clean_failure(result: subprocess.CompletedProcess, code: int) -> None:
    """A failure the way the CLI promises it: the exit code, one message, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), result.stderr


SHAPE_OPS = ("SHAPE", "STRIDED_SLICE", "PACK")  # a free batch's run-time shape arithmetic


def assert_static_batch_one(path: Path, resolution: int | None = None) -> None:
    """The model at `path` is what phone GPU delegates and LiteRT.js run: LiteRT reads a fixed shape signature for
    every input and output (the input [1, R, R, 3]), and no op computes a shape at run time."""
    from ai_edge_litert.interpreter import Interpreter

    from mobikit.inspection import inspect_model

    interpreter = Interpreter(model_path=str(path))
    (image,) = interpreter.get_input_details()
    side = resolution or int(image["shape"][1])
    assert list(image["shape_signature"]) == [1, side, side, 3], image
    for detail in interpreter.get_input_details() + interpreter.get_output_details():
        assert -1 not in detail["shape_signature"] and detail["shape_signature"][0] == 1, detail
    summary = inspect_model(path)
    assert not set(SHAPE_OPS) & set(summary.op_counts), summary.op_counts
    assert summary.static_shapes, (summary.dynamic_tensors[:3], summary.shape_ops)


def link_images(folder: Path, sources: list[Path]) -> Path:
    """A folder of symlinks to shared images (the shared data is never copied into the project)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        (folder / source.name).symlink_to(source)
    return folder


def noise_images(folder: Path, names: list[str], size: int = 72, seed: int = 0) -> Path:
    """PNG files of smooth random colour fields under the given names (a synset prefix makes them labelled)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        assert cv2.imwrite(str(folder / name), cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC))
    return folder


def tree(folder: Path) -> dict[str, tuple]:
    """Every entry below `folder` (links not followed) with its kind, content hash and permission bits: equal before
    and after a run means nothing was lost, changed or left behind."""
    import hashlib

    entries = {}
    pending = [Path(folder)]
    while pending:  # iterative: os.walk recurses once per level and the tests nest folders 1500 deep
        for entry in os.scandir(pending.pop()):
            path, mode = Path(entry.path), oct(entry.stat(follow_symlinks=False).st_mode & 0o777)
            name = str(path.relative_to(folder))
            if entry.is_symlink():
                entries[name] = ("link", os.readlink(path))
            elif entry.is_dir():
                entries[name] = ("folder", mode)
                pending.append(path)
            else:
                entries[name] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), mode)
    return entries


def remove_tree(folder: Path) -> None:
    """shutil.rmtree without its recursion (one level per call), for folders nested deeper than Python's limit."""
    stack = [Path(folder)]
    while stack:
        entries = list(os.scandir(stack[-1]))
        folders = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
        if folders:
            stack.extend(folders)
            continue
        for entry in entries:
            os.unlink(entry.path)
        os.rmdir(stack.pop())


def tree_changes(before: dict, after: dict) -> list[str]:
    """What differs between two `tree` snapshots, one entry per path."""
    return sorted(f"{'removed' if path not in after else 'added' if path not in before else 'changed'}: {path}"
                  for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def assert_one_error(result: subprocess.CompletedProcess, code: int) -> str:
    """`assert_clean_failure`, stricter: exactly one `error:` line on stderr, and it is the last line; returns it."""
    assert_clean_failure(result, code)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def after_shell_command(phone, words: tuple[str, ...], nth: int = 1):
    """A condition for `run_and_signal`: the `nth` shell command starting with `words` (counted from now) has
    reached the simulated `phone`."""
    from adb_sim.device import ShellDrop

    state = {"seen": len(phone.commands), "matched": 0}

    def reached() -> bool:
        while state["seen"] < len(phone.commands):
            state["matched"] += ShellDrop(words).matches(phone.commands[state["seen"]])
            state["seen"] += 1
        return state["matched"] >= nth

    return reached


def run_and_signal(argv: list[str], ready, number: int, env: dict | None = None,
                   limit: float = 150, group: bool = False) -> subprocess.CompletedProcess:
    """`mobikit ARGV` in its own session, sent signal `number` as soon as `ready()` holds (polled every 5 ms) — with
    `group`, to its whole process group, as a terminal's Ctrl-C is; afterwards nothing of the run may still be
    running (its adb clients went with it)."""
    import time

    process = subprocess.Popen([sys.executable, "-m", "mobikit", *argv], env={**os.environ, **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + limit
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            if group:
                os.killpg(process.pid, number)
            else:
                process.send_signal(number)
            break
        time.sleep(0.005)
    stdout, stderr = process.communicate(timeout=limit)
    left = still_running(process.pid)
    if left:
        raise AssertionError(f"processes of the run are still running: {left}\n{stderr}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def still_running(session: int, grace: float = 5) -> list[str]:
    """The processes of `session` (a run started with `start_new_session`) that are alive after up to `grace`
    seconds, as `ps` lines. A zombie has ended: its exit status only waits for a parent (init, once the run's own
    process is gone) to collect it, which a loaded machine may do late."""
    import time

    deadline = time.monotonic() + grace
    while True:
        listed = subprocess.run(["ps", "-o", "stat=,pid=,args=", "-g", str(session)], capture_output=True, text=True)
        alive = [line.strip() for line in listed.stdout.splitlines() if line.strip() and line.split()[0][0] != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


ELF_MACHINES = {"arm64-v8a": (183, 64), "armeabi-v7a": (40, 32), "x86_64": (62, 64), "x86": (3, 32)}


def elf_program(path: Path, abi: str = "arm64-v8a", kind: int = 3) -> Path:
    """A file with the ELF header of a position-independent program (ET_DYN, as Android's are) for `abi`; the
    simulated phone runs `benchmark_model` by name, so the header is all a test needs (ELF spec, System V gABI)."""
    import struct

    machine, bits = ELF_MACHINES[abi]
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1, 1, 0]) + bytes(8)  # class, little-endian, version 1
    header = struct.pack("<16sHHIIIIIHHHHHH" if bits == 32 else "<16sHHIQQQIHHHHHH", ident, kind, machine, 1, 0,
                         0, 0, 0, 52 if bits == 32 else 64, 0, 0, 0, 0, 0)
    path.write_bytes(header + b" simulated benchmark_model")
    return path

"""The output policy, one for every command that writes: nothing of the user's is ever lost.

- A file or folder appears complete under its final name, or not at all: it is written under a short hidden
  temporary name beside the target and moved into place in one step (a folder that replaces an earlier one is swapped
  with it atomically — Linux `renameat2(RENAME_EXCHANGE)` — and the earlier one deleted afterwards).
- An existing target is replaced only when it is mobikit's own earlier output of the same kind: a folder carrying
  mobikit's marker file and nothing it did not list, a `.keras` file carrying mobikit's marker entry, an `.mp4` carrying
  mobikit's marker box. Anything else — a user's folder or file, `.`, `..`, the home folder, an input of the run
  (calibration/eval folder, model, labels) or a folder holding one — is refused with one line before any slow step.
- Outputs get the permissions the umask gives (not the 0700/0600 of temporary files).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import __version__
from .errors import MobikitError, UsageError
from .runtime import raise_if_stopped

MARKER = ".mobikit-output.json"  # in every output folder: {"kind", "mobikit", "files"}
KERAS_MARKER_ENTRY = "mobikit.json"  # an extra entry in the .keras zip; keras ignores entries it does not know
MP4_MARKER = b"mobikit-output:"  # payload of a top-level ISO BMFF 'free' box appended to the video; players skip it
_TEMP_PREFIX = ".mobikit-tmp-"


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@dataclass(frozen=True)
class OutputKind:
    """One kind of output: a folder (marked by MARKER) or a file with a suffix (marked inside the file)."""

    name: str
    folder: bool
    suffix: str | None = None
    describe: str = ""


KINDS = {kind.name: kind for kind in (
    OutputKind("quantize", True, describe="quantize output folder"),
    OutputKind("analysis", True, describe="analysis folder"),
    OutputKind("sweep", True, describe="sweep folder"),
    OutputKind("sweep-cell", True, describe="sweep cell"),
    OutputKind("train", True, describe="train output folder"),
    OutputKind("keras-model", False, ".keras", "saved model"),
    OutputKind("demo-video", False, ".mp4", "annotated video"),
)}


# ----------------------------------------------------------------------------------------------- marks of ownership


def folder_mark(folder: Path) -> dict | None:
    """The marker of a mobikit output folder, or None when the folder has none (or an unreadable one)."""
    try:
        mark = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) and isinstance(mark.get("files"), list) else None


def _write_folder_mark(folder: Path, kind: str) -> None:
    files = sorted(entry.name for entry in folder.iterdir() if entry.name != MARKER)
    text = json.dumps({"kind": kind, "mobikit": __version__, "files": files}, indent=2) + "\n"
    (folder / MARKER).write_text(text, encoding="utf-8")


def _keras_mark(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(KERAS_MARKER_ENTRY)).get("kind")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, AttributeError):
        return None


def _write_keras_mark(path: Path, kind: str) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(KERAS_MARKER_ENTRY, json.dumps({"kind": kind, "mobikit": __version__}))


def _mp4_mark(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64))
            tail = handle.read()
    except OSError:
        return None
    at = tail.rfind(MP4_MARKER)
    return tail[at + len(MP4_MARKER):].decode("ascii", "replace") if at >= 4 and tail[at - 4:at] == b"free" else None


def _write_mp4_mark(path: Path, kind: str) -> None:
    payload = MP4_MARKER + kind.encode("ascii")
    with open(path, "ab") as handle:
        handle.write((8 + len(payload)).to_bytes(4, "big") + b"free" + payload)


_FILE_MARKS: dict[str, tuple[Callable[[Path], str | None], Callable[[Path, str], None]]] = {
    ".keras": (_keras_mark, _write_keras_mark),
    ".mp4": (_mp4_mark, _write_mp4_mark),
}


# ----------------------------------------------------------------------------------------------- checks


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_target(path: str | os.PathLike, kind: str, inputs: Iterable[str | os.PathLike | None] = (),
                 param: str = "output") -> Path:
    """Refuse, with one line and before any slow step, every target that is not free or mobikit's own output of
    `kind`, or whose folder cannot be made. Creates nothing (a run refused later leaves no trace). Returns the path."""
    kind_spec = KINDS[kind]
    path = Path(path)
    target = path.resolve()
    if kind_spec.suffix and path.suffix.lower() != kind_spec.suffix:
        raise UsageError("{output} must end in {suffix}, got {path}", param, suffix=kind_spec.suffix, path=str(path))
    if not path.name or path.name in (".", "..") or _inside(Path.cwd().resolve(), target) \
            or target in (Path.home().resolve(), Path(target.anchor)):
        raise UsageError("{output} {path} would replace the current folder or one holding it: name a new folder "
                         "inside it instead", param, path=str(path))
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if _inside(source, target) or _inside(target, source):
            raise UsageError("{output} {path} is, holds or lies inside an input of this run ({source}): choose "
                             "another place", param, path=str(path), source=str(given))
    if os.path.lexists(path):
        refusal = _not_ours(path, kind_spec)
        if refusal:
            raise UsageError("{output} {path} " + refusal + ": mobikit replaces only its own earlier "
                             f"{kind_spec.describe}; choose another name or move it away", param, path=str(path))
    _writable_parent(path, param)
    return path


def _not_ours(path: Path, kind: OutputKind) -> str | None:
    """Why an existing `path` is not mobikit's replaceable output of `kind` (None when it is)."""
    if path.is_symlink():
        return "is a symbolic link"
    if kind.folder:
        if not path.is_dir():
            return "exists and is not a folder"
        mark = folder_mark(path)
        if mark is None:
            return "is a folder mobikit did not write"
        if mark.get("kind") != kind.name:
            return f"holds a {KINDS.get(mark.get('kind'), OutputKind('other', True, describe='different output')).describe}"
        foreign = sorted({entry.name for entry in path.iterdir()} - set(mark["files"]) - {MARKER})
        if foreign:
            return f"holds files mobikit did not write ({', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''})"
        return None
    if path.is_dir():
        return "is a folder"
    read_mark, _ = _FILE_MARKS[kind.suffix]
    if read_mark(path) != kind.name:
        return "exists and mobikit did not write it"
    return None


def _writable_parent(path: Path, param: str) -> None:
    """The folder of `path` exists and is writable, or can be made: its nearest existing ancestor is a writable
    folder; and the file system takes a name that long."""
    parent = path.parent
    existing = parent
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError("cannot create the folder of {output} {parent}: {existing} is not a folder", param,
                         parent=str(parent), existing=str(existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError("the folder of {output} {parent} is not writable", param, parent=str(parent))
    longest = os.pathconf(existing, "PC_NAME_MAX")
    too_long = next((part for part in path.parts if len(os.fsencode(part)) > longest), None)
    if too_long is not None:
        raise UsageError("{output} has a name of {size} bytes; the file system takes at most {longest}", param,
                         size=len(os.fsencode(too_long)), longest=longest)


@contextmanager
def _parent_made(path: Path, param: str) -> Iterator[None]:
    """Create the missing folders above `path` for the block; when the block fails, remove those it created (they
    are still empty then: the block writes its output into place only at the end)."""
    missing = []
    folder = path.parent
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    created = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
                created.append(folder)
            except FileExistsError:
                pass
    except OSError as exc:
        _remove_empty(created)
        raise UsageError("cannot create the folder of {output} {parent}: {reason}", param, parent=str(path.parent),
                         reason=exc.strerror or str(exc)) from None
    try:
        yield
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


# ----------------------------------------------------------------------------------------------- writing


def _permissions(path: Path) -> None:
    """What a plain mkdir/open would have given under the current umask."""
    for root, folders, files in os.walk(path) if path.is_dir() else [(str(path.parent), [], [path.name])]:
        for name in folders:
            os.chmod(os.path.join(root, name), 0o777 & ~_UMASK)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~_UMASK)
    if path.is_dir():
        os.chmod(path, 0o777 & ~_UMASK)


_libc = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    global _libc
    try:
        _libc = _libc or ctypes.CDLL(None, use_errno=True)
        renameat2 = _libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _move_into_place(staging: Path, target: Path, kind: OutputKind) -> None:
    """Put the finished `staging` at `target`; an earlier target (checked again: ours) ends at `staging`."""
    if not os.path.lexists(target):
        try:
            os.rename(staging, target)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
                raise
    refusal = _not_ours(target, kind)
    if refusal:
        raise MobikitError("{path} appeared while this run worked and {why}: kept it; the new output was not written",
                           path=str(target), why=refusal)
    if not _exchange(staging, target):
        hidden = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=target.parent))
        os.rename(target, hidden / "old")
        os.rename(staging, target)
        os.rename(hidden / "old", staging)
        hidden.rmdir()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


@contextmanager
def new_folder(path: str | os.PathLike, kind: str, inputs: Iterable = (), param: str = "output",
               seed: Path | None = None) -> Iterator[Path]:
    """Yield an empty staging folder (or a copy of `seed`, an output folder being updated); when the block succeeds
    it becomes `path` in one step, replacing mobikit's earlier output there. On failure nothing changes."""
    target = check_target(path, kind, inputs, param)
    with _parent_made(target, param):
        staging = None
        try:
            staging = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=target.parent))
            if seed is not None:
                shutil.copytree(seed, staging, dirs_exist_ok=True, symlinks=True)
                (staging / MARKER).unlink(missing_ok=True)
            yield staging
            raise_if_stopped()  # a stopped run never replaces anything, whatever swallowed the interrupt
            _write_folder_mark(staging, kind)
            _permissions(staging)
            _move_into_place(staging, target, KINDS[kind])
        except OSError as exc:
            raise MobikitError("cannot write {path}: {reason}", path=str(target),
                               reason=exc.strerror or str(exc)) from None
        finally:
            if staging is not None:
                _remove(staging)


@contextmanager
def new_file(path: str | os.PathLike, kind: str | None = None, inputs: Iterable = (),
             param: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds the file written there becomes `path` in one
    step (marked as mobikit's output of `kind`, when given). On failure nothing changes."""
    target = check_target(path, kind, inputs, param) if kind else Path(path)
    if kind is None:
        _writable_parent(target, param)
    with _parent_made(target, param):
        staging = None
        try:
            fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=target.suffix, dir=target.parent)
            os.close(fd)
            staging = Path(name)
            yield staging
            raise_if_stopped()
            if kind:
                _FILE_MARKS[KINDS[kind].suffix][1](staging, kind)
            _permissions(staging)
            if kind and os.path.lexists(target) and _not_ours(target, KINDS[kind]):
                raise MobikitError("{path} appeared while this run worked: kept it; the new output was not written",
                                   path=str(target))
            os.replace(staging, target)
        except OSError as exc:
            raise MobikitError("cannot write {path}: {reason}", path=str(target),
                               reason=exc.strerror or str(exc)) from None
        finally:
            if staging is not None:
                _remove(staging)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """A file (inside a staging folder, or a result file of mobikit's own) written whole, then renamed."""
    with new_file(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def claim_folder(path: str | os.PathLike, kind: str, inputs: Iterable = (), param: str = "output") -> Path:
    """A folder mobikit fills step by step (a sweep): refused unless free or its own of `kind`; created and marked."""
    target = check_target(path, kind, inputs, param)
    if not target.is_dir():
        with new_folder(target, kind, inputs, param):
            pass
    return target


def record_files(folder: str | os.PathLike, kind: str) -> None:
    """Update the marker of a folder filled step by step after writing into it."""
    _write_folder_mark(Path(folder), kind)


def free_name(path: str | os.PathLike) -> Path:
    """`path` if nothing is there, else the first free `stem.N.suffix` beside it (for logs that must not replace
    anything)."""
    path = Path(path)
    candidate, number = path, 1
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.stem}.{number}{path.suffix}")
    return candidate

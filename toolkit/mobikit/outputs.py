"""The output policy, one for every command that writes: nothing of the user's is ever lost.

- A file or folder appears complete under its final name, or not at all: it is written in a short hidden scratch
  folder beside the target and moved into place in one step (a folder that replaces an earlier one is swapped with it
  atomically — Linux `renameat2(RENAME_EXCHANGE)` — and the earlier one deleted afterwards). Outputs of one run that
  belong together (`train --quantize`) land together, after the whole run succeeded (`written_together`).
- An existing target is replaced only when it is mobikit's own earlier output of the same kind, unchanged: a folder
  whose marker file records every path, type, size and SHA-256 mobikit wrote there and still matches it (anything
  added, edited, removed or retyped is named in the refusal), a `.keras` file carrying mobikit's marker entry, an
  `.mp4` carrying mobikit's marker box. Anything else — a user's folder or file, `.`, `..`, the home folder, an input
  of the run or a folder holding one — is refused with one line before any slow step.
- Moving into place and deleting the replaced output finish once started: a signal meanwhile is acted on after them,
  and the stop message then names what was written (`runtime.written`).
- Scratch folders carry their owner (`runtime.owned_scratch`): a later run writing beside them removes those of
  killed runs (SIGKILL), and only those.
- Outputs get the permissions the umask gives (not the 0700/0600 of temporary files).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import stat
import os
import shutil
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import __version__
from .errors import MobikitError, UsageError, printable
from . import runtime
from .runtime import owned_scratch, raise_if_stopped, stop_deferred, sweep_leftovers

MARKER = ".mobikit-output.json"  # in every output folder: {"kind", "mobikit", "files", "tree"}
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
    OutputKind("perf", True, describe="phone benchmark folder"),
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
        with open(folder / MARKER, "rb") as handle:
            mark = json.loads(handle.read(_MARKER_LIMIT + 1)[:_MARKER_LIMIT])
    except (OSError, ValueError, RecursionError):
        return None
    return mark if isinstance(mark, dict) and isinstance(mark.get("files"), list) else None


_MARKER_LIMIT = 64 << 20


def _digest(path: str) -> str:
    hashed = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hashed.update(block)
    return hashed.hexdigest()


def folder_tree(folder: Path) -> dict[str, list]:
    """Every path under `folder` (but its marker) → [type, size, sha256] for files, [type] for folders, [type,
    target] for symbolic links. Names are kept byte for byte (surrogate escapes, stored as JSON escapes)."""
    tree: dict[str, list] = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            if relative == MARKER:
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                tree[relative] = ["link", os.readlink(path)]
            elif stat.S_ISDIR(info.st_mode):
                tree[relative] = ["folder"]
            elif stat.S_ISREG(info.st_mode):
                tree[relative] = ["file", info.st_size, _digest(path)]
            else:
                tree[relative] = ["special"]
    return tree


def _write_folder_mark(folder: Path, kind: str) -> None:
    tree = folder_tree(folder)
    files = sorted(name for name in tree if os.sep not in name)
    text = json.dumps({"kind": kind, "mobikit": __version__, "files": files, "tree": tree}, indent=1) + "\n"
    (folder / MARKER).write_text(text, encoding="ascii")


def _tree_changes(folder: Path, recorded: dict) -> list[str]:
    """What differs between `folder` and the tree its marker recorded, one short phrase per path."""
    current = folder_tree(folder)
    changes = []
    for name in sorted(set(recorded) | set(current)):
        was, now = recorded.get(name), current.get(name)
        if was == now:
            continue
        shown = printable(name)
        if was is None:
            changes.append(f"{shown} added")
        elif now is None:
            changes.append(f"{shown} removed")
        elif was[0] != now[0]:
            changes.append(f"{shown} is a {now[0]} now, was a {was[0]}")
        else:
            changes.append(f"{shown} changed")
    return changes


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
    _clear_leftovers(path.parent)
    return path


def _clear_leftovers(folder: Path) -> None:
    """Scratch folders that killed runs left beside the target: remove those provably mobikit's; name the rest."""
    if folder.is_dir():
        unproved = sweep_leftovers(folder, _TEMP_PREFIX)
        if unproved:
            runtime.notes.append(f"{folder} holds {', '.join(printable(n) for n in unproved[:3])}"
                                 f"{', …' if len(unproved) > 3 else ''}, left by an older mobikit or a run of "
                                 "another machine; mobikit cannot prove them its own, so it leaves them to you")


def _clear_nested_leftovers(folder: Path) -> None:
    """Scratch folders of killed runs inside an output filled step by step (a sweep's cells): removed first."""
    parents = {os.path.dirname(os.path.join(root, name)) for root, folders, _files in os.walk(folder)
               for name in folders if name.startswith(_TEMP_PREFIX)}
    for parent in parents:
        sweep_leftovers(parent, _TEMP_PREFIX)


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
        tree = mark.get("tree")
        if not isinstance(tree, dict):
            return (f"was written by mobikit {mark.get('mobikit', '?')}, which recorded no contents, so it cannot be "
                    "proved unchanged (delete it yourself if it holds nothing of yours)")
        _clear_nested_leftovers(path)
        changes = _tree_changes(path, tree)
        if changes:
            return (f"changed since mobikit wrote it ({', '.join(changes[:3])}{', …' if len(changes) > 3 else ''})")
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
def _parent_made(path: Path, param: str) -> Iterator[list[Path]]:
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
        yield created
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
        raise MobikitError("{path} appeared while this run worked, or changed, and {why}: kept it; the new output was "
                           "not written", path=str(target), why=refusal)
    if not _exchange(staging, target):
        hidden = Path(owned_scratch(_TEMP_PREFIX, target.parent))
        os.rename(target, hidden / "old")
        os.rename(staging, target)
        os.rename(hidden / "old", staging)
        _remove(hidden)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


@dataclass
class _Staged:
    """A finished output waiting in its scratch folder for the moment it is moved into place."""

    scratch: Path  # owned scratch folder beside the target; the output is at `scratch / "new"`
    target: Path
    kind: OutputKind | None
    created: list[Path]  # parent folders this run made for it (removed when nothing lands)

    @property
    def staged(self) -> Path:
        """Where the output is written: named like the target (a .keras writer insists on its suffix)."""
        return self.scratch / ("new" + ("" if self.kind and self.kind.folder else self.target.suffix))


_batches: list[list[_Staged]] = []


def _land(items: list[_Staged]) -> None:
    """Move every staged output into place, all or none, without stopping half-way (a signal waits until after)."""
    with stop_deferred():
        landed: list[_Staged] = []
        try:
            for item in items:
                if item.kind is None or not item.kind.folder:
                    if item.kind and os.path.lexists(item.target) and _not_ours(item.target, item.kind):
                        raise MobikitError("{path} appeared while this run worked: kept it; the new output was not "
                                           "written", path=str(item.target))
                    if os.path.isfile(item.target) and not os.path.islink(item.target):
                        _keep_copy(item.target, item.scratch / "old")  # to put back if a later output fails
                    os.replace(item.staged, item.target)
                else:
                    _move_into_place(item.staged, item.target, item.kind)
                    if os.path.lexists(item.staged):
                        os.rename(item.staged, item.scratch / "old")
                landed.append(item)
        except BaseException:
            for item in reversed(landed):  # put every earlier output back: the run replaced nothing
                old = item.scratch / "old"
                try:
                    if os.path.lexists(old):
                        if not _exchange(old, item.target):
                            os.replace(old, item.target)
                    else:
                        os.rename(item.target, item.staged)
                except OSError:
                    pass
            raise
        for item in items:
            _remove(item.scratch)
            runtime.written.append(str(item.target))


def _keep_copy(path: Path, copy: Path) -> None:
    try:
        os.link(path, copy)
    except OSError:
        shutil.copy2(path, copy)


def _discard(items: list[_Staged]) -> None:
    with stop_deferred():
        for item in items:
            _remove(item.scratch)
            _remove_empty(item.created)


@contextmanager
def written_together() -> Iterator[None]:
    """Outputs written inside the block (new_folder, new_file with a kind) land together when the whole block
    succeeds, and none of them when it fails or is stopped: e.g. a train folder and its int8 folder. Inside the block
    each `new_folder` yields its scratch path, which stays readable until the block ends."""
    batch: list[_Staged] = []
    _batches.append(batch)
    try:
        yield
        raise_if_stopped()
    except BaseException:
        _batches.pop()
        _discard(batch)
        raise
    _batches.pop()
    try:
        _land(batch)
    except BaseException:
        _discard(batch)
        raise


def _finish(item: _Staged) -> None:
    """Land `item` now, or with its batch when inside `written_together`."""
    if _batches:
        _batches[-1].append(item)
        return
    try:
        _land([item])
    finally:
        _discard([item])


@contextmanager
def _staged(target: Path, kind: OutputKind | None, param: str) -> Iterator[_Staged]:
    """An owned scratch folder beside `target` (parents made as needed) that is removed, with the parents made,
    unless the block hands it over to `_finish`."""
    with _parent_made(target, param) as created:
        scratch = None
        try:
            scratch = Path(owned_scratch(_TEMP_PREFIX, target.parent))
            yield _Staged(scratch, target, kind, created)
        except OSError as exc:
            if scratch is not None:
                _remove(scratch)
            raise MobikitError("cannot write {path}: {reason}", path=str(target),
                               reason=exc.strerror or str(exc)) from None
        except BaseException:
            if scratch is not None:
                with stop_deferred():
                    _remove(scratch)
            raise


@contextmanager
def new_folder(path: str | os.PathLike, kind: str, inputs: Iterable = (), param: str = "output",
               seed: Path | None = None, keep_when_stopped: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder (or a copy of `seed`, an output folder being updated); when the block succeeds
    it becomes `path` in one step, replacing mobikit's earlier output there. On failure nothing changes. With
    `keep_when_stopped` (what a stopped run measured before the stop), it lands after a stop too, where nothing
    is there to replace."""
    target = check_target(path, kind, inputs, param)
    with _staged(target, KINDS[kind], param) as item:
        if seed is not None:
            shutil.copytree(seed, item.staged, symlinks=True)
            (item.staged / MARKER).unlink(missing_ok=True)
        else:
            item.staged.mkdir()
        yield item.staged
        if not (keep_when_stopped and not os.path.lexists(target)):
            raise_if_stopped()  # a stopped run never replaces anything, whatever swallowed the interrupt
        _write_folder_mark(item.staged, kind)
        _permissions(item.staged)
        _finish(item)


@contextmanager
def new_file(path: str | os.PathLike, kind: str | None = None, inputs: Iterable = (),
             param: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds the file written there becomes `path` in one
    step (marked as mobikit's output of `kind`, when given). On failure nothing changes."""
    target = check_target(path, kind, inputs, param) if kind else Path(path)
    if kind is None:
        _writable_parent(target, param)
    with _staged(target, KINDS[kind] if kind else None, param) as item:
        item.staged.touch()
        yield item.staged
        raise_if_stopped()
        if kind:
            _FILE_MARKS[KINDS[kind].suffix][1](item.staged, kind)
        _permissions(item.staged)
        if kind is None:  # a file inside an output being made (or a log): not an output of its own
            os.replace(item.staged, target)
            _remove(item.scratch)
        else:
            _finish(item)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """A file (inside a staging folder, or a result file of mobikit's own) written whole, then renamed."""
    with new_file(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    """UTF-8; a file name that is not UTF-8, quoted in the text, keeps its bytes (as the file system has them)."""
    write_bytes(path, text.encode("utf-8", "surrogateescape"))


def claim_folder(path: str | os.PathLike, kind: str, inputs: Iterable = (), param: str = "output") -> Path:
    """A folder mobikit fills step by step (a sweep): refused unless free or its own of `kind`; created and marked."""
    target = check_target(path, kind, inputs, param)
    if not target.is_dir():
        with new_folder(target, kind, inputs, param):
            pass
        runtime.written.remove(str(target))  # not written complete: a stop message must not say it was
    return target


def record_files(folder: str | os.PathLike, kind: str) -> None:
    """Update the marker of a folder filled step by step after writing into it."""
    with stop_deferred():
        _write_folder_mark(Path(folder), kind)


def free_name(path: str | os.PathLike, extension: bool = False) -> Path:
    """`path` if nothing is there, else the first free `NAME.N` beside it, N appended to the whole name (`res.v1` →
    `res.v1.2`: a dot in a folder's name is not an extension); with `extension` (a log file) N goes before the
    file's extension instead (`convert.log` → `convert.2.log`)."""
    path = Path(path)
    stem, suffix = (path.stem, path.suffix) if extension else (path.name, "")
    candidate, number = path, 1
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{stem}.{number}{suffix}")
    return candidate

"""The generated in-process properties of the fault harness (Hypothesis): file and class names as arbitrary bytes,
labels files, model.json fields, image headers, .keras archives, output trees a user edited, leftovers of killed runs,
signals inside the output policy, device-path arguments. Each run draws new examples from a printed seed;
MOBIKIT_FAULT_SEED fixes it. A failure prints Hypothesis' falsifying example and a one-line reproduction.

Each property names (in its docstring) the class of issue 21 it guards; each failed on the code before its fix.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, seed, settings
from hypothesis import strategies as st

from fault_harness import SEED_VARIABLE, run_seed
from mobikit.errors import MobikitError, UsageError

SEED = run_seed()
PROPERTIES = settings(max_examples=int(os.environ.get("MOBIKIT_FAULT_EXAMPLES", 40)), deadline=None,
                      print_blob=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                              HealthCheck.too_slow])


def reproduce(test: str) -> str:
    return f"reproduce: {SEED_VARIABLE}={SEED} python -m pytest tests/test_fault_properties.py::{test}"


def one_line(message: str) -> bool:
    return "\n" not in message and len(message) < 600 and "np." not in message


@pytest.fixture
def fresh(tmp_path_factory):
    """A new empty folder per example (pytest's tmp_path is one per test, Hypothesis runs many examples in it)."""
    return lambda: tmp_path_factory.mktemp("example")


# ------------------------------------------------------------------------------------------------ outputs a user changed

ENTRY = st.text("abcdefgh", min_size=1, max_size=4)
TREES = st.dictionaries(st.lists(ENTRY, min_size=1, max_size=3).map("/".join), st.binary(max_size=64),
                        min_size=1, max_size=6)
CHANGES = st.sampled_from(["none", "edit", "add", "add-nested", "remove", "file-to-folder", "symlink", "chmod-only"])


@seed(SEED)
@PROPERTIES
@given(TREES, CHANGES, st.data())
def test_an_output_the_user_changed_is_never_replaced(fresh, tree, change, data):
    """Data-loss path 2: ownership by the whole tree mobikit wrote (paths, types, sizes, digests), not top-level
    names. Before the fix a file edited inside, or a file replaced by a folder of the user's, was wiped."""
    from mobikit.outputs import check_target, new_folder

    root = fresh()
    target = root / "out"
    files = {}
    with new_folder(target, "analysis") as folder:
        for name, content in tree.items():
            path = folder / name
            if any(parent.is_file() for parent in path.parents) or path.is_dir():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            files[name] = content
    assume(files)
    name = data.draw(st.sampled_from(sorted(files)))
    path = target / name
    if change == "edit":
        path.write_bytes(files[name] + b"the user's edit")
    elif change == "add":
        (target / "mine.txt").write_text("the user's")
    elif change == "add-nested":
        (path.parent / "mine.txt").write_text("the user's") if path.parent != target else \
            (target / "mine.txt").write_text("the user's")
    elif change == "remove":
        path.unlink()
    elif change == "file-to-folder":
        path.unlink()
        path.mkdir()
        (path / "mine.txt").write_text("the user's")
    elif change == "symlink":
        path.unlink()
        path.symlink_to(root)
    snapshot = sorted((str(p), p.is_symlink() or p.is_dir() or p.read_bytes()) for p in target.rglob("*"))
    if change in ("none", "chmod-only"):
        if change == "chmod-only":
            path.chmod(0o600)  # permissions are not content: still mobikit's own
        check_target(target, "analysis")
        return
    with pytest.raises(UsageError) as refused:
        check_target(target, "analysis")
    message = refused.value.render(str)
    assert "changed since mobikit wrote it" in message and one_line(message), (message, reproduce(
        "test_an_output_the_user_changed_is_never_replaced"))
    assert sorted((str(p), p.is_symlink() or p.is_dir() or p.read_bytes()) for p in target.rglob("*")) == snapshot


def test_a_marker_written_before_digests_is_refused_clearly(tmp_path):
    """Markers of mobikit before this change list top-level names only: refused, saying why and what to do."""
    from mobikit.outputs import MARKER, check_target

    target = tmp_path / "out"
    target.mkdir()
    (target / "report.md").write_text("x")
    (target / MARKER).write_text(json.dumps({"kind": "analysis", "mobikit": "0.3.0", "files": ["report.md"]}))
    with pytest.raises(UsageError, match="recorded no contents, so it cannot be proved unchanged"):
        check_target(target, "analysis")


# ------------------------------------------------------------------------------------------------ stops inside the policy

MOMENTS = st.sampled_from(["writing", "between", "before-landing", "landing", "deleting-old", "after"])


@seed(SEED)
@PROPERTIES
@given(MOMENTS, st.integers(1, 3), st.booleans())
def test_a_signal_at_any_moment_of_writing_leaves_all_old_or_all_new(fresh, moment, count, earlier):
    """Data-loss path 1 and "SIGINT while an old output is being deleted": outputs written together (train and its
    int8 folder) land together; a real SIGINT (the CLI's handler) at any moment leaves every target either all
    earlier or all new, the message true to that, and no hidden copy behind."""
    import shutil

    from mobikit import outputs, runtime
    from mobikit.cli import _Signals

    root = fresh()
    targets = [root / f"out{i}" for i in range(count)]
    if earlier:
        for target in targets:
            with outputs.new_folder(target, "analysis") as folder:
                (folder / "a.txt").write_text("earlier")
    before = {t: sorted(p.read_text() for p in t.glob("*.txt")) if t.exists() else None for t in targets}
    interrupt = lambda: os.kill(os.getpid(), signal.SIGINT)  # noqa: E731
    real_rmtree, real_exchange = shutil.rmtree, outputs._exchange

    def rmtree(path, *args, **kwargs):
        if moment == "deleting-old" and "old" in os.listdir(path) if os.path.isdir(path) else False:
            interrupt()
        return real_rmtree(path, *args, **kwargs)

    def exchange(a, b):
        if moment == "landing":
            interrupt()
        return real_exchange(a, b)

    runtime.new_run()
    stopped = False
    with _Signals():
        outputs.shutil.rmtree, outputs._exchange = rmtree, exchange
        try:
            with outputs.written_together():
                for index, target in enumerate(targets):
                    with outputs.new_folder(target, "analysis") as folder:
                        (folder / "a.txt").write_text("new")
                        if moment == "writing" and index == count - 1:
                            interrupt()
                    if moment == "between" and index == 0:
                        interrupt()
                if moment == "before-landing":
                    interrupt()
            if moment == "after":
                interrupt()
            runtime.raise_if_stopped()
        except KeyboardInterrupt:
            stopped = True
        finally:
            outputs.shutil.rmtree, outputs._exchange = real_rmtree, real_exchange
    states = {t: sorted(p.read_text() for p in t.glob("*.txt")) if t.exists() else None for t in targets}
    new = {t: ["new"] for t in targets}
    written = list(runtime.written)
    runtime.new_run()
    assert states in (before, new), (moment, states, reproduce(
        "test_a_signal_at_any_moment_of_writing_leaves_all_old_or_all_new"))
    assert (states == new) == (bool(written) or not stopped), (states, written, stopped)
    assert not [p for p in root.iterdir() if p.name.startswith(".mobikit-tmp-")]


# ------------------------------------------------------------------------------------------------ leftovers of killed runs


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


LEFTOVERS = st.lists(st.sampled_from(["killed", "running", "unproved", "empty-new", "user-lookalike"]), max_size=5)


@seed(SEED)
@PROPERTIES
@given(LEFTOVERS)
def test_the_next_run_removes_killed_runs_scratch_and_only_that(fresh, kinds):
    """SIGKILL litter: `.mobikit-tmp-*` of a killed run is removed by the next run writing beside it, provably its
    own (owner file: host, boot, pid, process start); anything unproved is kept and named. Before the fix nothing
    was removed or mentioned."""
    from mobikit import runtime
    from mobikit.outputs import check_target

    root = fresh()
    made = {}
    for number, kind in enumerate(kinds):
        folder = Path(runtime.owned_scratch(".mobikit-tmp-", root))
        (folder / "new").write_text("half-written")
        if kind == "killed":
            owner = json.loads((folder / runtime.OWNER_FILE).read_text())
            owner["pid"] = _dead_pid()
            (folder / runtime.OWNER_FILE).write_text(json.dumps(owner))
        elif kind in ("unproved", "user-lookalike"):
            (folder / runtime.OWNER_FILE).unlink()
        elif kind == "empty-new":
            for entry in folder.iterdir():
                entry.unlink()
        made[folder.name] = kind
    runtime.new_run()
    check_target(root / "next", "analysis")
    left = {p.name for p in root.iterdir()}
    for name, kind in made.items():
        kept = name in left
        assert kept == (kind != "killed"), (kind, reproduce(
            "test_the_next_run_removes_killed_runs_scratch_and_only_that"))
    unproved = [name for name, kind in made.items() if kind in ("unproved", "user-lookalike")]
    assert bool(unproved) == any("cannot prove them its own" in n for n in runtime.notes)
    runtime.new_run()


# ------------------------------------------------------------------------------------------------ names as bytes

NAME_BYTES = st.binary(min_size=1, max_size=24).filter(
    lambda b: b"/" not in b and b"\0" not in b and not b.startswith(b".") and b.strip() == b and b)


def _tiny_png(path: bytes, value: int) -> None:
    import cv2

    ok, encoded = cv2.imencode(".png", np.full((8, 8, 3), value, np.uint8))
    with open(path, "wb") as handle:
        handle.write(encoded.tobytes())


@seed(SEED)
@PROPERTIES
@given(st.lists(NAME_BYTES, min_size=2, max_size=3, unique=True), st.lists(NAME_BYTES, min_size=1, max_size=3))
def test_names_as_arbitrary_bytes_never_crash_after_the_slow_work(fresh, classes, files):
    """Invalid UTF-8 in file or class names: refused with one line before the slow steps, or carried through
    every step after them (fingerprint, JSON, reports, the output marker) without a crash. Before the fix the
    fingerprint and train.json crashed with UnicodeEncodeError after all the work."""
    from mobikit.datasets import discover
    from mobikit.images import ImageSet
    from mobikit.outputs import check_target, new_folder, write_text

    root = fresh()
    data = os.fsencode(root / "data")
    os.mkdir(data)
    for klass in classes:
        os.mkdir(data + b"/" + klass)
        for number, name in enumerate(files):
            _tiny_png(data + b"/" + klass + b"/" + name + b".png", number * 40)
    try:
        found = discover(os.fsdecode(data), "training")
    except UsageError as exc:
        assert one_line(exc.render(str)), exc.render(str)
        assert any(not _utf8(name) for name in classes) or "differ only in case" in exc.render(str) \
            or "class" in exc.render(str)
        return
    paths = [sample.path for sample in found.samples]
    ImageSet(paths, 32).fingerprint()
    text = json.dumps({"files": [str(p) for p in paths], "classes": list(found.classes)})
    with new_folder(root / "out", "train") as folder:
        write_text(folder / "train.json", text + "\n")
        write_text(folder / "report.md", "\n".join(str(p) for p in paths))
        for path in paths[:2]:
            write_text(folder / path.name, "a file named like an input")
    check_target(root / "out", "train")  # the marker records and re-reads those names


def _utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


LINKS = st.lists(st.sampled_from([".", "..", "outside", "sibling", "outside-nested"]), min_size=1, max_size=4)


@seed(SEED)
@PROPERTIES
@given(LINKS)
def test_class_folders_linking_outside_the_data_folder_are_not_classes(fresh, links):
    """Symlinked class folders (to `.`, `..`, anywhere outside): never classes, and skipped with a note. Before the
    fix `up -> ..` became a class holding every image of the parent; and eval and the int8 step of
    `train --quantize` still walked through such links (an outside attack)."""
    from mobikit.datasets import discover
    from mobikit.images import find_images

    root = fresh()
    data, outside = root / "data", root / "elsewhere" / "deeper"
    for klass in ("ants", "bees"):
        (data / klass).mkdir(parents=True)
        _tiny_png(os.fsencode(data / klass / "1.png"), 10)
    outside.mkdir(parents=True)
    _tiny_png(os.fsencode(outside / "x.png"), 20)
    targets = {".": ".", "..": "..", "outside": str(root / "elsewhere"), "sibling": "ants",
               "outside-nested": str(outside)}
    for number, link in enumerate(links):
        (data / f"link{number}").symlink_to(targets[link])
    found = discover(data, "training")
    for klass in found.classes:
        resolved = (data / klass).resolve()
        assert data.resolve() in resolved.parents, (klass, resolved, reproduce(
            "test_class_folders_linking_outside_the_data_folder_are_not_classes"))
    assert all(sample.path.resolve().is_relative_to(data.resolve()) for sample in found.samples)
    assert len(found.outside) == sum(link != "sibling" for link in links)
    listed = find_images(data)  # how calibration, eval and train --quantize's int8 step list a folder
    assert all(data.resolve() in path.resolve().parents for path in listed), (listed, reproduce(
        "test_class_folders_linking_outside_the_data_folder_are_not_classes"))


def _run_as_main(folder: Path, source: str):
    """`python -m` on a module holding `source`, as `mobikit` runs: the entry point's rules apply under `-m`."""
    import subprocess
    import sys

    (folder / "entry").mkdir()
    (folder / "entry" / "__main__.py").write_text(source)
    return subprocess.run([sys.executable, "-m", "entry"], cwd=folder, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", ["SIGINT", "SIGALRM", "SIGTERM"])
def test_a_stop_a_native_library_saw_keeps_the_exit_code_mobikit_chose(tmp_path, name):
    """Signals at any moment: a stop that reached code a native library ran through `PyRun_String` (as TensorFlow's
    and optree's do) left CPython's flag set, and `python -m mobikit` died by SIGINT (-2) after printing its
    stop line (CI's train/10/ALRM). The entry point clears the flag before it exits with the code it chose."""
    number = getattr(signal, name)
    ran = _run_as_main(tmp_path, "import ctypes, sys\n"
                       "from mobikit.__main__ import _forget_interrupts_already_handled\n"
                       "ctypes.pythonapi.PyRun_SimpleString(b'raise KeyboardInterrupt')  # the stop, in native code\n"
                       "_forget_interrupts_already_handled()\n"
                       f"sys.exit({128 + number})\n")
    assert ran.returncode == 128 + number, (ran.returncode, ran.stderr[-300:])


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_stop_inside_a_finalizer_while_loading_ends_the_run(tmp_path, name):
    """Signals at any moment: a SIGTERM that landed while Python ran a `__del__` during loading raised the loading
    handler's SystemExit where Python ignores it ("Exception ignored"); the stop line was printed and then the whole
    bench ran and exited 0 (an outside attack, 1 run in 24). The run must end with the code its line announced."""
    number = getattr(signal, name)
    ran = _run_as_main(tmp_path, "import os, time\n"
                       "from mobikit.__main__ import stop_cleanly_while_loading\n"
                       "stop_cleanly_while_loading()\n"
                       "class Finalized:\n"
                       "    def __del__(self):\n"
                       f"        os.kill(os.getpid(), {int(number)})\n"
                       "        for _ in range(200): time.sleep(0.005)\n"
                       "Finalized()\n"
                       "print('loading went on')\n")
    assert ran.returncode == 128 + number, (ran.returncode, ran.stderr[-400:])
    assert "loading went on" not in ran.stdout
    assert ran.stderr.count("stopped before anything started") == 1 and "Exception ignored" not in ran.stderr, \
        ran.stderr


# ------------------------------------------------------------------------------------------------ labels files

@seed(SEED)
@PROPERTIES
@given(st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_a_labels_file_of_any_bytes_is_read_or_refused_in_one_line(fresh, content):
    from mobikit.labels import read_labels_file

    path = fresh() / "labels.txt"
    path.write_bytes(content)
    try:
        labels = read_labels_file(path)
    except UsageError as exc:
        assert one_line(exc.render(str)), exc.render(str)
        return
    assert labels.names and all(name and "\n" not in name and name == name.strip() for name in labels.names)


# ------------------------------------------------------------------------------------------------ model.json contracts


def _model_json() -> dict:
    from mobikit.description import ModelDescription, TensorSpec
    from mobikit.preprocess import describe

    description = ModelDescription("m", "int8", 96, 10, TensorSpec("int8", (1, 96, 96, 3), 0.0078, 0),
                                   TensorSpec("int8", (1, 10), 0.0039, -128), softmax=True, size_bytes=1000,
                                   sha256="0" * 64, arch="v1", alpha=0.25, full_integer=True,
                                   preprocessing=describe(96))
    return description.to_json()


FIELDS = st.sampled_from(["size_bytes", "resolution", "classes", "fallback_layers", "alpha", "name", "sha256",
                          "calibration", "mode", "weights"])
VALUES = st.one_of(st.integers(-2 ** 63, 2 ** 63), st.floats(allow_nan=True), st.text(max_size=20), st.none(),
                   st.booleans(), st.integers(0, 2_000_000).map(lambda n: ["conv"] * n),
                   st.lists(st.integers(), max_size=5))


@seed(SEED)
@settings(PROPERTIES, max_examples=max(PROPERTIES.max_examples, 60))
@given(FIELDS, VALUES)
def test_model_json_fields_out_of_range_are_refused_in_one_line(field, value):
    """Contracts: a model.json with `size_bytes: -1` or a million `fallback_layers` is refused, in one short line.
    Before the fix both were accepted."""
    from mobikit.description import MAX_LAYERS, ModelDescription

    data = _model_json()
    data[field] = value
    try:
        description = ModelDescription.from_json(data, "model.json")
    except UsageError as exc:
        assert one_line(exc.render(str)), (exc.render(str)[:300], reproduce(
            "test_model_json_fields_out_of_range_are_refused_in_one_line"))
        return
    note(f"accepted {field}={str(value)[:80]}")
    assert description.size_bytes > 0 and 0 < description.resolution and 0 < description.classes
    assert len(description.fallback_layers) <= MAX_LAYERS


NUMPY_VALUES = st.one_of(
    st.integers(-2 ** 31, 2 ** 31 - 1).map(np.int32), st.integers(0, 255).map(np.uint8),
    st.floats(-1e6, 1e6, width=32).map(np.float32), st.lists(st.integers(1, 300).map(np.int32), max_size=4),
    st.lists(st.integers(1, 300), max_size=4).map(np.array))


@seed(SEED)
@PROPERTIES
@given(NUMPY_VALUES)
def test_messages_show_numbers_as_python_prints_them(value):
    """Contracts: `np.int32(1)` never appears in a message (NumPy 2's repr). Before the fix it did."""
    message = MobikitError("got {value}", value=value).render()
    assert "np." not in message and "array(" not in message, (message, reproduce(
        "test_messages_show_numbers_as_python_prints_them"))


# ------------------------------------------------------------------------------------------------ image headers


def _png_header(width: int, height: int, tail: bytes) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + tail + chunk(b"IEND", b""))


def _bmp_header(width: int, height: int, tail: bytes) -> bytes:
    return (b"BM" + struct.pack("<IHHI", 54 + len(tail), 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0) + tail)


def _jpeg_header(width: int, height: int, tail: bytes) -> bytes:
    """A real 8×8 JPEG whose frame header (SOF0) declares width×height: libjpeg decodes it whole, filling the
    missing rows — a 629-byte file that decodes to width×height×3 bytes."""
    import cv2

    encoded = bytearray(cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1].tobytes())
    frame = encoded.find(b"\xff\xc0")
    encoded[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    return bytes(encoded) + tail


def _gif_header(width: int, height: int, tail: bytes) -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0) + tail + b";"


SIDES = st.integers(1, 65535)
HOSTILE = st.one_of(st.tuples(st.sampled_from(["png", "bmp", "gif"]), SIDES, SIDES),
                    # a JPEG is decoded whole: small ones, or ones beyond the limit (never decoded any more)
                    st.tuples(st.just("jpeg"), st.integers(1, 1200), st.integers(1, 1200)),
                    st.tuples(st.just("jpeg"), st.integers(10_001, 65535), st.integers(10_001, 65535)))


@seed(SEED)
@PROPERTIES
@given(HOSTILE, st.binary(max_size=64))
def test_an_image_header_declaring_any_size_is_read_or_skipped(fresh, image, tail):
    """Decompression bombs and hostile headers: an image declaring more than 100 MP (a 629-byte JPEG, a 48 KB PNG
    declaring 20000×20000) is skipped from its header (read_image returns None, the caller counts it), never decoded,
    never an exception. Before the fix such a JPEG was decoded (22 s, 1.2 GB) and Pillow's DecompressionBombError
    then escaped: a crash after the slow steps, a converter log left behind. The probe agrees: a folder of such
    images was refused only after the slow steps (a valid 20000×20000 PNG, 107 s: an outside attack)."""
    from mobikit.images import MAX_PIXELS, probe_images, read_image

    kind, width, height = image
    make = {"png": _png_header, "bmp": _bmp_header, "gif": _gif_header, "jpeg": _jpeg_header}[kind]
    path = fresh() / f"x.{'jpg' if kind == 'jpeg' else 'bmp' if kind == 'bmp' else 'png'}"
    path.write_bytes(make(width, height, tail))
    decoded = read_image(path)
    if width * height > MAX_PIXELS:
        assert decoded is None, (kind, width, height, reproduce(
            "test_an_image_header_declaring_any_size_is_read_or_skipped"))
        with pytest.raises(UsageError):  # and so does the probe, before the slow steps
            probe_images([path], "calib")
    assert decoded is None or (decoded.ndim == 3 and decoded.shape[2] == 3)


# ------------------------------------------------------------------------------------------------ scale


def _zip_declaring(path: Path, sizes: list[int]) -> None:
    """A zip whose directory declares members of `sizes` bytes (each stored with 4 real bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for number in range(len(sizes)):
            archive.writestr(f"m{number}.bin", b"data")
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    for size in sizes:  # the central directory's uncompressed size (offset 24), as a lying archive has it
        raw[at + 24:at + 28] = struct.pack("<I", min(size, 0xFFFFFFFF))
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))


@seed(SEED)
@settings(PROPERTIES, max_examples=min(PROPERTIES.max_examples, 20))
@given(st.lists(st.integers(0, 0xFFFFFFFF), max_size=3), st.integers((1 << 30) + 1, 0xFFFFFFFF))
def test_a_keras_archive_declaring_gigabytes_is_refused_before_reading(fresh, sizes, large):
    """Scale: a .keras whose members declare GBs is refused from its zip directory, before Keras reads a byte
    (before the fix: 5–6 GB of memory, then an error)."""
    from mobikit.models import MAX_KERAS_BYTES, load_keras_image_model

    path = fresh() / "m.keras"
    sizes = [*sizes, large]
    _zip_declaring(path, sizes)
    assert sum(sizes) > MAX_KERAS_BYTES
    with pytest.raises(UsageError, match="declares"):
        load_keras_image_model(path)


@seed(SEED)
@settings(PROPERTIES, max_examples=3)
@given(st.integers(31, 1200), st.integers(0, 2 ** 31))
def test_the_confusion_plot_stays_small_for_any_number_of_classes(classes, draw):
    """Scale: `train` on 1000 classes must not hang in the confusion plot (before the fix: 300 classes 123 s and
    12 GB; 1000 ran out of memory). The figure is bounded whatever the class count."""
    from mobikit.plots import CONFUSION_CLASSES, confusion_png, most_confused

    rng = np.random.default_rng(draw)
    matrix = rng.integers(0, 3, (classes, classes))
    shown = most_confused(matrix, CONFUSION_CLASSES)
    assert len(shown) == CONFUSION_CLASSES
    png = confusion_png(matrix.tolist(), [f"class {i}" for i in range(classes)])
    width, height = struct.unpack(">II", png[16:24])
    assert width * height < 4000 * 4000, (classes, width, height)


# ------------------------------------------------------------------------------------------------ device-path arguments


@seed(SEED)
@PROPERTIES
@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10, 10))
def test_a_device_timeout_must_be_finite_and_positive(fresh, timeout):
    """Device path: `--timeout nan/0/-1` was accepted (nan waited forever), 1e7 overflowed a timer after deploy had
    switched the app. Checked first, before the folder."""
    import math

    from mobikit.android.adb import MAX_TIMEOUT
    from mobikit.android.deploy import deploy

    with pytest.raises(UsageError) as refused:
        deploy(fresh() / "no-such-model", timeout=timeout, adb="/no/such/adb")
    message = refused.value.render(str)
    valid = math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT
    assert ("timeout" in message) != valid, (timeout, message, reproduce(
        "test_a_device_timeout_must_be_finite_and_positive"))


@seed(SEED)
@PROPERTIES
@given(st.binary(max_size=200), st.booleans())
def test_an_apk_that_is_not_an_android_app_is_a_usage_error(fresh, content, as_zip):
    """Device path: `--apk labels.txt` was a runtime error after talking to the phone; now a usage error first."""
    from mobikit.android.deploy import find_apk
    from mobikit.progress import Reporter

    path = fresh() / "app.apk"
    if as_zip:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("classes.dex", content)
    else:
        path.write_bytes(content)
    with pytest.raises(UsageError, match="not an Android app"):
        find_apk(path, Reporter())


@seed(SEED)
@settings(PROPERTIES, max_examples=min(PROPERTIES.max_examples, 15))
@given(st.text(min_size=1, max_size=12).filter(lambda t: "/" not in t and "\0" not in t and t not in (".", "..")))
def test_a_model_name_the_device_cannot_take_is_refused_up_front(tiny_output, fresh, name):
    """Device path: a folder named with a line break broke deploy with a misleading "connection cut?"."""
    import shutil

    from mobikit.android.deploy import load_model_folder

    folder = fresh() / name
    try:
        shutil.copytree(tiny_output, folder)
    except OSError:
        assume(False)
    try:
        model = load_model_folder(folder)
    except UsageError as exc:
        assert "model name on the device" in exc.render(str) and one_line(exc.render(str))
        assert name.startswith(".") or not name.isprintable()
        return
    assert model.name.isprintable() and "\n" not in model.name

"""Issue 17, faults: what happens around a run rather than in its arguments, each on the real CLI or output policy.

Signals at several phases of a real `quantize` (and of build, analyze, sweep), the atomic replacement of an earlier
output, concurrent writers, output names of 229–255 bytes, the umask, a full disk under `demo --output`, a display
that cannot be reached, a closed stdout, Rich markup in user text, EXIF orientation and a labels file with a BOM.
Runs that write get a fresh `TMPDIR` that must be empty afterwards (it receives TensorFlow's SavedModel exports and
autograph files, and mobikit's own scratch files), and the folder around the output is compared before and after.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from mobikit.errors import MobikitError
from mobikit.outputs import MARKER, check_target, folder_mark, new_file, new_folder

from support import assert_one_error, embedded_images, noise_images, tree, tree_changes

PHOTOS = embedded_images()
SIZE = "--alpha 0.25 --resolution 96 --weights none"
TEMP_PREFIX = ".mobikit-tmp-"


def mobikit(args: str | list[str], cwd: Path, temp: Path, umask: int | None = None, env: dict | None = None,
            close_stdout: bool = False) -> subprocess.Popen:
    """Start the real CLI in `cwd` with its own TMPDIR (and umask, or fd 1 closed, when asked)."""
    def child() -> None:
        if umask is not None:
            os.umask(umask)
        if close_stdout:
            os.close(1)

    argv = shlex.split(args) if isinstance(args, str) else args
    return subprocess.Popen([sys.executable, "-m", "mobikit", *argv], cwd=cwd, text=True, preexec_fn=child,
                            stdout=subprocess.DEVNULL if close_stdout else subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(temp), **(env or {})})


def finish(process: subprocess.Popen, timeout: float = 300) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout or "", stderr)


def fresh(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    return path


def left_behind(folder: Path, *temps: Path) -> list[str]:
    """mobikit's temporaries beside its outputs in `folder`, and anything at all left in the runs' TMPDIRs."""
    return ([str(p) for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
            + [str(p) for temp in temps for p in temp.iterdir()])


@pytest.fixture
def own(tiny_output, tmp_path) -> Path:
    """A workspace holding mobikit's own earlier output `own` (a copy of the real tiny int8 folder)."""
    ws = fresh(tmp_path, "ws")
    shutil.copytree(tiny_output, ws / "own")
    return ws


# ------------------------------------------------------------------------------------------------ signals


Phase = Callable[[Path, Path, set], bool]  # (the run's TMPDIR, its workspace, what was seen so far) → now


def exports(count: int) -> Phase:
    """TensorFlow has started its `count`-th SavedModel export in TMPDIR (the converter writes one per conversion
    and deletes it after, so the exports seen are remembered)."""
    def now(temp: Path, ws: Path, seen: set) -> bool:
        seen.update(p.parent for p in temp.rglob("saved_model.pb"))
        return len(seen) >= count
    return now


def scratch(pattern: str) -> Phase:
    """mobikit's own scratch folder (bias correction's stages, latency's model file) exists in the run's TMPDIR."""
    return lambda temp, ws, seen: any(temp.glob(f"mobikit-*/{pattern}"))


def staging(temp: Path, ws: Path, seen: set) -> bool:
    """The output is being written under its temporary name beside the target."""
    return any(ws.glob(f"{TEMP_PREFIX}*"))


@dataclass(frozen=True)
class Stop:
    """A run stopped by a signal once `when(tmpdir, workspace)` holds: the phase it is in."""

    id: str
    args: str
    signal: int
    when: Phase


QUANTIZE_OWN = f"quantize {SIZE} --calib-samples 8 -o own"
STOPS = [
    Stop("quantize, Ctrl-C while TensorFlow exports the float model", QUANTIZE_OWN, signal.SIGINT, exports(1)),
    Stop("quantize, SIGTERM during the calibration conversion", QUANTIZE_OWN, signal.SIGTERM, exports(2)),
    Stop("quantize, Ctrl-C during bias correction", QUANTIZE_OWN, signal.SIGINT, scratch("mobikit-bias-*")),
    Stop("quantize, SIGTERM during verification", QUANTIZE_OWN, signal.SIGTERM, scratch("mobikit-latency-*")),
    Stop("build, SIGTERM while the .keras is written", f"build {SIZE} -o m.keras", signal.SIGTERM, staging),
    Stop("analyze, Ctrl-C during its calibration", "analyze own --weights none --calib-samples 4", signal.SIGINT,
         exports(1)),
    Stop("sweep, Ctrl-C in its first cell", f"sweep {SIZE} --calib-samples 4 -o sw", signal.SIGINT, exports(1)),
]


@dataclass
class Stopped:
    ws: Path
    result: subprocess.CompletedProcess
    sent_after: float | None
    before: dict
    after: dict
    temp_left: list[str]


def stop(case: Stop, root: Path, tiny: Path) -> Stopped:
    ws, temp = fresh(root, "ws"), fresh(root, "tmp")
    shutil.copytree(tiny, ws / "own")
    before = tree(ws)
    process = mobikit(case.args, ws, temp)
    start, sent_after, seen = time.monotonic(), None, set()
    while process.poll() is None and time.monotonic() - start < 300:
        if case.when(temp, ws, seen):
            process.send_signal(case.signal)
            sent_after = time.monotonic() - start
            break
        time.sleep(0.02)
    result = finish(process)
    return Stopped(ws, result, sent_after, before, tree(ws), sorted(os.listdir(temp)))


@pytest.fixture(scope="module")
def stopped(request, tiny_output, tmp_path_factory) -> dict[str, Stopped]:
    """The selected runs, two at a time (each waits on its phase; the machine has two cores)."""
    chosen = [item.callspec.params["case"] for item in request.session.items
              if item.module is request.module and isinstance(
                  getattr(getattr(item, "callspec", None), "params", {}).get("case"), Stop)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case.id: pool.submit(stop, case, tmp_path_factory.mktemp("stop"), tiny_output)
                   for case in chosen}
    return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in STOPS])
def test_a_signal_stops_the_run_with_one_line_and_leaves_nothing(case: Stop, stopped):
    run = stopped[case.id]
    assert run.sent_after is not None, ("the run ended before the phase was seen", run.result.stderr)
    assert run.result.returncode == 128 + case.signal, run.result.stderr
    lines = [line for line in run.result.stderr.splitlines() if line.strip()]
    word = {signal.SIGINT: "interrupted:", signal.SIGTERM: "terminated:"}[case.signal]
    assert lines[-1].startswith(word) and sum(line.startswith(word) for line in lines) == 1, run.result.stderr
    assert "Traceback" not in run.result.stderr and not any(line.startswith("error:") for line in lines)
    assert run.temp_left == [], run.temp_left  # SavedModel exports, autograph files, scratch models: all gone
    changes = tree_changes(run.before, run.after)
    if case.args.startswith("sweep"):
        # a sweep folder is kept to resume from: mobikit's own, marked, and accepted as such by the rerun
        assert all(change.startswith("added: sw") for change in changes), changes
        assert folder_mark(run.ws / "sw")["kind"] == "sweep"
        check_target(run.ws / "sw", "sweep")
    else:
        assert not changes, changes  # the earlier output `own` byte for byte, and nothing beside it


# ------------------------------------------------------------------------------------------------ replacing


NAME_255 = "o" * 255


@pytest.fixture(scope="module")
def replaced(tiny_output, tmp_path_factory):
    """One real run under umask 022 that replaces mobikit's earlier output, named with 255 bytes, calibrating on a
    folder of 1006 small images (so the held-out verification set is larger than the default cap)."""
    root = tmp_path_factory.mktemp("replace")
    ws, temp = fresh(root, "ws"), fresh(root, "tmp")
    shutil.copytree(tiny_output, ws / NAME_255)
    noise_images(ws / "big", [f"{i:04d}.png" for i in range(1006)], size=16)
    (ws / "names.txt").write_text("".join(f"thing {i}\n" for i in range(1000)))
    before = tree(ws)
    result = finish(mobikit(f"quantize {SIZE} --calib big --calib-samples 4 --no-bias-correction --labels names.txt "
                            f"-o {NAME_255}", ws, temp, umask=0o022))
    return ws, temp, result, before


def test_an_earlier_output_named_with_255_bytes_is_replaced_in_one_step(replaced):
    ws, temp, result, before = replaced
    assert result.returncode == 0, result.stderr
    assert len(os.fsencode(NAME_255)) == 255
    changes = tree_changes(before, tree(ws))
    assert changes and all(change.split(": ", 1)[1].startswith(NAME_255 + "/") for change in changes), changes
    output = ws / NAME_255
    assert set(folder_mark(output)["files"]) | {MARKER} == {p.name for p in output.iterdir()}
    calibration = json.loads((output / "model.json").read_text())["calibration"]
    assert calibration["source"] == str(ws / "big") and calibration["fingerprint"]  # absolute, and fingerprinted
    assert left_behind(ws, temp) == []


def test_labels_given_for_1000_classes_are_the_ones_written(replaced):
    from mobikit.metadata import read_metadata

    ws, _, result, _ = replaced
    assert result.returncode == 0, result.stderr
    names = (ws / "names.txt").read_text().splitlines()
    assert (ws / NAME_255 / "labels.txt").read_text().splitlines() == names
    assert list(read_metadata((ws / NAME_255 / "model.tflite").read_bytes()).labels) == names


def test_a_folder_follows_umask_022(replaced):
    ws, _, result, _ = replaced
    assert result.returncode == 0, result.stderr
    modes = {p.name: p.stat().st_mode & 0o777 for p in [ws / NAME_255, *(ws / NAME_255).iterdir()]}
    assert modes.pop(NAME_255) == 0o755 and set(modes.values()) == {0o644}, modes


def test_verifying_on_a_large_calibration_folder_is_capped_and_says_so(replaced):
    from mobikit import defaults

    ws, _, result, _ = replaced
    report = json.loads((ws / NAME_255 / "report.json").read_text())
    assert report["eval"]["n"] == defaults.HOLDOUT_SAMPLES
    note = f"the first {defaults.HOLDOUT_SAMPLES} of 1002; --eval-samples sets how many"
    assert note in result.stderr and any(note in line for line in report["notes"])


def demo_video(ws: Path, temp: Path, output: str, umask: int | None = None, source: str = "photos",
               env: dict | None = None, extra: str = "--no-window") -> subprocess.CompletedProcess:
    return finish(mobikit(["demo", "own", "--source", source, *shlex.split(extra), "-o", output], ws, temp,
                          umask=umask, env=env))


@pytest.fixture
def photos(own) -> Path:
    (own / "photos").mkdir()
    for name in ("cat.jpg", "pizza.jpg", "taxis.jpg"):
        shutil.copy(PHOTOS / name, own / "photos" / name)
    return own


@pytest.mark.parametrize("umask,expected", [(0o022, 0o644), (0o077, 0o600)], ids=["022", "077"])
def test_a_video_follows_the_umask(photos, tmp_path, umask, expected):
    temp = fresh(tmp_path, "tmp")
    result = demo_video(photos, temp, "v.mp4", umask=umask)
    assert result.returncode == 0, result.stderr
    assert (photos / "v.mp4").stat().st_mode & 0o777 == expected
    assert left_behind(photos, temp) == []


def test_a_folder_follows_umask_077(tmp_path):
    """The output policy itself in a fresh process under umask 077: nothing wider than the user allows."""
    code = ("import sys; from mobikit.outputs import new_folder\n"
            "with new_folder(sys.argv[1], 'analysis') as folder:\n"
            "    (folder / 'a.csv').write_text('x')\n    (folder / 'sub').mkdir()\n")
    output = tmp_path / "out"
    subprocess.run([sys.executable, "-c", code, str(output)], check=True, timeout=60,
                   preexec_fn=lambda: os.umask(0o077))
    modes = {p.name: p.stat().st_mode & 0o777 for p in [output, *output.iterdir()]}
    assert modes == {"out": 0o700, "sub": 0o700, "a.csv": 0o600, MARKER: 0o600}, modes


@pytest.mark.parametrize("length", [229, 255])
def test_a_video_name_of_229_to_255_bytes(photos, tmp_path, length):
    name = "v" * (length - 4) + ".mp4"
    temp = fresh(tmp_path, "tmp")
    result = demo_video(photos, temp, name)
    assert result.returncode == 0, result.stderr
    assert (photos / name).is_file() and len(os.fsencode(name)) == length
    assert left_behind(photos, temp) == []


def test_a_folder_name_of_229_bytes(tmp_path):
    target = tmp_path / ("f" * 229)
    with new_folder(target, "analysis") as folder:
        (folder / "a.csv").write_text("x")
    assert {p.name for p in target.iterdir()} == {"a.csv", MARKER} and left_behind(tmp_path) == []


# ------------------------------------------------------------------------------------------------ concurrent writers


def test_two_demos_writing_one_video_at_once(photos, tmp_path):
    temps = [fresh(tmp_path, f"tmp{i}") for i in range(2)]
    runs = [mobikit(["demo", "own", "--source", "photos", "--no-window", "-o", "same.mp4"], photos, temp)
            for temp in temps]
    results = [finish(run) for run in runs]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    check_target(photos / "same.mp4", "demo-video")  # whole, and recognised as mobikit's own video
    assert left_behind(photos, *temps) == []


def test_two_writers_of_one_folder_both_finish_and_the_last_one_stands(tmp_path):
    target = tmp_path / "out"
    with new_folder(target, "analysis") as first:
        (first / "first.csv").write_text("1")
        with new_folder(target, "analysis") as second:
            (second / "second.csv").write_text("2")
    assert {p.name for p in target.iterdir()} == {"first.csv", MARKER}
    assert left_behind(tmp_path) == []


def test_a_user_folder_that_appears_during_the_run_is_kept(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(MobikitError, match="appeared while this run worked"):
        with new_folder(target, "analysis") as staging:
            (staging / "a.csv").write_text("new")
            target.mkdir()
            (target / "mine.txt").write_text("the user's")
    assert [p.name for p in target.iterdir()] == ["mine.txt"] and (target / "mine.txt").read_text() == "the user's"
    assert left_behind(tmp_path) == []


def test_a_user_file_that_appears_during_the_run_is_kept(tmp_path):
    import zipfile

    target = tmp_path / "m.keras"
    with pytest.raises(MobikitError, match="appeared while this run worked"):
        with new_file(target, "keras-model") as staging:
            with zipfile.ZipFile(staging, "w") as archive:
                archive.writestr("config.json", "{}")
            target.write_text("the user's")
    assert target.read_text() == "the user's" and left_behind(tmp_path) == []


# ------------------------------------------------------------------------------------------------ a full disk


def small_filesystem(path: Path, size: str):
    """Mount a tmpfs of `size` at `path`, or skip saying why (it needs root, and a kernel that lets this sandbox)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or mounted.returncode}")


def limited_file_size(limit: int) -> Callable[[], None]:
    """What the child does before it runs: file writes beyond `limit` bytes fail with EFBIG (SIGXFSZ ignored)."""
    def child() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return child


@pytest.mark.parametrize("limit", ["full tmpfs", "file size limit"])
def test_a_full_disk_keeps_the_earlier_video(photos, tmp_path, limit):
    temp = fresh(tmp_path, "tmp")
    videos = photos / "videos"
    if limit == "full tmpfs":
        small_filesystem(videos, "512k")
    try:
        assert demo_video(photos, temp, "videos/good.mp4").returncode == 0
        good = (videos / "good.mp4").read_bytes()
        argv = [sys.executable, "-m", "mobikit", "demo", "own", "--source", str(PHOTOS), "--no-window", "-o",
                "videos/good.mp4"]
        if limit == "full tmpfs":
            (videos / "filler").write_bytes(b"\0" * (shutil.disk_usage(videos).free - 8192))  # 8 KB stay free
            before_run = None
        else:
            before_run = limited_file_size(len(good) // 2)
        expected = sorted(p.name for p in videos.iterdir())
        result = subprocess.run(argv, cwd=photos, capture_output=True, text=True, preexec_fn=before_run,
                                timeout=300, env={**os.environ, "TMPDIR": str(temp)})
        line = assert_one_error(result, 1)
        assert "could not be written" in line, line
        assert (videos / "good.mp4").read_bytes() == good
        assert sorted(p.name for p in videos.iterdir()) == expected and left_behind(videos, temp) == []
    finally:
        if limit == "full tmpfs":
            subprocess.run(["umount", str(videos)], check=True)


# ------------------------------------------------------------------------------------------------ display, stdout


UNREACHABLE = ":99"


def test_an_unreachable_display_runs_headless_and_says_so(photos, tmp_path):
    if Path(f"/tmp/.X11-unix/X{UNREACHABLE[1:]}").exists():
        pytest.skip(f"an X server is running at {UNREACHABLE} here")
    temp = fresh(tmp_path, "tmp")
    result = demo_video(photos, temp, "v.mp4", env={"DISPLAY": UNREACHABLE}, extra="--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["window"] is False
    assert f"the display {UNREACHABLE} cannot be reached" in result.stderr
    assert (photos / "v.mp4").is_file() and left_behind(photos, temp) == []


def test_a_window_asked_for_without_a_display_is_one_error(photos, monkeypatch):
    from mobikit.live_demo import demo

    monkeypatch.setenv("DISPLAY", UNREACHABLE)
    with pytest.raises(MobikitError, match="cannot open a window"):
        demo(photos / "own", str(photos / "photos"), photos / "v.mp4", window=True)
    assert not (photos / "v.mp4").exists() and left_behind(photos) == []


@pytest.mark.parametrize("args", ["bench own --json --runs 1 --warmup 0 --min-seconds 0", "profile --json",
                                  "inspect own"])
def test_a_closed_stdout_is_one_line(own, tmp_path, args):
    temp = fresh(tmp_path, "tmp")
    result = finish(mobikit(args, own, temp, close_stdout=True))
    assert "standard output is closed" in assert_one_error(result, 1)


# ------------------------------------------------------------------------------------------------ markup in user text


def test_markup_in_an_output_name_is_printed_literally(tmp_path):
    temp = fresh(tmp_path, "tmp")
    result = finish(mobikit(f"build {SIZE} -o 'exp[v2][bold].keras'", tmp_path, temp))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("saved exp[v2][bold].keras:") and (tmp_path / "exp[v2][bold].keras").is_file()


def test_markup_in_paths_is_printed_literally(own, tmp_path):
    shutil.copytree(own / "own", own / "a[" / "]b[bold]")
    temp = fresh(tmp_path, "tmp")
    shown = finish(mobikit(["inspect", "a[/]b[bold]"], own, temp))
    assert shown.returncode == 0 and shown.stdout.startswith("a[/]b[bold]/model.tflite:"), shown.stdout
    missing = finish(mobikit(["bench", "no[/]such[bold]"], own, temp))
    assert "no[/]such[bold]" in assert_one_error(missing, 2)
    (own / "one").mkdir()
    shutil.copy(PHOTOS / "cat.jpg", own / "one" / "cat.jpg")
    video = finish(mobikit(["demo", "own", "--source", "one", "--no-window", "-o", "v[/]x[bold].mp4"], own, temp))
    assert video.returncode == 0 and "annotated video: v[/]x[bold].mp4" in video.stdout, video.stderr


def test_markup_in_labels_is_printed_literally(own, tmp_path):
    """The same photo labelled as two classes: at least one is a confusion, printed with its label verbatim."""
    (own / "own" / "labels.txt").write_text("".join(f"[bold]c{i}[/]\n" for i in range(1000)))
    data = own / "data"
    data.mkdir()
    for synset in ("n01440764", "n01443537"):  # classes 0 and 1
        shutil.copy(PHOTOS / "cat.jpg", data / f"{synset}_cat.jpg")
    result = finish(mobikit("eval own --data data", own, fresh(tmp_path, "tmp")))
    assert result.returncode == 0, result.stderr
    assert "[bold]c0[/]" in result.stdout or "[bold]c1[/]" in result.stdout, result.stdout


# ------------------------------------------------------------------------------------------------ one photo, every path


def test_exif_orientation_is_applied_on_every_path(own, tmp_path):
    """One phone photo stored sideways with EXIF orientation 6: the reader turns it upright, and demo and eval both
    classify the upright pixels (the expected class is what the same model says on them, not a literal)."""
    from PIL import Image

    from mobikit.evaluation import load_classifier
    from mobikit.images import read_image
    from mobikit.labels import imagenet
    from mobikit.preprocess import preprocess

    with Image.open(PHOTOS / "taxis.jpg") as photo:
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90° clockwise to view"
        photo.save(tmp_path / "plain.jpg", quality=95)
        photo.save(tmp_path / "turned.jpg", quality=95, exif=exif)  # the same JPEG data plus the tag
    upright = np.rot90(read_image(tmp_path / "plain.jpg"), k=-1)
    assert np.array_equal(read_image(tmp_path / "turned.jpg"), upright)
    classifier = load_classifier(own / "own")
    index = int(np.argmax(classifier.predict(preprocess(upright, classifier.resolution)[None])[0]))
    (own / "data").mkdir()
    shutil.copy(tmp_path / "turned.jpg", own / "data" / f"{imagenet().synsets[index]}_turned.jpg")
    temp = fresh(tmp_path, "tmp")
    shown = finish(mobikit("demo own --source data --no-window --json", own, temp))
    assert json.loads(shown.stdout)["top1"] == [classifier.class_list.names[index]], shown.stderr
    measured = finish(mobikit("eval own --data data --json", own, temp))
    assert json.loads(measured.stdout)["top1"] == 1.0, measured.stderr


def test_a_labels_file_with_a_bom_keeps_class_folders_labelled(own, tmp_path):
    labels = own / "own" / "labels.txt"
    names = labels.read_text().splitlines()
    labels.write_bytes(b"\xef\xbb\xbf" + labels.read_bytes())
    (own / "data" / names[0]).mkdir(parents=True)  # a folder named after the first class, the one the BOM touches
    shutil.copy(PHOTOS / "cat.jpg", own / "data" / names[0] / "cat.jpg")
    result = finish(mobikit("eval own --data data --json", own, fresh(tmp_path, "tmp")))
    assert result.returncode == 0 and json.loads(result.stdout)["n"] == 1, result.stderr

"""The command line's surface as a new user meets it (issue 25): --version, the help listing, usage errors in
mobikit's own words, results on stdout and everything else on stderr, the bench table at 80 columns, up-front input
checks, one sentence per conclusion, the demo's pacing, FPS and letterbox, and the labelled first run."""

from __future__ import annotations

import json
import re
import time
from dataclasses import fields, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

import mobikit
from mobikit.android.device_bench import DeviceBenchResult
from mobikit.cli.tables import bench_table
from mobikit.images import embedded_images
from mobikit.labels import imagenet, label_of
from mobikit.latency import BenchResult
from mobikit.live_demo import demo, letterbox
from mobikit.quantization import host_timing_note

from support import assert_clean_failure, run_cli

VERIFICATION = embedded_images("verification")


# --- --version and --json -------------------------------------------------------------------------------------------

def test_version_and_every_json_object_carries_it():
    shown = run_cli("--version")
    assert shown.returncode == 0 and shown.stdout == f"mobikit {mobikit.__version__}\n" and not shown.stderr
    profile = run_cli("profile", "--alpha", "0.25", "--resolution", "128", "--json")
    assert profile.returncode == 0 and json.loads(profile.stdout)["mobikit_version"] == mobikit.__version__


# --- usage errors ---------------------------------------------------------------------------------------------------

USAGE = [  # arguments, the one line expected (after "error: ")
    (["quantize", "--arch", "v3"], "--arch takes v1 or v2, got 'v3'"),
    (["quantize", "--mode", "int9"], "--mode takes int8, fp16, dynamic or fp32, got 'int9'"),
    (["quantize", "--calib-samples", "many"], "--calib-samples takes a whole number, got 'many'"),
    (["quantize", "--alpha=wide"], "--alpha takes a number, got 'wide'"),
    (["quantize", "--alhpa", "0.25"], "mobikit quantize has no option --alhpa; did you mean --alpha?"),
    (["quantize", "--no-bias-corection"], "has no option --no-bias-corection; did you mean --no-bias-correction?"),
    (["--verison"], "mobikit has no option --verison; did you mean --version?"),
    (["quantize", "-alpha", "0.25"], "mobikit quantize has no option -alpha; did you mean --alpha?"),
    (["quantize", "--version"], "--version is an option of mobikit itself: mobikit --version"),
    (["profile", "--max-drop", "1"], "has no option --max-drop; --max-drop is an option of mobikit quantize"),
    (["--json"], "mobikit has no option --json; --json is an option of mobikit profile and other commands"),
    (["bench"], "mobikit bench needs MODEL"),
    (["sweep"], "mobikit sweep needs --output"),
    (["bench", "x.tflite", "--threads"], "--threads needs a value"),
]


@pytest.mark.parametrize("args, expected", USAGE, ids=[" ".join(args) for args, _ in USAGE])
def test_usage_errors_are_in_mobikits_words(args, expected):
    result = run_cli(*args)
    assert_clean_failure(result, 2)
    assert expected in result.stderr, result.stderr
    for leak in ("Value error", "Possible options", "Input should be", "Invalid value"):
        assert leak not in result.stderr
    if "did you mean" in expected:
        assert re.search(r"did you mean --[\w-]+\?", result.stderr) and "," not in result.stderr  # one only


def test_calib_file_is_not_called_a_missing_folder(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not images")
    result = run_cli("quantize", "--alpha", "0.25", "--calib", str(notes))
    assert_clean_failure(result, 2)
    assert f"--calib takes a folder of images; {notes} is a file" in result.stderr


def test_a_folder_of_undecodable_images_is_refused_before_the_model_is_built(tmp_path, monkeypatch):
    fake = tmp_path / "calib"
    fake.mkdir()
    (fake / "photo.jpg").write_text("this is text, not a JPEG")
    import mobikit.models

    def built_too_early(*_args, **_kwargs):
        raise AssertionError("the model was built before the images were decoded")

    monkeypatch.setattr(mobikit.models, "build_model", built_too_early)
    with pytest.raises(mobikit.UsageError, match="none of the 1 image files in calib .* could be decoded"):
        mobikit.quantize(alpha=0.25, calib=fake, output=tmp_path / "out")
    started = time.perf_counter()
    result = run_cli("quantize", "--alpha", "0.25", "--calib", str(fake), "--output", str(tmp_path / "out"))
    assert_clean_failure(result, 2)
    assert "--calib" in result.stderr and "could be decoded" in result.stderr
    assert not (tmp_path / "out").exists() and time.perf_counter() - started < 60


# --- stdout holds results only ----------------------------------------------------------------------------------------

def test_keras_download_line_goes_to_stderr(tmp_path):
    """With an empty keras cache and no network, keras announces the download on stdout: not through mobikit."""
    result = run_cli("build", "--alpha", "0.5", "--resolution", "128", "--output", str(tmp_path / "m.keras"),
                     env={"KERAS_HOME": str(tmp_path / "empty-cache")})
    assert result.stdout == "", result.stdout
    assert "Downloading data from" in result.stderr or "could not be downloaded" in result.stderr


# --- bench ------------------------------------------------------------------------------------------------------------

def test_bench_table_reads_at_80_columns():
    names = [f.name for f in fields(BenchResult)]
    row = BenchResult(**dict.fromkeys(names))
    phone = replace(row, device="Pixel 7 Pro", model="m", threads=8, delegate="xnnpack", runs=12345,
                    **{name: 1234.56 for name in names if name.endswith("_ms")}, size_bytes=14_000_000)
    host = replace(phone, device="host", delegate="cpu")
    failed = replace(phone, delegate="gpu", error="GPU delegate not available", runs=None)
    fell_back = DeviceBenchResult(**{f.name: getattr(phone, f.name) for f in fields(BenchResult)})
    fell_back = replace(fell_back, delegate="gpu", delegate_used="xnnpack", delegate_nodes=31, graph_nodes=31)
    console = Console(width=80, record=True)
    console.print(bench_table([phone, host, failed, fell_back]))
    text = console.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80, text
    assert "1234.56" in text and "xnnpack" in text and "Pixel 7" in text


# --- every table at 80 columns ----------------------------------------------------------------------------------------

BOX_DRAWING = range(0x2500, 0x2580)


def _glyphs(text: str) -> list[str]:
    """Every character a table shows but its frame and spacing: equal at two widths when no value was cut."""
    return sorted(c for c in text if not c.isspace() and ord(c) not in BOX_DRAWING)


def _reads_at_80(narrow: str, wide: str, *whole: str) -> None:
    """`narrow` (printed at 80 columns) fits them, shows every character `wide` shows (a value may fold onto the
    next line, never be cut to "…"), and shows each of `whole` unbroken on one line. A line of text is never wrapped:
    one past 80 columns is the same at both widths; a table's is not."""
    lines = narrow.splitlines()
    assert not [line for line in lines if len(line) > 80 and line not in wide.splitlines()], narrow
    assert "…" not in narrow, narrow
    assert _glyphs(narrow) == _glyphs(wide), (narrow, wide)
    for value in whole:
        assert any(value in line for line in lines), (value, narrow)


def _rendered(table, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(table)
    return console.export_text()


def test_every_table_reads_at_80_columns(tiny_output, tmp_path):
    """Each table the CLI prints, at COLUMNS=80 off a terminal: profile, inspect, bench and sweep through the real
    commands; the tables of slower commands (quantize's fallback search, analyze, eval's confusions, train,
    devices) from their result types, with the longest values those carry (MobileNet V2's layer names, TFLite op
    names, ImageNet labels)."""
    from types import SimpleNamespace

    from mobikit.android.adb import Device
    from mobikit.android.farm import ServerListing, parse_server
    from mobikit.cli import tables
    from mobikit.fallback import FallbackResult, FallbackStep
    from mobikit.fitting import HeldOutScores
    from mobikit.layer_error import LayerError
    from mobikit.sweeping import Cell, SweepResult

    def both(*args, env=None):
        shown = [run_cli(*args, env={**(env or {}), "COLUMNS": str(columns)}) for columns in (80, 1000)]
        assert all(result.returncode == 0 for result in shown), shown[0].stderr
        return shown[0].stdout, shown[1].stdout

    _reads_at_80(*both("profile", "--arch", "v2", "--alpha", "0.25", "--resolution", "96"),
                 "expanded_conv_depthwise", "Conv dw / s1", "1×1×80×1280", "1,529,768")
    _reads_at_80(*both("profile", "--alpha", "1", "--resolution", "224", "--standard-conv"), "4,867,293,184")
    from ai_edge_litert.interpreter import Interpreter

    # the input's name counts the Keras tensors made earlier in the process that built the model: read, not assumed
    input_name = Interpreter(model_path=str(tiny_output / "model.tflite")).get_input_details()[0]["name"]
    _reads_at_80(*both("inspect", str(tiny_output)), input_name, "DEPTHWISE_CONV_2D")
    # timings and a sweep's reuse differ from run to run: one run each, its table within 80 columns
    bench = run_cli("bench", str(tiny_output), "--threads", "1", "--runs", "3", "--min-seconds", "0",
                    env={"COLUMNS": "80"})
    sweep = run_cli("sweep", "--alpha", "0.5", "--resolution", "128", "--output", str(tmp_path / "sw"),
                    env={"KERAS_HOME": str(tmp_path / "empty-cache"), "COLUMNS": "80"})
    for result, table in ((bench, bench.stdout), (sweep, sweep.stdout.split("skipped:")[0])):
        assert result.returncode == 0, result.stderr
        assert max(map(len, table.splitlines())) <= 80 and "…" not in table, result.stdout
    assert "xnnpack" in bench.stdout and "skipped" in sweep.stdout

    v2_layers = ("expanded_conv_depthwise", "expanded_conv_project", "block_16_depthwise")
    errors = [LayerError(i, name, "DEPTHWISE_CONV_2D", 12.345, -1.234e-05, 123.456, 1.234e-05, -128, name + ":0")
              for i, name in enumerate(v2_layers)]
    done = Cell("v2_0.35_224", "v2", 0.35, 224, "done", "imagenet", 59_000_000, 1_700_000, 300, True, 0.6033,
                0.5967, 0.8, 0.79, 0.9333, 12.34, 4.56, 6_800_000, 1_900_000, reused=True)
    sweeps = [SweepResult(tmp_path / "sw", [done, replace(done, float_top1=None, int8_top1=None, status="failed",
                                                          reused=False)], metric, {}, 1.0)
              for metric in ("top1", "agreement")]
    fallback = FallbackResult(b"", v2_layers[:2], tuple(
        FallbackStep(v2_layers[:n], 0.6, 0.9667, 1234.5, 1.23, 1, n == 2) for n in range(3)), True, "stopped",
        0.6, "top-1 drop ≤ 1.0 points and agreement ≥ 99.0%")
    labels = ("American Staffordshire terrier", "Staffordshire bullterrier, Staffordshire bull terrier")
    train = SimpleNamespace(test=HeldOutScores(300, 0.8567, [
        {"class": label, "precision": 0.875, "recall": 0.9, "f1": 0.887, "support": 150} for label in labels],
        [], []))
    devices = [ServerListing(parse_server("localhost:5037"), [
        Device("emulator-5554", "device", "Pixel 7 Pro", "14", 34, "arm64-v8a", "Google Tensor G2"),
        Device("R5CT1234567890ABCDEF", "unauthorized")]),
        ServerListing(parse_server("10.0.0.2:5037"), error="cannot connect to 10.0.0.2:5037: Connection refused")]
    rendered = [
        (tables.worst_layers_table(SimpleNamespace(model="v2_0.35_224_int8", calib_samples=200), errors), v2_layers),
        *((tables.sweep_table(result, "v2"), ("60.3%" if result.metric == "top1" else "93.3%", "59.0M", "1.90 MB",
                                               "done (reused)")) for result in sweeps),
        (tables.fallback_table(fallback), ("1234.50 ms", "1.23×", "96.7%")),
        (tables.confusions_table([{"true": labels[0], "predicted": labels[1], "count": 12}]), ()),
        (tables.train_table(train), ("0.875", "0.887", "150")),
        (tables.devices_table(devices), ("emulator-5554", "R5CT1234567890ABCDEF", "arm64-v8a",
                                                     "10.0.0.2:5037")),
    ]
    for table, whole in rendered:
        _reads_at_80(_rendered(table, 80), _rendered(table, 1000), *whole)


def test_a_table_breaks_no_word_and_drops_no_column_on_a_narrow_terminal():
    """`mobikit devices` split its header "androi" over "d" at 80 columns with an IPv6 server, and dropped columns
    at COLUMNS=40: no column is narrower than its longest word now; when the longest words do not fit the terminal,
    the table is as wide as they are (the terminal wraps its lines), never cut."""
    from mobikit.android.adb import Device
    from mobikit.android.farm import ServerListing, parse_server
    from mobikit.cli import tables

    listings = [ServerListing(parse_server("[::1]:5037"), [
        Device("127.0.0.1:41945", "device", "Pixel 7", "14", 34, "arm64-v8a", "Tensor G2"),
        Device("R5CT1234567890ABCDEF", "unauthorized")]),
        ServerListing(parse_server("[fd00::2]:5037"), error="cannot connect")]
    words = {word for listing in listings for device in listing.devices for word in
             (device.serial, device.state, *(device.model or "").split(), device.abi, *(device.soc or "").split())
             if word} | {"server", "serial", "state", "model", "android", "(sdk)", "abi", "soc", "[::1]:5037",
                         "[fd00::2]:5037", "14", "(34)", "unreachable"}
    for width in (80, 40):  # printed as the CLI prints (cli.common.out): no markup, lines never cut by Rich
        console = Console(width=width, record=True, file=open("/dev/null", "w"), markup=False, highlight=False,
                          soft_wrap=True)
        console.print(tables.devices_table(listings))
        text = console.export_text()
        shown = {word for line in text.splitlines() for word in line.split() if not word.startswith("─")} - {"–"}
        assert shown == words and "…" not in text, (width, text)  # every word whole, none missing
        assert max(len(line.rstrip()) for line in text.splitlines()) <= 80, text


def test_bench_shows_progress_on_stderr_and_the_table_on_stdout(tiny_output):
    result = run_cli("bench", str(tiny_output), "--threads", "1,2", "--runs", "5", "--min-seconds", "0.05",
                     env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert "timing 2 configuration(s)" in result.stderr and "timing" not in result.stdout
    assert "median" in result.stdout and "…" not in result.stdout
    assert max(map(len, result.stdout.splitlines())) <= 80, result.stdout


# --- the first run ----------------------------------------------------------------------------------------------------

def test_the_shipped_verification_photos_are_labelled_and_credited():
    photos = sorted(VERIFICATION.glob("*.jpg"))
    credits = (VERIFICATION.parent / "CREDITS.md").read_text(encoding="utf-8")
    assert len(photos) == 19
    for photo in photos:
        assert label_of(photo, VERIFICATION, imagenet()) is not None, photo.name
        assert f"| verification | `{photo.name}` |" in credits, photo.name


def test_first_run_shows_top1_and_says_why_it_did_not_search(tmp_path):
    result = run_cli("quantize", "--alpha", "0.25", "--output", str(tmp_path / "first"), env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert re.search(r"top-1 +│ +\d+\.\d% │ +\d+\.\d% │", result.stdout), result.stdout
    table = [line for line in result.stdout.splitlines() if line[:1] in "┏┃┡│└"]  # its title is a line of text
    assert len(table) >= 8 and max(map(len, table)) <= 80 and "…" not in result.stdout, result.stdout
    assert "verified on 19 images (one image = 5.3 points)" in result.stdout
    assert result.stderr.count("no float-fallback search: on 19 labelled images") == 1
    assert "float fallback search —" not in result.stdout  # no search table
    assert "strict_int8" not in result.stdout + result.stderr
    assert "calibrating" not in result.stdout and "verifying" not in result.stdout  # progress on stderr only
    report = json.loads((tmp_path / "first" / "report.json").read_text())
    assert report["eval"]["labelled"] and report["eval"]["n"] == 19 and not report.get("fallback")


@pytest.mark.parametrize("count", [199, 200])
def test_the_default_target_applies_from_200_labelled_images(count):
    """The other side of the first run's rule, in-process: the fallback budget that decides whether a search runs,
    given `count` labelled verification images (names carrying an ImageNet synset) and no target of the user's."""
    from types import SimpleNamespace

    from mobikit import defaults, quantization
    from mobikit.images import ImageSet
    from mobikit.labels import imagenet
    from mobikit.quantize_request import QuantizeRequest
    from mobikit.progress import Reporter

    images = ImageSet([Path(f"n01440764_{i}.JPEG") for i in range(count)], 224)
    run = SimpleNamespace(eval_images=images, calib=object(), class_list=imagenet(), reporter=Reporter())
    budget = quantization._fallback_budget(QuantizeRequest(), run)
    if count < defaults.MIN_TARGET_IMAGES:
        assert budget is None
    else:
        assert budget is not None and budget.max_drop == defaults.MAX_DROP


def test_an_explicit_target_searches_and_its_sentence_is_printed_once(tmp_path):
    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "96", "--weights", "none", "--max-drop", "100",
                     "--output", str(tmp_path / "searched"))
    assert result.returncode == 0, result.stderr
    both = result.stdout + result.stderr
    sentences = re.findall(r"full-integer int8: .*? the target \(", both)
    assert len(sentences) == 1 and sentences[0] in result.stdout, both
    assert "full-integer int8 model" not in result.stdout  # the sentence already says it


def test_the_no_fallback_flag_is_named_as_typed(tmp_path):
    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "96", "--weights", "none", "--strict-int8",
                     "--output", str(tmp_path / "strict"))
    assert result.returncode == 0, result.stderr
    assert "(--strict-int8)" in result.stderr and "strict_int8" not in result.stdout + result.stderr


def test_host_timing_inversion_gets_one_line():
    note = host_timing_note({"float": 0.31, "quant": 0.41})
    assert note and "slower than float (0.41 vs 0.31 ms)" in note and "phone" in note and "\n" not in note
    assert host_timing_note({"float": 0.5, "quant": 0.3}) is None


# --- sweep ------------------------------------------------------------------------------------------------------------

def test_sweep_summary_is_one_line_per_kind_of_skip(tmp_path):
    result = run_cli("sweep", "--alpha", "0.5,0.75", "--resolution", "128", "--output", str(tmp_path / "sw"),
                     env={"KERAS_HOME": str(tmp_path / "empty-cache")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum("skipped: 2 of 2 cells (α0.5@128, α0.75@128)" in line for line in lines) == 1, result.stdout
    assert sum("could not be downloaded" in line for line in lines) == 1  # the first reason, once
    assert len(lines) < 20, result.stdout


# --- demo -------------------------------------------------------------------------------------------------------------

def _clip(path: Path, frames: int, fps: float, size=(160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i % 255, np.uint8))
    writer.release()
    return path


def test_demo_paces_a_video_and_shows_one_fps_figure(tiny_output, tmp_path, monkeypatch):
    import mobikit.live_demo as live_demo

    clip = _clip(tmp_path / "clip.mp4", 10, 20)
    drawn = []
    original = live_demo.annotate
    monkeypatch.setattr(live_demo, "annotate", lambda frame, top, latency, fps: drawn.append(fps) or
                        original(frame, top, latency, fps))
    started = time.perf_counter()
    paced = demo(tiny_output, str(clip), window=False, fps=20)
    assert time.perf_counter() - started >= 9 / 20 and paced.frames == 10
    assert paced.fps == drawn[-1] and 14 < paced.fps <= 21, (paced.fps, drawn)
    drawn.clear()
    unpaced = demo(tiny_output, str(clip), window=False)  # headless: as fast as the model goes
    assert unpaced.fps == drawn[-1] and unpaced.fps > paced.fps


def test_demo_fps_out_of_range_is_a_usage_error(tiny_output):
    result = run_cli("demo", str(tiny_output), "--source", str(VERIFICATION), "--no-window", "--fps", "-1")
    assert_clean_failure(result, 2)
    assert "--fps takes a rate from 0" in result.stderr


def test_letterbox_keeps_the_aspect_ratio():
    square = np.full((240, 240, 3), 200, np.uint8)
    boxed = letterbox(square, (320, 212))
    assert boxed.shape == (212, 320, 3)
    columns = np.flatnonzero(boxed[106, :, 0])
    assert len(columns) == 212 and columns[0] == 54 and not boxed[:, :50].any()  # 212×212 centred, black bars


def test_demo_video_letterboxes_frames_of_another_shape(tiny_output, tmp_path):
    folder = tmp_path / "slides"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_wide.png"), np.full((212, 320, 3), 200, np.uint8))
    cv2.imwrite(str(folder / "b_square.png"), np.full((240, 240, 3), 200, np.uint8))
    output = tmp_path / "slides.mp4"
    result = run_cli("demo", str(tiny_output), "--source", str(folder), "--no-window", "--output", str(output))
    assert result.returncode == 0, result.stderr
    capture = cv2.VideoCapture(str(output))
    frames = [capture.read()[1] for _ in range(2)]
    capture.release()
    assert frames[1].shape[:2] == (212, 320)
    assert frames[1][150:, :40].max() < 40 and frames[1][150:, 140:180].min() > 150  # bars at the sides, not stretched


def test_a_library_error_keeps_the_line_its_first_line_announces():
    """One line of a multi-line library error: its first line, and the next when the first ends in a colon (Keras's
    weight-loading error names the object there and says what failed on the next line)."""
    from mobikit.errors import first_line

    keras_like = ValueError("A total of 1 objects could not be loaded. Example for <Conv2D name=conv_preds>:\n\n"
                            "Layer 'conv_preds' expected 2 variables, but received 0\n\nList of objects: …")
    assert first_line(keras_like) == ("A total of 1 objects could not be loaded. Example for <Conv2D name=conv_preds>: "
                                      "Layer 'conv_preds' expected 2 variables, but received 0")
    assert first_line(ValueError("\n  first \nsecond")) == "first" and first_line(ValueError("")) == "ValueError"

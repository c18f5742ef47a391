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
    result = run_cli("quantize", "--alpha", "0.25", "--output", str(tmp_path / "first"))
    assert result.returncode == 0, result.stderr
    assert re.search(r"top-1 +│ +\d+\.\d% │ +\d+\.\d% │", result.stdout), result.stdout
    assert "verified on 19 images (one image = 5.3 points)" in result.stdout
    assert result.stderr.count("no float-fallback search: on 19 labelled images") == 1
    assert "float fallback search —" not in result.stdout  # no search table
    assert "strict_int8" not in result.stdout + result.stderr
    assert "calibrating" not in result.stdout and "verifying" not in result.stdout  # progress on stderr only
    report = json.loads((tmp_path / "first" / "report.json").read_text())
    assert report["eval"]["labelled"] and report["eval"]["n"] == 19 and not report.get("fallback")


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

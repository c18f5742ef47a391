"""Issue 17, bad inputs: one table per command, each row run as the real `mobikit` in a workspace of the user's files.

Every row must fail the way the CLI promises — its exit code (2 usage, 1 runtime), exactly one `error:` line that says
why, no traceback — and change nothing: the workspace (the user's folder, notes, photos, video, mobikit's own
earlier output) is compared entry by entry, bytes and permissions, before and after, so a deleted or rewritten file
and a left-over temporary, converter log or half-made folder all fail the row. Each run gets a fresh `TMPDIR` that
must be empty afterwards.

The rows run two at a time (one fresh process each, mostly importing; the machine has two cores); each row is still
its own test. The counts in docs/reliability.md come from these tables (`test_readme_counts`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from support import ROOT, assert_one_error, embedded_images, remove_tree, run_cli, tree, tree_changes

PHOTOS = embedded_images()
QUANTIZE = "quantize --alpha 0.25 --resolution 96 --weights none"
BUILD = "build --alpha 0.25 --resolution 96 --weights none"
SWEEP = "sweep --alpha 0.25 --resolution 96 --weights none"
TOO_LONG = "n" * 256  # one byte over what Linux file systems take for a name
NESTING = 1500  # deeper than Python's recursion limit


# ------------------------------------------------------------------------------------------------ the workspace


def workspace(ws: Path, made: dict[str, Path]) -> None:
    """What a user has around a run: a folder of their own, notes, a .keras and an .mp4 they made elsewhere, three
    photos, and mobikit's own earlier output (`own`, a real tiny int8 quantize folder)."""
    shutil.copytree(made["tiny"], ws / "own")
    (ws / "userdir").mkdir()
    (ws / "userdir" / "a.txt").write_text("the user's notes\n")
    (ws / "notes.txt").write_text("notes\n")
    (ws / "notes.keras").write_bytes(b"PK\x03\x04 a file named like a model, not mobikit's")
    (ws / "user.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 the user's own video")
    (ws / "photos").mkdir()
    for name in ("cat.jpg", "pizza.jpg", "taxis.jpg"):
        shutil.copy(PHOTOS / name, ws / "photos" / name)


Given = Callable[[Path, dict], None]


def model_folder(change: Callable[[Path], None]) -> Given:
    """`m`: a copy of the real output folder `own`, then one thing changed in it."""
    def given(ws: Path, made: dict) -> None:
        shutil.copytree(ws / "own", ws / "m")
        change(ws / "m")
    return given


def json_edit(edit: Callable[[dict], object]) -> Given:
    def change(folder: Path) -> None:
        data = json.loads((folder / "model.json").read_text())
        (folder / "model.json").write_text(json.dumps(edit(data)))
    return model_folder(change)


def _flip_last_byte(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))


def json_edit_by_mobikit(edit: Callable[[dict], object]) -> Given:
    """As json_edit, but as if mobikit itself had written the edited model.json (its marker re-recorded), so that
    the check under test is reached rather than the output policy's refusal of a folder the user changed."""
    def change(folder: Path) -> None:
        from mobikit.outputs import MARKER, folder_mark, folder_tree

        data = json.loads((folder / "model.json").read_text())
        (folder / "model.json").write_text(json.dumps(edit(data)))
        mark = folder_mark(folder)
        (folder / MARKER).write_text(json.dumps({**mark, "tree": folder_tree(folder)}, indent=1) + "\n")
    return model_folder(change)


def json_bytes(raw: bytes) -> Given:
    return model_folder(lambda folder: (folder / "model.json").write_bytes(raw))


def labels_file(text: str) -> Given:
    return model_folder(lambda folder: (folder / "labels.txt").write_text(text))


def file(name: str, data: bytes) -> Given:
    def given(ws: Path, made: dict) -> None:
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_bytes(data)
    return given


def photos_in(name: str) -> Given:
    return lambda ws, made: shutil.copytree(ws / "photos", ws / name)


def folder(name: str) -> Given:
    return lambda ws, made: (ws / name).mkdir(parents=True)


def nested(name: str, image: str | None) -> Given:
    """A folder NESTING levels deep, with one photo at the bottom (or none)."""
    def given(ws: Path, made: dict) -> None:
        bottom = ws / name
        bottom.mkdir()
        for _ in range(NESTING):  # one by one: os.makedirs recurses once per level
            bottom = bottom / "d"
            bottom.mkdir()
        if image:
            shutil.copy(PHOTOS / "cat.jpg", bottom / image)
    return given


def float_image(ws: Path, made: dict) -> None:
    """A floating-point TIFF named like a labelled PNG (no pixel scale: skipped, never decoded as a photo) beside
    an unlabelled photo."""
    import cv2

    (ws / "floats").mkdir()
    assert cv2.imwrite(str(ws / "floats" / "f.tiff"), np.random.default_rng(0).random((64, 64, 3), np.float32))
    (ws / "floats" / "f.tiff").rename(ws / "floats" / "n01440764_f.png")
    shutil.copy(PHOTOS / "cat.jpg", ws / "floats" / "cat.jpg")


def ten_classes(ws: Path, made: dict) -> None:
    shutil.copy(made["ten"], ws / "ten.keras")


def vector_model(ws: Path, made: dict) -> None:
    shutil.copy(made["vector"], ws / "vector.keras")


def cut_model(name: str, cut: Callable[[bytes], bytes]) -> Given:
    """`name`: the bytes of the real model.tflite of `own`, cut short."""
    def given(ws: Path, made: dict) -> None:
        (ws / name).write_bytes(cut((ws / "own" / "model.tflite").read_bytes()))
    return given


NOT_UTF8 = b"caf\xe9\nth\xe9\n"
NOT_IMAGES = (file("junk/a.jpg", b"not a jpeg"), file("junk/b.png", b"not a png"))
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
WRONG_FINGERPRINT = {"source": str(PHOTOS), "embedded": False, "samples": 3, "fingerprint": "0" * 64}
GONE = {"source": "/nonexistent/calibration-images", "embedded": False, "samples": 3, "fingerprint": None}


# ------------------------------------------------------------------------------------------------ the tables


@dataclass(frozen=True)
class Bad:
    """One bad input: the command line (run in the workspace), the exit code and a piece of the one error line."""

    id: str
    args: tuple[str, ...]
    code: int
    says: str
    given: tuple[Given, ...] = ()
    warns: str = ""  # a warning the run must print on its way to the error


def bad(id: str, command: str, code: int, says: str, *given: Given, warns: str = "") -> Bad:
    return Bad(id, tuple(shlex.split(command)), code, says, given, warns)


QUANTIZE_INPUTS = [
    bad("user folder", f"{QUANTIZE} -o userdir", 2, "folder mobikit did not write"),
    bad("user file", f"{QUANTIZE} -o notes.txt", 2, "exists and is not a folder"),
    bad("calib is output", f"{QUANTIZE} --calib photos -o photos", 2, "input of this run"),
    bad("output inside eval", f"{QUANTIZE} --eval photos -o photos/out", 2, "input of this run"),
    bad("output holds calib", f"{QUANTIZE} --calib userdir/photos -o userdir", 2, "input of this run",
        photos_in("userdir/photos")),
    bad("dot", f"{QUANTIZE} -o .", 2, "current folder"),
    bad("dot dot", f"{QUANTIZE} -o ..", 2, "current folder"),
    bad("name too long", f"{QUANTIZE} -o {TOO_LONG}", 2, "name of 256 bytes"),
    bad("alpha inf", "quantize --alpha inf --weights none -o own", 2, "--alpha must be > 0"),
    bad("alpha 1e400", "quantize --alpha 1e400 --weights none", 2, "--alpha must be > 0"),
    bad("alpha 1e-9", "quantize --alpha 1e-9 --weights none", 2, "without channels"),
    bad("labels missing", f"{QUANTIZE} --labels missing.txt", 2, "--labels file not found"),
    bad("labels folder", f"{QUANTIZE} --labels userdir", 2, "is a folder"),
    bad("labels not utf-8", f"{QUANTIZE} --labels latin1.txt", 2, "not UTF-8", file("latin1.txt", NOT_UTF8)),
    bad("5 labels for 1000 classes", f"{QUANTIZE} --labels five.txt", 2, "has 5 labels",
        file("five.txt", b"a\nb\nc\nd\ne\n")),
    bad("labels named twice", "quantize --model ten.keras --labels dup.txt --calib photos", 2, "twice",
        ten_classes, file("dup.txt", "".join(f"class {i}\n" for i in range(9)).encode() + b"Class_0\n")),
    bad("max latency ratio nan", f"{QUANTIZE} --max-latency-ratio nan", 2, "--max-latency-ratio"),
    bad("max drop nan", f"{QUANTIZE} --max-drop nan", 2, "--max-drop is a percentage"),
    bad("calib samples 0", f"{QUANTIZE} --calib-samples 0", 2, "--calib-samples"),
    bad("threads 0", f"{QUANTIZE} --threads 0", 2, "--threads must be >= 1"),
    bad("model not keras", "quantize --model notes.keras", 2,
        "notes.keras is not a Keras model: a .keras file is a zip archive"),
    bad("weights not a zip", "quantize --alpha 0.25 --resolution 96 --weights notes.keras", 2,
        "notes.keras is not a Keras model"),
    bad("model a text file", "quantize --model notes.txt", 2,
        "--model notes.txt is not a Keras model: expected a .keras file"),
    bad("model not an image classifier", "quantize --model vector.keras --calib photos", 2,
        "does not take a square RGB image", vector_model),
    bad("calib missing", f"{QUANTIZE} --calib gone", 2, "--calib folder not found"),
    bad("calib without images", f"{QUANTIZE} --calib userdir", 2, "no images"),
    bad("output below a file", f"{QUANTIZE} -o notes.txt/out", 2, "notes.txt is not a folder"),
    bad("bias correction without int8", f"{QUANTIZE} --mode fp16 --bias-correction", 2,
        "--bias-correction works on full-integer models only"),
    bad("io without int8", f"{QUANTIZE} --mode fp16 --io int8", 2, "needs --mode int8"),
]

BUILD_INPUTS = [
    bad("folder named .keras", f"{BUILD} -o kdir.keras", 2, "is a folder", folder("kdir.keras")),
    bad("user .keras", f"{BUILD} -o notes.keras", 2, "mobikit did not write it"),
    bad("not .keras", f"{BUILD} -o notes.txt", 2, "must end in .keras"),
    bad("weights are output", "build --weights notes.keras -o notes.keras", 2, "input of this run"),
    bad("name too long", f"{BUILD} -o {TOO_LONG[:-6]}.keras", 2, "name of 256 bytes"),
    bad("alpha inf", "build --alpha inf --weights none -o m.keras", 2, "--alpha must be > 0"),
    bad("classes 0", f"{BUILD} --classes 0 -o m.keras", 2, "--classes must be between"),
    bad("weights missing", "build --alpha 0.25 --resolution 96 --weights gone.h5 -o m.keras", 2, "not found"),
    bad("weights folder", "build --alpha 0.25 --resolution 96 --weights userdir -o m.keras", 2, "not a folder"),
    bad("weights not weights", "build --alpha 0.25 --resolution 96 --weights notes.txt -o m.keras", 2,
        "must be imagenet, none"),
    bad("weights not a zip", "build --alpha 0.25 --resolution 96 --weights notes.keras -o m.keras", 2,
        "notes.keras is not a Keras model"),
    bad("alpha not a number", "build --alpha x --weights none -o m.keras", 2, "--alpha takes a number, got 'x'"),
    bad("resolution 31", "build --resolution 31 --weights none -o m.keras", 2, "--resolution must be between"),
    bad("arch v3", "build --arch v3 --weights none -o m.keras", 2, "--arch takes v1 or v2, got 'v3'"),
    bad("standard conv for v2", "build --arch v2 --standard-conv --weights none -o m.keras", 2,
        "--standard-conv exists only for v1"),
]

ANALYZE_INPUTS = [
    bad("user folder", "analyze userdir", 2, "not a quantize output folder"),
    bad("a file", "analyze notes.txt", 2, "is not a folder"),
    bad("resolution edited", "analyze m", 2, "is not [1, resolution", json_edit(lambda d: {**d, "resolution": 224})),
    bad("alpha a string", "analyze m", 2, "alpha must be", json_edit(lambda d: {**d, "alpha": "big"})),
    bad("weights a number", "analyze m", 2, "weights must be str", json_edit(lambda d: {**d, "weights": 5})),
    bad("arch unknown", "analyze m", 2, "arch must be one of", json_edit(lambda d: {**d, "arch": "v9"})),
    bad("mode unknown", "analyze m", 2, "mode must be one of", json_edit(lambda d: {**d, "mode": "int4"})),
    bad("calibration gone", "analyze m --weights none", 2, "not there any more",
        json_edit_by_mobikit(lambda d: {**d, "calibration": GONE})),
    bad("calibration changed", "analyze m --weights none", 2, "not the ones",
        json_edit_by_mobikit(lambda d: {**d, "calibration": WRONG_FINGERPRINT})),
    bad("model.json edited by the user", "analyze m --weights none", 2, "changed since mobikit wrote it",
        json_edit(lambda d: {**d, "calibration": GONE})),
    bad("folder and arch", "analyze own --arch v1", 2, "not both"),
    bad("folder and output", "analyze own -o x", 2, "analyzed in place"),
    bad("calib samples 0", "analyze own --calib-samples 0", 2, "--calib-samples must be >= 1"),
    bad("output is user folder", "analyze --arch v1 --alpha 0.25 --resolution 96 --weights none -o userdir", 2,
        "folder mobikit did not write"),
    bad("output is a quantize folder", "analyze --arch v1 --alpha 0.25 --resolution 96 --weights none -o own", 2,
        "holds a quantize output folder"),
]

SWEEP_INPUTS = [
    bad("alpha inf", "sweep --alpha inf -o sw", 2, "finite numbers > 0"),
    bad("alpha not a number", "sweep --alpha 0.25,abc -o sw", 2, "comma-separated numbers"),
    bad("resolution 0", "sweep --resolution 0 -o sw", 2, "numbers >= 1"),
    bad("user folder", f"{SWEEP} -o userdir", 2, "folder mobikit did not write"),
    bad("user file", f"{SWEEP} -o notes.txt", 2, "exists and is not a folder"),
    bad("a quantize folder", f"{SWEEP} -o own", 2, "holds a quantize output folder"),
    bad("dot", f"{SWEEP} -o .", 2, "current folder"),
    bad("calib missing", f"{SWEEP} --calib gone -o sw", 2, "--calib folder not found"),
    bad("calib without images", f"{SWEEP} --calib userdir -o sw", 2, "no images"),
    bad("calib nested 1500 deep, empty", f"{SWEEP} --calib deep -o sw", 2, "no images", nested("deep", None)),
    bad("output inside calib", f"{SWEEP} --calib photos -o photos/sw", 2, "input of this run"),
    bad("weights not weights", "sweep --alpha 0.25 --resolution 96 --weights notes.txt -o sw", 2,
        "must be imagenet, none"),
    bad("threads 0", f"{SWEEP} --threads 0 -o sw", 2, "must be >= 1"),
]

DEMO_INPUTS = [
    bad("source superscript two", "demo own --source ² --no-window", 2, "neither a camera index"),
    bad("source empty", "demo own --source '' --no-window", 2, "--source is empty"),
    bad("only unreadable images", "demo own --source junk --no-window", 2, "none of the 2 image files in --source",
        *NOT_IMAGES),
    bad("only unreadable images, video", "demo own --source junk --no-window -o j.mp4", 2, "could be decoded",
        *NOT_IMAGES),
    bad("output a folder", "demo own --source photos --no-window -o vid.mp4", 2, "is a folder", folder("vid.mp4")),
    bad("output a user video", "demo own --source photos --no-window -o user.mp4", 2, "mobikit did not write it"),
    bad("output not mp4", "demo own --source photos --no-window -o notes.txt", 2, "must end in .mp4"),
    bad("output name too long", f"demo own --source photos --no-window -o {TOO_LONG[:-4]}.mp4", 2,
        "name of 256 bytes"),
    bad("threads 0", "demo own --source photos --no-window --threads 0", 2, "--threads must be >= 1"),
    bad("float input declared", "demo m --source photos --no-window", 2, "dtype: model.json float32",
        json_edit(lambda d: {**d, "input": {**d["input"], "dtype": "float32"}})),
    bad("missing source", "demo own --source gone.mp4 --no-window", 2, "neither a camera index"),
    bad("camera that does not open", "demo own --source 9 --no-window", 1, "cannot open camera 9"),
    bad("model given twice", "demo own --model own --source photos --no-window", 2, "give the model once"),
    bad("no model", "demo --source photos --no-window", 2, "give the model once"),
]

BENCH_INPUTS = [
    bad("model.json not JSON", "bench m", 2, "not valid JSON", json_bytes(b"{not json")),
    bad("model.json a list", "bench m", 2, "expected an object", json_bytes(b"[1, 2]")),
    bad("model.json empty", "bench m", 2, "not valid JSON", json_bytes(b"")),
    bad("model.json not UTF-8", "bench m", 2, "not valid JSON", json_bytes(b"\xff\xfe garbage")),
    bad("model.json nested too deep", "bench m", 2, "not valid JSON", json_bytes(DEEP_JSON)),
    bad("full_integer missing", "bench m", 2, "no 'full_integer'",
        json_edit(lambda d: {k: v for k, v in d.items() if k != "full_integer"})),
    bad("min seconds nan", "bench own --min-seconds nan", 2, "--min-seconds must be between"),
    bad("min seconds inf", "bench own --min-seconds inf", 2, "--min-seconds must be between"),
    bad("min seconds 1e308", "bench own --min-seconds 1e308", 2, "--min-seconds must be between"),
    bad("min seconds 1e9", "bench own --min-seconds 1e9", 2, "--min-seconds must be between"),
    bad("threads 0", "bench own --threads 0", 2, "--threads takes numbers >= 1"),
    bad("unknown delegate", "bench own --delegate gpu", 2, "unknown --delegate"),
    bad("not a model", "bench notes.txt", 2, "must be a .tflite file or a quantize output folder"),
    bad("model missing", "bench gone.tflite", 2, "gone.tflite: no such file or folder"),
    bad("threads not a number", "bench own --threads a", 2, "--threads takes comma-separated whole numbers"),
]

EVAL_INPUTS = [
    bad("threads 0", "eval own --data photos --threads 0", 2, "--threads must be >= 1"),
    bad("samples 0", "eval own --data photos --samples 0", 2, "--samples must be >= 1"),
    bad("data missing", "eval own --data gone", 2, "--data folder not found"),
    bad("data unlabelled, 1500 deep", "eval own --data deep", 2, "carries a label", nested("deep", "cat.jpg")),
    bad("a float image is skipped", "eval own --data floats", 2, "carries a label", float_image,
        warns="skipped 1 of 2 files that are not readable images"),
    bad("schema_version 999", "eval m --data photos", 2, "schema_version 999",
        json_edit(lambda d: {**d, "schema_version": 999})),
    bad("labels.txt a folder", "eval m --data photos", 2, "missing labels.txt",
        model_folder(lambda f: ((f / "labels.txt").unlink(), (f / "labels.txt").mkdir()))),
    bad("sha256 differs", "eval m --data photos", 2, "sha256 differs",  # same size: the digest is what tells
        model_folder(lambda f: _flip_last_byte(f / "model.tflite"))),
    bad("size differs", "eval m --data photos", 2, "the file has",
        model_folder(lambda f: (f / "model.tflite").write_bytes((f / "model.tflite").read_bytes() + b"\0"))),
]

INSPECT_INPUTS = [
    bad("sha256 only", "inspect m", 2, "schema_version None", json_edit(lambda d: {"sha256": d["sha256"]})),
    bad("fallback layers a string", "inspect m", 2, "fallback_layers must be a list",
        json_edit(lambda d: {**d, "fallback_layers": "conv1"})),
    bad("model.json missing", "inspect m", 2, "missing model.json",
        model_folder(lambda f: (f / "model.json").unlink())),
    bad("not a model", "inspect notes.txt", 2, "not a TFLite model"),
    bad("folder without model", "inspect userdir", 2, "without a model.tflite"),
    bad("empty file", "inspect empty.tflite", 2, "is empty", file("empty.tflite", b"")),
    bad("missing file", "inspect gone.tflite", 2, "no such file: gone.tflite"),
    bad("truncated model", "inspect half.tflite", 1, "LiteRT cannot load half.tflite",
        cut_model("half.tflite", lambda data: data[:len(data) // 2])),
    bad("truncated packed labels", "inspect cut.tflite", 1, "cut.tflite: the metadata names labels.txt",
        cut_model("cut.tflite", lambda data: data[:-100])),
]

PROFILE_INPUTS = [
    bad("alpha 1e400", "profile --alpha 1e400", 2, "--alpha must be > 0"),
    bad("resolution 31", "profile --resolution 31", 2, "--resolution must be between"),
    bad("classes -5", "profile --classes -5", 2, "--classes must be between"),
    bad("arch v3", "profile --arch v3", 2, "--arch takes v1 or v2, got 'v3'"),
    bad("standard conv for v2", "profile --arch v2 --standard-conv", 2, "--standard-conv exists only for v1"),
    bad("unknown option", "profile --unknown", 2, "mobikit profile has no option --unknown"),
]

# deploy checks the folder before it even looks for adb (here: none at ./no-adb), so nothing can reach a phone
DEPLOY = "deploy m --adb no-adb --no-launch"
DEPLOY_INPUTS = [
    bad("sha256 only", DEPLOY, 2, "schema_version None", json_edit(lambda d: {"sha256": d["sha256"]})),
    bad("schema_version 999", DEPLOY, 2, "schema_version 999", json_edit(lambda d: {**d, "schema_version": 999})),
    bad("float32 input for int8 model", DEPLOY, 2, "dtype: model.json float32, model.tflite int8",
        json_edit(lambda d: {**d, "input": {**d["input"], "dtype": "float32"}})),
    bad("5 labels for 1000 classes", DEPLOY, 2, "has 5 labels", labels_file("a\nb\nc\nd\ne\n")),
    bad("output scale edited", DEPLOY, 2, "quantization: model.json scale",
        json_edit(lambda d: {**d, "output": {**d["output"], "scale": d["output"]["scale"] * 2}})),
    bad("model.tflite replaced", DEPLOY, 2, "does not describe the model.tflite beside it",
        model_folder(lambda f: (f / "model.tflite").write_bytes(b"TFL3" * 16))),
    bad("control: good folder, no adb", DEPLOY.replace(" m ", " own "), 1, "adb not found"),
]

TABLES = {"quantize": QUANTIZE_INPUTS, "build": BUILD_INPUTS, "analyze": ANALYZE_INPUTS, "sweep": SWEEP_INPUTS,
          "demo": DEMO_INPUTS, "bench": BENCH_INPUTS, "eval": EVAL_INPUTS, "inspect": INSPECT_INPUTS,
          "profile": PROFILE_INPUTS, "deploy": DEPLOY_INPUTS}
CASES = [pytest.param(case, id=f"{command}: {case.id}") for command, table in TABLES.items() for case in table]


# ------------------------------------------------------------------------------------------------ running them


@dataclass
class Outcome:
    result: subprocess.CompletedProcess
    before: dict
    after: dict
    temp_left: list[str]


def run_case(case: Bad, root: Path, made: dict) -> Outcome:
    ws, temp = root / "ws", root / "tmp"
    ws.mkdir()
    temp.mkdir()
    workspace(ws, made)
    for given in case.given:
        given(ws, made)
    before = tree(ws)
    result = run_cli(*case.args, env={"TMPDIR": str(temp)}, cwd=ws, timeout=300)
    outcome = Outcome(result, before, tree(ws), sorted(os.listdir(temp)))
    remove_tree(root)  # pytest's own clean-up recurses, and some rows nest 1500 deep
    return outcome


def ten_class_model(folder: Path) -> Path:
    """A tiny saved Keras classifier with 10 classes (square RGB input), for the labels rules of custom models."""
    from mobikit.runtime import tensorflow

    keras = tensorflow().keras
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    path = folder / "ten.keras"
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(pooled)).save(path)
    return path


def vector_input_model(folder: Path) -> Path:
    """A saved Keras model that takes a vector, not an image."""
    from mobikit.runtime import tensorflow

    keras = tensorflow().keras
    inputs = keras.Input((10,))
    path = folder / "vector.keras"
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).save(path)
    return path


@pytest.fixture(scope="module")
def outcomes(request, tiny_output, tmp_path_factory) -> dict[str, Outcome]:
    """Run the selected rows (all of them, or those `-k` picked), two at a time."""
    chosen = [item.callspec.params["case"] for item in request.session.items
              if item.module is request.module and "case" in getattr(getattr(item, "callspec", None), "params", {})]
    made = {"tiny": tiny_output, "ten": ten_class_model(tmp_path_factory.mktemp("ten")),
            "vector": vector_input_model(tmp_path_factory.mktemp("vector"))}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case.id + repr(case.args): pool.submit(run_case, case, tmp_path_factory.mktemp("bad"), made)
                   for case in chosen}
    return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_changes_nothing(case: Bad, outcomes):
    outcome = outcomes[case.id + repr(case.args)]
    line = assert_one_error(outcome.result, case.code)
    assert case.says in line, line
    assert case.warns in outcome.result.stderr
    assert outcome.result.stdout == "", outcome.result.stdout  # no results printed before the failure
    assert not tree_changes(outcome.before, outcome.after), tree_changes(outcome.before, outcome.after)
    assert outcome.temp_left == [], outcome.temp_left


def test_every_command_that_takes_input_has_a_table():
    from mobikit.cli import COMMANDS

    # devices takes only --adb (device tests); train has its own table in test_train.py (BAD_INPUT), serve its own
    # cases in test_serve.py
    assert {name for name, *_ in COMMANDS} - set(TABLES) == {"devices", "train", "serve"}


# ------------------------------------------------------------------------------------------------ the docs' counts


def test_reliability_page_counts():
    """docs/reliability.md says how much is generated per run: the sampled cases, the cross product they come from,
    the time budget, and the properties with their examples; each number is read back from the code."""
    import ast

    import fault_harness
    import test_fault_cases

    import test_fault_device

    page = " ".join(ROOT.joinpath("docs", "reliability.md").read_text(encoding="utf-8").split())
    counted = re.search(r"\*\*(\d+) command × phase × fault cases\*\* out of (\d+) in the full cross product; it "
                        r"starts no case after (\d+) s", page)
    assert counted, "the counts sentence of docs/reliability.md changed its wording"
    assert (int(counted[1]), int(counted[2]), float(counted[3])) == (
        test_fault_cases.DEFAULT_CASES, len(fault_harness.cross_product()), test_fault_cases.BUDGET)
    source = ROOT.joinpath("tests", "test_fault_properties.py").read_text(encoding="utf-8")
    properties = sum(1 for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)
                     and any(isinstance(d, ast.Call) and getattr(d.func, "id", "") == "given"
                             for d in node.decorator_list))
    examples = re.search(r'"MOBIKIT_FAULT_EXAMPLES", (\d+)\)', source)
    stated = re.search(r"\*\*(\d+) properties at (\d+) examples each\*\*", page)
    assert stated and (int(stated[1]), int(stated[2])) == (properties, int(examples[1])), (properties, examples[1])
    device = re.search(r"\*\*(\d+) device faults\*\* of (\d+)", page)
    assert device and (int(device[1]), int(device[2])) == (test_fault_device.DEVICE_CASES,
                                                          len(test_fault_device.device_space()))

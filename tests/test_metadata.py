"""Standard TFLite Metadata in mobikit's models: written by every quantize run (all modes, I/O types and the fallback
search), read back equal to model.json, loaded by LiteRT with unchanged results, kept by bias correction, read by
MediaPipe's own schema code, and opened by a real consumer: MediaPipe Tasks' ImageClassifier.

MediaPipe runs in its own venv, because its opencv-contrib-python would replace our opencv-python's cv2: `bash
.ci/run` creates .ci/tools/mediapipe-venv (pip install mediapipe==1.2.2); MOBIKIT_MEDIAPIPE_PYTHON may name another
interpreter that has mediapipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from support import IMAGENET_DEV, PHOTOS, ROOT, SHARED, run_cli

from mobikit import preprocess
from mobikit.errors import UsageError
from mobikit.metadata import ClassifierMetadata, associated_files, attach_metadata, populate, read_metadata

V1_128 = ("quantize", "--alpha", "0.25", "--resolution", "128")
REFERENCE = SHARED / "reference" / "mobilenet_v1_0.25_128_quant.tflite"
# The quantize runs behind uint8_model, float32_model (V1 α0.25@128, ImageNet) and fp16_model take 20–45 s each on
# 2 shared cores; the tests that need them are marked slow.
SLOW = pytest.mark.slow
EXPECTED_INPUT_RANGE = {"uint8": (0.0, 255.0), "float32": (-1.0, 1.0), "int8": None}  # as the official writers do
MEDIAPIPE_VENV_PYTHON = ROOT / ".ci" / "tools" / "mediapipe-venv" / "bin" / "python"
CLEAR_LEAD = 0.05  # top-1 probability minus the runner-up's: about 13 steps of the 1/256 output scale


@pytest.fixture(scope="module")
def uint8_model(imagenet_split, tmp_path_factory):
    """What a MediaPipe user asks for: V1 α0.25@128, ImageNet weights, uint8 I/O, bias-corrected, full-integer."""
    calib, evaluation = imagenet_split
    output = tmp_path_factory.mktemp("metadata") / "uint8"
    result = run_cli(*V1_128, "--calib", str(calib), "--eval", str(evaluation), "--io", "uint8", "--strict-int8",
                     "--output", str(output))
    assert result.returncode == 0, result.stderr
    return output, result


@pytest.fixture(scope="module")
def float32_model(imagenet_split, tmp_path_factory):
    """float32 I/O, what a MediaPipe user may ask for too (the fallback search with float32 I/O, whose every
    candidate carries metadata, is the session's `fallback_search`)."""
    calib, evaluation = imagenet_split
    output = tmp_path_factory.mktemp("metadata") / "float32"
    result = run_cli(*V1_128, "--calib", str(calib), "--eval", str(evaluation), "--io", "float32",
                     "--output", str(output))
    assert result.returncode == 0, result.stderr
    return output, result


@pytest.fixture(scope="module")
def fp16_model(tiny_variant):
    """A float mode (untrained V1 α0.25@96, fast to convert): float32 I/O, no int8 anywhere; the session's one fp16
    conversion, shared with test_quantize."""
    return tiny_variant("fp16")


def _folder(request, fixture: str) -> Path:
    value = request.getfixturevalue(fixture)
    return value[0] if isinstance(value, tuple) else value


@pytest.mark.parametrize("fixture", ["tiny_output", pytest.param("uint8_model", marks=SLOW),
                                     pytest.param("float32_model", marks=SLOW), pytest.param("fp16_model", marks=SLOW),
                                     pytest.param("fallback_search", marks=SLOW)])
def test_metadata_read_back_equals_model_json(request, fixture):
    """One description, two renderings: what the file's metadata says is what model.json says."""
    from mobikit.inspection import inspect_model

    folder = _folder(request, fixture)
    described = json.loads((folder / "model.json").read_text())
    blob = (folder / "model.tflite").read_bytes()
    assert described["sha256"] == hashlib.sha256(blob).hexdigest() and described["size_bytes"] == len(blob)
    metadata = read_metadata(blob)
    assert metadata is not None and metadata.name == described["name"]
    steps = described["preprocessing"]
    assert metadata.mean == (steps["mean"],) * 3 and metadata.std == (steps["std"],) * 3
    assert metadata.color_space == steps["color"] == "RGB"
    # the metadata's rule reproduces mobikit's own: the float rule, or the exact grid of calibrated int8 models
    from mobikit.input_grid import FLOAT_INPUT, GRID, Normalization, renormalize

    rule = Normalization(metadata.mean[0], metadata.std[0])
    assert rule == (GRID if described["input"]["scale"] or described["mode"] == "int8" else FLOAT_INPUT), rule
    pixels = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal((pixels - np.float32(rule.mean)) / np.float32(rule.std),
                                  renormalize(preprocess.normalize(pixels), rule))
    labels_txt = (folder / "labels.txt").read_bytes()
    assert associated_files(blob) == {"labels.txt": labels_txt} and metadata.labels_file == "labels.txt"
    assert list(metadata.labels) == labels_txt.decode().splitlines() and len(metadata.labels) == described["classes"]
    assert metadata.min_parser_version == "1.0.0"
    summary = inspect_model(folder)
    for tensor, key in ((summary.inputs[0], "input"), (summary.outputs[0], "output")):
        recorded = described[key]
        assert (tensor.dtype, list(tensor.shape)) == (recorded["dtype"], recorded["shape"])
        assert (tensor.scale, tensor.zero_point) == (recorded["scale"], recorded["zero_point"])
    expected_range = EXPECTED_INPUT_RANGE[described["input"]["dtype"]]
    if described["input"]["dtype"] == "float32" and rule == GRID:  # float I/O of a model calibrated on the grid
        from mobikit.input_grid import GRID_RANGE

        expected_range = GRID_RANGE
    assert metadata.input_range == expected_range


@SLOW
def test_mediapipe_schema_code_reads_what_mobikit_writes(mediapipe_run, uint8_model, float32_model):
    """MediaPipe's own generated metadata code (not ours) parses the buffer mobikit wrote."""
    for fixture in (uint8_model, float32_model):
        folder = fixture[0]
        described = json.loads((folder / "model.json").read_text())
        parsed = mediapipe_run["models"][str(folder / "model.tflite")]["metadata"]
        assert parsed["identifier"] is True and parsed["name"] == described["name"]
        assert parsed["min_parser_version"] == "1.0.0"
        assert parsed["input_content"] == 2 and parsed["color_space"] == 1  # ImageProperties, RGB
        assert parsed["normalization_type"] == 1  # NormalizationOptions
        assert parsed["mean"] == [described["preprocessing"]["mean"]] * 3
        assert parsed["std"] == [described["preprocessing"]["std"]] * 3
        assert parsed["output_files"] == [{"name": "labels.txt", "type": 2}]  # TENSOR_AXIS_LABELS
        assert parsed["packed"] == ["labels.txt"]


@SLOW
def test_mobikit_reads_what_mediapipe_schema_code_writes(mediapipe_run, tmp_path):
    """The other direction: a ModelMetadata packed by MediaPipe's generated code, read by mobikit's reader."""
    foreign = Path(mediapipe_run["foreign_metadata"]).read_bytes()
    names = "\n".join(f"n{i}" for i in range(1001)).encode()
    model = populate(REFERENCE.read_bytes(), foreign, {"names.txt": names})
    metadata = read_metadata(model)
    assert (metadata.name, metadata.version, metadata.author) == ("foreign", "7", "MediaPipe schema code")
    assert metadata.mean == (0.5, 1.5, 2.5) and metadata.std == (3.0, 4.0, 5.0)
    assert metadata.color_space == "GRAYSCALE" and metadata.input_name == "pixels"
    assert metadata.labels_file == "names.txt" and metadata.labels[1000] == "n1000"
    assert metadata.output_range == (0.0, 1.0) and metadata.input_range is None


def _crop(path: Path, resolution: int) -> np.ndarray:
    """mobikit's centre crop of an image file: R×R RGB uint8, fed as it is to both MediaPipe and mobikit."""
    import cv2

    return preprocess.center_crop(preprocess.to_rgb(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)), resolution)


def _clear_lead(classifiers, crop: np.ndarray) -> float:
    """How far mobikit's top-1 leads its runner-up, the smallest over the models."""
    leads = [np.diff(np.sort(classify(preprocess.normalize(crop)[None])[0])[-2:])[0] for classify in classifiers]
    return float(min(leads))


def _mediapipe_python() -> str:
    configured = os.environ.get("MOBIKIT_MEDIAPIPE_PYTHON")
    if configured:
        return configured
    if MEDIAPIPE_VENV_PYTHON.is_file():
        return str(MEDIAPIPE_VENV_PYTHON)
    pytest.skip(os.environ.get("MOBIKIT_MEDIAPIPE_UNAVAILABLE")
                or f"no MediaPipe interpreter: {MEDIAPIPE_VENV_PYTHON} is missing (bash .ci/run creates it) and "
                   "MOBIKIT_MEDIAPIPE_PYTHON is not set")


@pytest.fixture(scope="module")
def mediapipe_run(uint8_model, float32_model, tmp_path_factory):
    """One run of tests/mediapipe_classify.py in the MediaPipe venv over both models and 10 centre crops: the 8
    shared photos as they are, and the first two imagenet-dev images (sorted) on which mobikit's top-1 leads by at
    least CLEAR_LEAD. An image on a near tie measures rounding (see the test below), not whether MediaPipe read the
    model; the photos keep theirs (burger.jpg is one), which is what the one allowed disagreement is for."""
    from mobikit.inference import TFLiteClassifier

    python = _mediapipe_python()
    scratch = tmp_path_factory.mktemp("mediapipe")
    models = [str(folder / "model.tflite") for folder, _ in (uint8_model, float32_model)]
    classifiers = [TFLiteClassifier(model) for model in models]
    photos = sorted(PHOTOS.glob("*.jpg"))
    clear = [path for path in sorted(IMAGENET_DEV.glob("*.JPEG"))[:20]
             if _clear_lead(classifiers, _crop(path, 128)) >= CLEAR_LEAD][:2]
    names = [path.name for path in photos + clear]
    crops = np.stack([_crop(path, 128) for path in photos + clear])
    np.save(scratch / "crops.npy", crops)
    spec = {"models": models, "images": str(scratch / "crops.npy"), "write_metadata": str(scratch / "foreign.bin")}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run([python, str(ROOT / "tests" / "mediapipe_classify.py")], input=json.dumps(spec),
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    return {**report, "names": names, "crops": crops, "foreign_metadata": spec["write_metadata"]}


@SLOW
@pytest.mark.parametrize("fixture", ["uint8_model", "float32_model"])
def test_mediapipe_image_classifier_names_classes_and_agrees_with_mobikit(request, mediapipe_run, fixture):
    """MediaPipe Tasks' ImageClassifier opens mobikit's model with nothing but the file: the category names are the
    labels, and its top-1 equals mobikit's own top-1 on at least 9 of 10 photos.

    Why one may differ: the inputs are the same integers (on mobikit's int8 input grid, (pixel - 128) / 128 at
    scale 1/128, every pixel is its own integer, however MediaPipe normalizes), but MediaPipe's bundled runtime may
    pick other int8 kernels than ai-edge-litert, which can swap two classes that are near a tie.
    """
    from mobikit.inference import TFLiteClassifier

    folder = request.getfixturevalue(fixture)[0]
    labels = (folder / "labels.txt").read_text().splitlines()
    tops = mediapipe_run["models"][str(folder / "model.tflite")]["top"]
    assert len(tops) == 10 and all(tops)
    for top in tops:
        assert all(category["name"] == labels[category["index"]] for category in top)
    classifier = TFLiteClassifier(folder / "model.tflite")
    ours = np.argmax(classifier(preprocess.normalize(mediapipe_run["crops"])), axis=1)
    theirs = np.array([top[0]["index"] for top in tops])
    agreed = int(np.sum(ours == theirs))
    assert agreed >= 9, list(zip(mediapipe_run["names"], ours.tolist(), theirs.tolist()))


def test_litert_runs_a_model_with_metadata_exactly_as_without(shared):
    """Google's QAT model (no metadata of its own): with mobikit's metadata attached, LiteRT loads it and every
    output is bit-identical; attaching again replaces the metadata instead of stacking it."""
    from mobikit.inference import make_interpreter
    from mobikit.labels import imagenet

    original = REFERENCE.read_bytes()
    assert read_metadata(original) is None and associated_files(original) == {}
    labels = ("background",) + imagenet().names  # this model's index 0 is background
    metadata = ClassifierMetadata("reference", labels, (127.5,) * 3, (127.5,) * 3, input_range=(0.0, 255.0))
    attached = attach_metadata(original, metadata)
    assert read_metadata(attached) == metadata
    assert 0 < len(attached) - len(original) < 16_000
    assert attach_metadata(attached, metadata) == attached
    crops = [_crop(path, 128) for path in sorted(PHOTOS.glob("*.jpg"))[:4]]
    outputs = []
    for blob in (original, attached):
        interpreter = make_interpreter(blob, 1)
        detail = interpreter.get_input_details()[0]
        runs = []
        for crop in crops:
            interpreter.set_tensor(detail["index"], crop[None])
            interpreter.invoke()
            runs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy())
        outputs.append(np.stack(runs))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_bias_correction_on_a_model_with_metadata_keeps_it(shared, tmp_path):
    """Bias correction edits bias bytes in place, so a model carrying metadata keeps its metadata and labels and is
    corrected exactly as the same model without them (V1 α0.25@128, ImageNet weights, 16 calibration images)."""
    from mobikit.bias_correction import correct_biases
    from mobikit.images import ImageSet, find_images
    from mobikit.inference import TFLiteClassifier
    from mobikit.models import build_model
    from mobikit.progress import Reporter
    from mobikit.convert import calibrate, requantize

    calib = ImageSet(find_images(IMAGENET_DEV)[:16], 128, IMAGENET_DEV)
    calibrated = calibrate(build_model("v1", 0.25, 128), calib, Reporter(), tmp_path / "converter-error.log")
    plain = requantize(calibrated, "int8")
    metadata = ClassifierMetadata("v1", tuple(f"c{i}" for i in range(1000)), (127.5,) * 3, (127.5,) * 3)
    with_metadata = attach_metadata(plain, metadata)
    corrected, report = correct_biases(calibrated, with_metadata, calib, Reporter())
    reference, _ = correct_biases(calibrated, plain, calib, Reporter())
    assert corrected != with_metadata and len(corrected) == len(with_metadata) and len(report.layers) == 28
    assert read_metadata(corrected) == metadata
    images = np.stack([image for _, image in calib.items()])
    np.testing.assert_array_equal(TFLiteClassifier(corrected)(images), TFLiteClassifier(reference)(images))


@SLOW
def test_quantize_says_which_apps_open_the_model(uint8_model, tiny_output):
    _, result = uint8_model
    opens_all = "uint8 model opens in: mobikit app, LiteRT Interpreter, MediaPipe Tasks / Task Library"
    assert opens_all in result.stderr and opens_all in (uint8_model[0] / "report.md").read_text()
    int8_report = (tiny_output / "report.md").read_text()
    assert "int8 model opens in: mobikit app, LiteRT Interpreter; not in: MediaPipe Tasks / Task Library" in int8_report
    assert "--io uint8" in int8_report


@SLOW
def test_size_with_metadata_stays_within_target(uint8_model):
    """The issue's size target for V1 α0.25@128 (≤ 0.33× float) holds with metadata and labels inside."""
    report = json.loads((uint8_model[0] / "report.json").read_text())
    assert report["size_bytes"]["quant"] <= 0.33 * report["size_bytes"]["float"]


def test_attach_refuses_a_label_count_that_does_not_match(shared):
    metadata = ClassifierMetadata("x", ("a", "b", "c"), (127.5,), (127.5,))
    with pytest.raises(UsageError, match="3 labels for a model with 1001 classes"):
        attach_metadata(REFERENCE.read_bytes(), metadata)

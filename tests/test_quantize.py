"""`mobikit quantize` end to end with the real converter and interpreter, and its bad-input paths."""

import hashlib
import json

import numpy as np
import pytest

from mobikit.outputs import MARKER

from support import assert_clean_failure, assert_static_batch_one, embedded_images, run_cli

PHOTOS = embedded_images()

JSON_KEYS = {"output_dir", "model", "mode", "size_bytes", "float_size_bytes", "calib_samples", "eval", "latency_ms",
             "timings_s", "mobikit_version"}
EVAL_KEYS = {"n", "labelled", "float_top1", "quant_top1", "float_top5", "quant_top5", "agreement"}


@pytest.fixture(scope="module")
def imagenet_run(imagenet_split, tmp_path_factory):
    calib, evaluation = imagenet_split
    output = tmp_path_factory.mktemp("q") / "out"
    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "128", "--calib", str(calib), "--eval",
                     str(evaluation), "--no-bias-correction", "--output", str(output), "--json")
    assert result.returncode == 0, result.stderr
    return output, json.loads(result.stdout), result.stderr


def test_json_is_the_contract_and_only_json(imagenet_run):
    output, data, stderr = imagenet_run
    assert set(data) == JSON_KEYS and set(data["eval"]) == EVAL_KEYS
    assert data["eval"]["labelled"] and data["eval"]["n"] == 24 and data["calib_samples"] == 16
    assert {"build", "calibrate_convert", "verify"} <= set(data["timings_s"])
    assert "recommended" in stderr  # small calibration set → the advice, on stderr


@pytest.mark.predictions
def test_int8_model_is_small_fast_and_agrees_with_float(imagenet_run):
    output, data, _ = imagenet_run
    # measured here: size 0.320× float; agreement 22/24 with XNNPACK and 20/24 with the reference kernels, top-1
    # 13/24 for float and int8 with both. Margin: 2 images of 24 below the lowest, for another CPU's int8 kernels
    evaluation = data["eval"]
    assert data["size_bytes"] <= 0.33 * data["float_size_bytes"]
    assert evaluation["agreement"] >= 18 / 24 - 1e-9
    assert abs(evaluation["quant_top1"] - evaluation["float_top1"]) <= 2 / 24 + 1e-9
    assert abs(evaluation["float_top1"] - 13 / 24) <= 1 / 24 + 1e-9  # float kernels differ less: 1 image
    assert data["latency_ms"]["quant"] > 0 and data["latency_ms"]["float"] > 0


def test_output_folder_describes_the_model(imagenet_run):
    output, data, _ = imagenet_run
    assert {p.name for p in output.iterdir()} == {"model.tflite", "labels.txt", "model.json", "report.json",
                                                  "report.md", MARKER}
    description = json.loads((output / "model.json").read_text())
    blob = (output / "model.tflite").read_bytes()
    assert description["sha256"] == hashlib.sha256(blob).hexdigest() and description["size_bytes"] == len(blob)
    assert description["input"]["dtype"] == "int8" and description["input"]["shape"] == [1, 128, 128, 3]
    assert description["output"]["softmax"] is True and description["output"]["dtype"] == "int8"
    assert description["preprocessing"]["resize_shorter_side_to"] == 146
    assert description["calibration"]["samples"] == 16 and description["full_integer"] is True
    assert (output / "labels.txt").read_text().splitlines()[281] == "tabby"
    assert "top-1" in (output / "report.md").read_text()


# What each --io writes, input and output: the int8 input is the input grid (input_grid.GRID: scale exactly 1/128,
# zero point 0, so q = pixel − 128), the softmax output [0, 1) from the lowest value (scale 1/256, zero point −128);
# uint8 is int8 shifted by 128 (zero points 128 and 0); float32 I/O carries no quantization (the QUANTIZE and
# DEQUANTIZE ops are inside the model).
IO_TENSORS = {
    "int8": ((np.int8, 1 / 128, 0), (np.int8, 1 / 256, -128)),
    "uint8": ((np.uint8, 1 / 128, 128), (np.uint8, 1 / 256, 0)),
    "float32": ((np.float32, 0.0, 0), (np.float32, 0.0, 0)),
}


@pytest.mark.parametrize("io", list(IO_TENSORS))
def test_every_io_type_is_what_the_written_model_takes_and_gives(tiny_variant, io):
    from mobikit.inference import make_interpreter

    folder = tiny_variant("int8", io)
    interpreter = make_interpreter(folder / "model.tflite", 1)
    description = json.loads((folder / "model.json").read_text())
    for detail, expected, key in zip((interpreter.get_input_details()[0], interpreter.get_output_details()[0]),
                                     IO_TENSORS[io], ("input", "output")):
        dtype, scale, zero_point = expected
        assert detail["dtype"] == dtype, key
        assert detail["quantization"][0] == pytest.approx(scale, rel=1e-6) and detail["quantization"][1] == zero_point
        recorded = description[key]
        assert recorded["dtype"] == np.dtype(dtype).name and recorded["zero_point"] == zero_point, key
        assert recorded["scale"] == pytest.approx(scale, rel=1e-6), key
    assert description["mode"] == "int8" and description["full_integer"] is True
    assert description["input"]["shape"] == [1, 96, 96, 3] and description["output"]["shape"] == [1, 1000]
    assert_static_batch_one(folder / "model.tflite", 96)


def test_io_types_change_only_the_edges_of_the_model(tiny_variant):
    """The three --io models share their calibration and int8 core: uint8 I/O is int8 shifted by 128 both ways,
    so its dequantized scores equal int8's exactly; float32 I/O quantizes inside the model, where a pixel exactly
    halfway between two steps may round the other way (TFLite rounds half away from zero, numpy half to even)."""
    from mobikit.images import ImageSet, find_images
    from mobikit.inference import TFLiteClassifier

    images = np.stack([image for _, image in ImageSet(find_images(PHOTOS)[:4], 96).items()])
    scores = {io: TFLiteClassifier(tiny_variant("int8", io) / "model.tflite")(images) for io in IO_TENSORS}
    np.testing.assert_array_equal(scores["uint8"], scores["int8"])
    assert np.abs(scores["float32"] - scores["int8"]).max() <= 4 / 256  # measured: at most 1 step of 1/256


@pytest.mark.parametrize("mode", ["fp16", "dynamic", "fp32"])
def test_float_modes_write_float_io_and_say_so(tiny_variant, mode):
    from mobikit.inference import make_interpreter

    folder = tiny_variant(mode)
    interpreter = make_interpreter(folder / "model.tflite", 1)
    for detail in (interpreter.get_input_details()[0], interpreter.get_output_details()[0]):
        assert detail["dtype"] == np.float32 and detail["quantization"] == (0.0, 0)
    description = json.loads((folder / "model.json").read_text())
    assert description["mode"] == mode and description["full_integer"] is False
    assert description["input"]["dtype"] == description["output"]["dtype"] == "float32"
    report = json.loads((folder / "report.json").read_text())
    assert report["eval"]["agreement"] >= 0.9  # weights-only rounding of an untrained model: measured 1.0
    assert_static_batch_one(folder / "model.tflite", 96)


def test_default_run_verifies_on_embedded_photos_it_did_not_calibrate_on(tmp_path):
    from mobikit.images import embedded_images

    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "96", "--weights", "none", "--output",
                     str(tmp_path / "m"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    calibration = sorted(p.name for p in embedded_images("calibration").glob("*.jpg"))
    verification = sorted(p.name for p in embedded_images("verification").glob("*.jpg"))
    assert not set(calibration) & set(verification)
    assert data["calib_samples"] == len(calibration) and data["eval"]["n"] == len(verification)
    report = json.loads((tmp_path / "m" / "report.json").read_text())
    assert "embedded verification photos" in report["eval"]["source"] and not report["warnings"]
    assert_static_batch_one(tmp_path / "m" / "model.tflite", 96)  # int8 I/O, bias-corrected


def test_failed_run_keeps_the_earlier_output(tiny_output, tmp_path):
    before = (tiny_output / "model.tflite").read_bytes()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "96", "--weights", "none", "--calib", str(empty),
                     "--output", str(tiny_output))
    assert_clean_failure(result, 2)
    assert (tiny_output / "model.tflite").read_bytes() == before
    assert not [p for p in tiny_output.parent.iterdir() if p.name.startswith(".")]

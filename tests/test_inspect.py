"""`mobikit inspect` on every kind of model (quantize output with metadata, full-integer, mixed and float converter
output, a model made elsewhere without metadata) and on bad input, through the real CLI and LiteRT."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support import SHARED, embedded_images, run_cli

from mobikit.inspection import inspect_model
from mobikit.metadata import ClassifierMetadata, attach_metadata

REFERENCE = SHARED / "reference" / "mobilenet_v1_0.25_128_quant.tflite"
V1_DEPTHWISE_LAYERS = 13  # V1's table: 13 depthwise separable blocks
V1_CONV_LAYERS = 15  # the first full conv, 13 pointwise convs, and keras' 1×1 conv classifier


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict:
    """Converter output without metadata (untrained V1 α0.25@96, 4 photos): the calibrated float model, the
    full-integer model and a mixed one with every depthwise conv kept in float."""
    from tensorflow.lite.python.convert import mlir_quantize

    from mobikit.runtime import tensorflow
    from mobikit.images import ImageSet, find_images
    from mobikit.models import build_model
    from mobikit.progress import Reporter
    from mobikit.convert import calibrate, requantize

    tf = tensorflow()
    folder = tmp_path_factory.mktemp("converted")
    calib = ImageSet(find_images(embedded_images())[:4], 96, embedded_images())
    calibrated = calibrate(build_model("v1", 0.25, 96, weights=None), calib, Reporter(), folder / "convert.log")
    plain = requantize(calibrated, "int8")
    mixed = bytes(mlir_quantize(calibrated, disable_per_channel=False, input_data_type=tf.int8,
                                output_data_type=tf.int8, denylisted_ops=["DEPTHWISE_CONV_2D"]))
    paths = {}
    for name, blob in (("float", calibrated), ("full-integer", plain), ("mixed", mixed)):
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(blob)
    return paths


def test_quantize_output_folder(tiny_output):
    described = json.loads((tiny_output / "model.json").read_text())
    result = run_cli("inspect", str(tiny_output), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # stdout holds only the JSON
    assert data["path"] == str(tiny_output / "model.tflite")
    assert data["size_bytes"] == described["size_bytes"] == (tiny_output / "model.tflite").stat().st_size
    meta = data["metadata"]
    assert meta["name"] == described["name"] and meta["output"]["label_count"] == described["classes"] == 1000
    assert meta["input"]["normalization"] == {"mean": [128.0] * 3, "std": [128.0] * 3}  # the int8 input grid
    assert meta["labels"] == (tiny_output / "labels.txt").read_text().splitlines()
    assert data["packed_files"] == {"labels.txt": (tiny_output / "labels.txt").stat().st_size}
    for key in ("input", "output"):
        tensor = data[f"{key}s"][0]
        assert {k: tensor[k] for k in ("dtype", "shape", "scale", "zero_point")} == \
            {k: described[key][k] for k in ("dtype", "shape", "scale", "zero_point")}
    assert data["op_counts"]["CONV_2D"] == V1_CONV_LAYERS
    assert data["op_counts"]["DEPTHWISE_CONV_2D"] == V1_DEPTHWISE_LAYERS
    assert data["precision"] == "full-integer" and data["float_ops"] == []
    assert data["opens_in"] == {"mobikit app": True, "LiteRT Interpreter": True,
                                "MediaPipe Tasks / Task Library": False}

    text = run_cli("inspect", str(tiny_output))
    assert text.returncode == 0, text.stderr
    assert f"TFLite Metadata: {described['name']}" in text.stdout and "(min parser 1.0.0)" in text.stdout
    assert "RGB, (pixel - mean) / std with mean 128, 128, 128 and std 128, 128, 128" in text.stdout
    assert "1000 labels in labels.txt" in text.stdout and "DEPTHWISE_CONV_2D" in text.stdout
    assert "full-integer: every op computes in integers" in text.stdout
    assert "not in: MediaPipe Tasks / Task Library" in text.stdout
    # static batch-1, as phone GPU delegates and LiteRT.js need
    assert data["static_shapes"] is True and data["dynamic_tensors"] == [] and data["shape_ops"] == []
    assert data["inputs"][0]["shape_signature"] == data["inputs"][0]["shape"] == [1, 96, 96, 3]
    assert "static shapes: every tensor's shape is fixed" in text.stdout and "dynamic shapes" not in text.stdout


def test_mixed_model_names_the_float_layers(converted):
    result = inspect_model(converted["mixed"])
    assert result.metadata is None and result.precision == "mixed"
    assert [op.op for op in result.float_ops] == ["DEPTHWISE_CONV_2D"] * V1_DEPTHWISE_LAYERS
    assert [op.layer for op in result.float_ops] == [f"conv_dw_{i}" for i in range(1, V1_DEPTHWISE_LAYERS + 1)]
    text = run_cli("inspect", str(converted["mixed"]))
    assert text.returncode == 0, text.stderr
    assert "no TFLite Metadata" in text.stdout
    assert "not full-integer: 13 ops compute in float: conv_dw_1 (DEPTHWISE_CONV_2D)" in text.stdout
    assert "and 3 more" in text.stdout


def test_float_and_full_integer_converter_output(converted):
    floating = inspect_model(converted["float"])
    assert floating.precision == "float" and floating.inputs[0].dtype == "float32"
    assert len(floating.float_ops) == V1_CONV_LAYERS + V1_DEPTHWISE_LAYERS + 3  # + mean, reshape, softmax
    assert all(floating.consumers().values())
    integer = inspect_model(converted["full-integer"])
    assert integer.precision == "full-integer" and integer.metadata is None
    assert integer.op_counts["CONV_2D"] == V1_CONV_LAYERS and integer.inputs[0].dtype == "int8"


def test_free_batch_model_names_its_dynamic_tensors_and_shape_ops(tmp_path):
    """A model converted elsewhere the plain way (`from_keras_model` on a Keras model with a free batch): inspect
    names the tensors with a -1 in their shape signature and the ops computing the batch at run time."""
    from mobikit.models import build_model
    from mobikit.runtime import captured_output, tensorflow

    tf = tensorflow()
    path = tmp_path / "free_batch.tflite"
    with captured_output():
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(build_model("v1", 0.25, 96, weights=None)).convert())
    result = run_cli("inspect", str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    image, scores = data["inputs"][0], data["outputs"][0]
    assert image["shape"] == [1, 96, 96, 3] and image["shape_signature"] == [-1, 96, 96, 3]
    assert scores["shape_signature"] == [-1, 1000] and data["static_shapes"] is False
    dynamic = {t["name"]: t["shape_signature"] for t in data["dynamic_tensors"]}
    assert dynamic[image["name"]] == [-1, 96, 96, 3] and dynamic[scores["name"]] == [-1, 1000]
    assert len(dynamic) > V1_CONV_LAYERS + V1_DEPTHWISE_LAYERS  # every activation has the free batch
    assert [op["op"] for op in data["shape_ops"]] == ["SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE"]
    text = run_cli("inspect", str(path))
    assert text.returncode == 0, text.stderr
    assert "-1×96×96×3" in text.stdout and "dynamic shapes:" in text.stdout and "static shapes" not in text.stdout
    assert "SHAPE, STRIDED_SLICE, PACK, RESHAPE compute a shape at run time" in " ".join(text.stdout.split())


def test_model_made_elsewhere_without_metadata(shared):
    """Google's QAT model predates TFLite Metadata: inspect says so and shows the rest (numbers from its README)."""
    result = run_cli("inspect", str(REFERENCE))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{REFERENCE}: 497,272 bytes (0.50 MB)"
    assert lines[1].startswith("no TFLite Metadata")
    summary = inspect_model(REFERENCE)
    assert (summary.inputs[0].dtype, summary.inputs[0].scale, summary.inputs[0].zero_point) == ("uint8", 0.0078125, 128)
    assert summary.outputs[0].shape == (1, 1001) and summary.precision == "full-integer"
    assert json.loads(run_cli("inspect", str(REFERENCE), "--json").stdout)["metadata"] is None


def test_user_text_is_printed_literally(shared, tmp_path):
    metadata = ClassifierMetadata("[bold red]name[/bold red]", tuple(f"[i]{i}" for i in range(1001)), (0.0,), (1.0,),
                                  description="[link=x]description[/link]")
    path = tmp_path / "markup.tflite"
    path.write_bytes(attach_metadata(REFERENCE.read_bytes(), metadata))
    result = run_cli("inspect", str(path))
    assert result.returncode == 0, result.stderr
    assert "TFLite Metadata: [bold red]name[/bold red]" in result.stdout
    assert "[link=x]description[/link]" in result.stdout


def test_inspect_does_not_import_tensorflow(tiny_output):
    """The quick answer stays quick: LiteRT and flatbuffers only."""
    code = ("import sys; from mobikit.inspection import inspect_model; inspect_model(sys.argv[1]); "
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(tiny_output)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr

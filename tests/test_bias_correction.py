"""Bias correction on a real converted model: MobileNet V1 α0.25@128 with ImageNet weights, real converter and
LiteRT interpreter, a few dozen images of imagenet-dev (calibration and evaluation apart)."""

from __future__ import annotations

import numpy as np
import pytest

from support import IMAGENET_DEV

from mobikit.images import ImageSet, find_images
from mobikit.errors import MobikitError
from mobikit.progress import Reporter

CALIBRATION_IMAGES = 40
EVALUATION_IMAGES = 60
CORRECTED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def _read(model_bytes: bytes):
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))


def _op_name(model, op) -> str:
    from tensorflow.lite.python import schema_py_generated as schema

    code = model.operatorCodes[op.opcodeIndex]
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return next(name for name, value in vars(schema.BuiltinOperator).items() if value == number)


@pytest.fixture(scope="module")
def converted(shared, tmp_path_factory):
    """(keras model, calibrated float bytes, plain int8 bytes, calibration set, evaluation set)."""
    from mobikit.models import build_model
    from mobikit.convert import calibrate, requantize

    paths = find_images(IMAGENET_DEV)
    calib = ImageSet(paths[:CALIBRATION_IMAGES], 128, IMAGENET_DEV)
    evaluation = ImageSet(paths[CALIBRATION_IMAGES:CALIBRATION_IMAGES + EVALUATION_IMAGES], 128, IMAGENET_DEV)
    keras_model = build_model("v1", 0.25, 128)
    log_path = tmp_path_factory.mktemp("convert") / "converter-error.log"
    calibrated = calibrate(keras_model, calib, Reporter(), log_path)
    plain = requantize(calibrated, "int8", log_path=log_path)
    return keras_model, calibrated, plain, calib, evaluation


@pytest.fixture(scope="module")
def corrected(converted):
    from mobikit.bias_correction import correct_biases

    _, calibrated, plain, calib, _ = converted
    reporter = Reporter()
    model_bytes, report = correct_biases(calibrated, plain, calib, reporter)
    return model_bytes, report, reporter


@pytest.mark.predictions
def test_corrected_model_is_closer_to_float(converted, corrected):
    from mobikit.inference import TFLiteClassifier, keras_predictor, predict_all
    from mobikit.labels import class_list_for
    from mobikit.metrics import kl_divergence

    keras_model, _, plain, _, evaluation = converted
    models = {"float": keras_predictor(keras_model), "plain": TFLiteClassifier(plain),
              "corrected": TFLiteClassifier(corrected[0])}
    predictions = predict_all(evaluation, models, class_list_for(1000))
    reference = predictions.scores["float"]
    plain_kl = kl_divergence(reference, predictions.scores["plain"])
    corrected_kl = kl_divergence(reference, predictions.scores["corrected"])
    assert corrected_kl < plain_kl, (corrected_kl, plain_kl)


def test_graph_and_shapes_identical_and_only_biases_changed(converted, corrected):
    plain_bytes, corrected_bytes = converted[2], corrected[0]
    assert len(corrected_bytes) == len(plain_bytes)
    plain, fixed = _read(plain_bytes), _read(corrected_bytes)
    plain_graph, fixed_graph = plain.subgraphs[0], fixed.subgraphs[0]
    assert [_op_name(plain, op) for op in plain_graph.operators] == \
           [_op_name(fixed, op) for op in fixed_graph.operators]
    for before, after in zip(plain_graph.operators, fixed_graph.operators):
        assert list(before.inputs) == list(after.inputs) and list(before.outputs) == list(after.outputs)
    assert [(t.name, list(t.shape), t.type, t.buffer) for t in plain_graph.tensors] == \
           [(t.name, list(t.shape), t.type, t.buffer) for t in fixed_graph.tensors]
    bias_buffers = {plain_graph.tensors[op.inputs[2]].buffer for op in plain_graph.operators
                    if _op_name(plain, op) in CORRECTED_OPS}
    changed = {i for i, (before, after) in enumerate(zip(plain.buffers, fixed.buffers))
               if not np.array_equal(np.asarray(before.data), np.asarray(after.data))}
    assert changed and changed <= bias_buffers
    assert len(changed) > len(bias_buffers) // 2


def test_report_names_every_corrected_layer(converted, corrected):
    _, report, reporter = corrected
    assert report.images == CALIBRATION_IMAGES
    names = [layer.name for layer in report.layers]
    assert len(names) == 28 and names[0] == "conv1" and names[-1] == "conv_preds"
    assert "conv_dw_1" in names and "conv_pw_13" in names
    assert {layer.op for layer in report.layers} == {"CONV_2D", "DEPTHWISE_CONV_2D"}
    for layer in report.layers:
        assert layer.channels > 0 and 0 <= layer.mean_abs_shift <= layer.max_abs_shift
    assert not reporter.warnings


def test_deterministic(converted, corrected):
    from mobikit.bias_correction import correct_biases

    _, calibrated, plain, calib, _ = converted
    again, report = correct_biases(calibrated, plain, calib, Reporter())
    assert again == corrected[0] and report == corrected[1]


def test_unmatched_layer_is_an_error_naming_it(converted):
    from tensorflow.lite.tools import flatbuffer_utils

    from mobikit.bias_correction import correct_biases

    _, calibrated, plain, calib, _ = converted
    model = _read(calibrated)
    graph = model.subgraphs[0]
    outputs = [graph.tensors[op.outputs[0]] for op in graph.operators]
    renamed = next(t for t in outputs if "/conv_pw_3_relu" in t.name.decode())
    renamed.name = b"something_else"
    broken = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    with pytest.raises(MobikitError, match="conv_pw_3"):
        correct_biases(broken, plain, calib, Reporter())


def test_few_images_warn_with_count_and_still_correct(converted, tmp_path):
    """The count is of the images read: files that cannot be decoded are not counted."""
    from mobikit.bias_correction import correct_biases

    _, calibrated, plain, calib, _ = converted
    reporter = Reporter()
    broken = [tmp_path / f"broken-{i}.jpg" for i in range(3)]
    for path in broken:
        path.write_bytes(b"not an image")
    few = ImageSet(calib.paths[:5] + broken, 128)
    model_bytes, report = correct_biases(calibrated, plain, few, reporter)
    assert any("on only 5 calibration images" in warning for warning in reporter.warnings), reporter.warnings
    assert report.images == 5 and model_bytes != plain


@pytest.mark.parametrize("io", ["uint8", "float32"])
def test_other_input_output_types(converted, tmp_path, io):
    from mobikit.bias_correction import correct_biases
    from mobikit.convert import calibrate, requantize
    from mobikit.inference import TFLiteClassifier

    keras_model, _, _, calib, evaluation = converted
    few = ImageSet(calib.paths[:16], 128, IMAGENET_DEV)
    calibrated = calibrate(keras_model, few, Reporter(), tmp_path / "converter-error.log")
    plain = requantize(calibrated, io)
    model_bytes, report = correct_biases(calibrated, plain, few, Reporter())
    assert len(model_bytes) == len(plain) and model_bytes != plain and len(report.layers) == 28
    _, image = next(evaluation.items())
    assert np.isfinite(TFLiteClassifier(model_bytes)(image[None])).all()

"""Static batch-1 graphs (what phone GPU delegates and LiteRT.js run) from the one conversion every mobikit model
goes through: fallback candidates too, the passes that used to batch (bias correction, the per-layer debugger) still
work on them, and the static graph computes exactly what the free-batch graph of the same Keras model did.

Each mode and I/O type of a written output folder: test_quantize; train --quantize and a fallback output:
test_train; sweep cells: test_sweep; inspect on a foreign dynamic model: test_inspect.
"""

from __future__ import annotations

import numpy as np
import pytest

from support import assert_static_batch_one, embedded_images

from mobikit.images import ImageSet, find_images
from mobikit.progress import Reporter

RESOLUTION = 96


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict:
    """An untrained V1 α0.25@96 and its calibrated float model (8 shipped photos), with the images."""
    from mobikit.convert import calibrate
    from mobikit.models import build_model

    keras_model = build_model("v1", 0.25, RESOLUTION, weights=None)
    calib = ImageSet(find_images(embedded_images())[:8], RESOLUTION, embedded_images())
    return {"keras": keras_model, "calib": calib, "calibrated": calibrate(keras_model, calib, Reporter()),
            "folder": tmp_path_factory.mktemp("static")}


def _write(folder, name: str, model: bytes):
    path = folder / f"{name}.tflite"
    path.write_bytes(model)
    return path


def test_every_fallback_candidate_is_static(converted):
    """The real fallback search with an unreachable target: the candidate it re-quantizes (a layer kept in float)
    and bias-corrects is static, and so is what the per-layer debugger ranked the layers on."""
    from mobikit.bias_correction import correct_biases
    from mobikit.convert import requantize
    from mobikit.fallback import FallbackBudget, SearchInputs, fallback_search
    from mobikit.inference import keras_predictor, predict_all
    from mobikit.labels import class_list_for
    from mobikit.layer_error import layer_errors

    calibrated, calib = converted["calibrated"], converted["calib"]
    plain = requantize(calibrated, "uint8")
    finished: list[bytes] = []

    def finish(model: bytes) -> bytes:
        finished.append(correct_biases(calibrated, model, calib, Reporter())[0])
        return finished[-1]

    classes = class_list_for(1000, None)
    float_scores = predict_all(calib, {"float": keras_predictor(converted["keras"])}, classes).scores["float"]
    errors = layer_errors(calibrated, calib, Reporter())
    result = fallback_search(calibrated, plain, finish(plain), "uint8", lambda: errors,
                             FallbackBudget(min_agreement=101.0, max_layers=1, max_latency_ratio=1000.0),
                             SearchInputs(calib, float_scores, [], classes, 1), finish, Reporter())
    assert len(result.steps) == 2 and len(result.steps[1].layers) == 1 and len(finished) == 2
    for number, model in enumerate(finished):
        assert_static_batch_one(_write(converted["folder"], f"candidate-{number}", model), RESOLUTION)
    assert_static_batch_one(_write(converted["folder"], "calibrated", calibrated), RESOLUTION)
    assert {error.layer for error in errors} >= {"conv1", "conv_dw_1", "conv_pw_13", "conv_preds"}


def test_static_graph_computes_what_the_free_batch_graph_did(converted):
    """The same Keras model through the plain converter (free batch: SHAPE/STRIDED_SLICE/PACK) and through mobikit
    (static), calibrated on the same images: the same quantization, the same kernels, the same outputs — int8
    bit for bit, float32 to the last bit too."""
    from tensorflow.lite.python.convert import mlir_quantize

    from mobikit.convert import convert, requantize
    from mobikit.inference import TFLiteClassifier
    from mobikit.runtime import captured_output, tensorflow

    tf = tensorflow()
    keras_model, calib = converted["keras"], converted["calib"]
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for _, image in calib.items())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter._experimental_calibrate_only = True
    with captured_output():
        free_calibrated = converter.convert()
        free_float = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    free_int8 = bytes(mlir_quantize(free_calibrated, disable_per_channel=False, input_data_type=tf.int8,
                                    output_data_type=tf.int8))
    pairs = {"int8": (free_int8, requantize(converted["calibrated"], "int8")),
             "float32": (free_float, convert(keras_model, "fp32"))}
    images = np.stack([image for _, image in calib.items()])
    for name, (free, static) in pairs.items():
        free_path = _write(converted["folder"], f"free-{name}", free)
        with pytest.raises(AssertionError):
            assert_static_batch_one(free_path)  # the plain converter's graph is the dynamic one
        assert_static_batch_one(_write(converted["folder"], f"static-{name}", static), RESOLUTION)
        free_scores, static_scores = TFLiteClassifier(free, 1)(images), TFLiteClassifier(static, 1)(images)
        assert np.array_equal(free_scores, static_scores), (name, np.abs(free_scores - static_scores).max())

"""The exact int8 input grid: quantized models read (p − 128) / 128 at scale 1/128, so every pixel value is its
own integer; the 256-entry table the host writes inputs through; the first-convolution fold that keeps the float
model's function of the pixels. Real converter and interpreter, untrained V1 α0.25@96 (no shared data needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mobikit.inference import quantize_array
from mobikit.input_grid import FLOAT_INPUT, GRID, Normalization, input_table, pixels_of, renormalize
from mobikit.preprocess import normalize

from support import SHARED, needs_shared

PIXELS = np.arange(256, dtype=np.uint8)


def test_the_grid_maps_every_pixel_to_its_own_integer():
    np.testing.assert_array_equal(input_table("int8", 1 / 128, 0, GRID), PIXELS.astype(np.int16) - 128)
    np.testing.assert_array_equal(input_table("uint8", 1 / 128, 128, GRID), PIXELS)
    np.testing.assert_array_equal(input_table(np.float32, 0.0, 0, GRID), (PIXELS - 128.0) / 128)


def test_the_float_rule_at_the_converters_scale_loses_levels_in_float32():
    """Why the grid exists: for p / 127.5 − 1 the converter stores scale 2/255 (float32) and zero point −1, every
    pixel is a rounding tie, and float32 arithmetic maps the 256 pixels to fewer than 256 values."""
    scale = float(np.float32(2 / 255))
    float32_rule = quantize_array(normalize(PIXELS), np.int8, scale, -1)
    assert len(np.unique(float32_rule)) < 256
    on_the_grid = quantize_array(renormalize(normalize(PIXELS), GRID), np.int8, 1 / 128, 0)
    np.testing.assert_array_equal(on_the_grid, PIXELS.astype(np.int16) - 128)


def test_host_images_give_back_their_pixels():
    np.testing.assert_array_equal(pixels_of(normalize(PIXELS)), PIXELS)
    assert renormalize(normalize(PIXELS), FLOAT_INPUT) is not None
    a, b = GRID.affine_from(FLOAT_INPUT)
    np.testing.assert_allclose(a * renormalize(normalize(PIXELS), GRID) + b, normalize(PIXELS), atol=1e-6)


@pytest.mark.parametrize("arch", ["v1", "v2"])
def test_the_fold_keeps_the_float_models_function_of_the_pixels(arch):
    """After the first convolution and its BatchNormalization, the folded model on (p − 128) / 128 computes what
    the float model computes on p / 127.5 − 1 (exactly inside; at the zero-padded border the padding stands for
    x = 0.004); without the fold the difference is far larger."""
    import keras

    from mobikit.input_grid import fold_into_first_conv
    from mobikit.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(arch, 0.35 if arch == "v2" else 0.25, 96, weights=None, classes=10)
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    kernel = np.array(conv.kernel)
    folded = fold_into_first_conv(model, GRID)
    first = keras.Model(model.inputs, norm.output)
    folded_first = keras.Model(folded.inputs, folded.get_layer(norm.name).output)
    images = normalize(np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8))
    reference = np.asarray(first(images))[:, 1:-1, 1:-1]
    on_grid = np.asarray(folded_first(renormalize(images, GRID)))[:, 1:-1, 1:-1]
    unfolded = np.asarray(first(renormalize(images, GRID)))[:, 1:-1, 1:-1]
    assert np.abs(on_grid - reference).max() < 1e-4 < np.abs(unfolded - reference).max()
    np.testing.assert_array_equal(np.asarray(conv.kernel), kernel)  # the original model is left as it was


def test_the_fold_refuses_a_model_it_cannot_fold():
    import keras

    from mobikit.input_grid import fold_into_first_conv

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    assert fold_into_first_conv(model, GRID) is None


def test_a_quantized_model_records_the_grid_in_model_json_and_metadata(tiny_output):
    from mobikit.inference import TFLiteClassifier
    from mobikit.metadata import read_metadata

    description = json.loads((tiny_output / "model.json").read_text())
    assert (description["input"]["scale"], description["input"]["zero_point"]) == (1 / 128, 0)
    assert (description["preprocessing"]["mean"], description["preprocessing"]["std"]) == (128.0, 128.0)
    model = (tiny_output / "model.tflite").read_bytes()
    metadata = read_metadata(model)
    assert metadata.mean == (128.0,) * 3 and metadata.std == (128.0,) * 3
    classifier = TFLiteClassifier(model, 1)
    assert classifier.normalization == Normalization(128.0, 128.0)
    np.testing.assert_array_equal(classifier.table, PIXELS.astype(np.int16) - 128)


@needs_shared
def test_a_reference_model_is_fed_the_rule_its_input_quantization_implies():
    """Google's hosted QAT V1 α0.25@128 carries no metadata; its uint8 input (scale 1/128, zero point 128) means
    real = (q − 128) / 128, so every pixel goes in as itself. The float rule fed before put 127 of the 256 pixel
    values one step off."""
    from mobikit.images import read_image
    from mobikit.inference import TFLiteClassifier, dequantize_array, make_interpreter
    from mobikit.preprocess import preprocess

    reference = SHARED / "reference" / "mobilenet_v1_0.25_128_quant.tflite"
    classifier = TFLiteClassifier(reference, 1)
    assert classifier.normalization == Normalization(128.0, 128.0)
    np.testing.assert_array_equal(classifier.table, PIXELS)
    assert (input_table("uint8", 1 / 128, 128, FLOAT_INPUT) != PIXELS).sum() == 127

    image = preprocess(read_image(sorted((SHARED / "data" / "photos").glob("*.jpg"))[0]), 128)
    interpreter = make_interpreter(reference, 1)  # the model run by hand on the image's own pixel bytes
    source, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(source["index"], pixels_of(image[None]))
    interpreter.invoke()
    by_hand = dequantize_array(interpreter.get_tensor(output["index"]), *output["quantization"])
    np.testing.assert_array_equal(classifier(image[None]), by_hand)

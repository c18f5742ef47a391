"""The int8 input grid: how a pixel value (0..255) becomes a model's input, as one 256-entry table.

Float models take x = p / 127.5 − 1 (keras.applications' MobileNet rule). For that rule the converter picks input
scale 2/255 and zero point −1, so q = p − 128.5: every pixel sits on a rounding tie that float error decides (host
float32 and the app's double disagreed on 64 of 256 pixels, and the host produced only 191 distinct values). No
integer zero point avoids it. Quantized models therefore take x = (p − 128) / 128, as Google's hosted quantized
MobileNets do: with scale 1/128 every pixel is its own integer, q = p − 128 (int8) or p (uint8). The 0.4% change of
scale and offset is folded into the first convolution (`fold_into_first_conv`), so the quantized model computes the
float model's function of the pixels.

`input_table` is the one rule the host, the Android app (`InputEncoder`) and the browser page follow: real =
(p − mean) / std and q = round-half-even(real / scale) + zero point, clamped, both in float64, for each of the 256
pixel values; an image is encoded by looking its pixels up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .preprocess import PIXEL_MEAN, PIXEL_STD


@dataclass(frozen=True)
class Normalization:
    """real = (pixel − mean) / std, the same for the three channels."""

    mean: float
    std: float

    def affine_from(self, other: "Normalization") -> tuple[float, float]:
        """(a, b) with other's real value = a × this real value + b, for the same pixel."""
        scale = self.std / other.std
        return scale, (self.mean - other.mean) / other.std


FLOAT_INPUT = Normalization(PIXEL_MEAN, PIXEL_STD)  # what the float model (and every host image) uses
GRID = Normalization(128.0, 128.0)  # what quantized (calibrated int8) models use
GRID_RANGE = (-1.0, 127.0 / 128.0)  # the real input range of the grid: scale exactly 1/128, zero point 0 (int8)


def raw_pixels(scale: float, zero_point: int) -> Normalization:
    """The normalization under which a uint8 input with this quantization takes every pixel as it is (q = p)."""
    return Normalization(float(zero_point), 1.0 / float(scale))


def input_table(dtype, scale: float, zero_point: int, normalization: Normalization) -> np.ndarray:
    """The 256 values a pixel 0..255 is written as into an input tensor of `dtype` with `scale`/`zero_point` (the
    real value itself as float32 for float inputs, where scale is 0)."""
    dtype = np.dtype(dtype)
    real = (np.arange(256, dtype=np.float64) - normalization.mean) / normalization.std
    if not np.issubdtype(dtype, np.integer) or scale == 0:
        return real.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(real / scale) + zero_point, info.min, info.max).astype(dtype)


def pixels_of(images: np.ndarray) -> np.ndarray:
    """The uint8 pixels host images were made from. Host images are p / 127.5 − 1 computed in float32
    (`preprocess.normalize`), within 1e-6 of exact, so rounding back recovers p exactly."""
    return np.clip(np.rint(images.astype(np.float64) * PIXEL_STD + PIXEL_MEAN), 0, 255).astype(np.uint8)


def renormalize(images: np.ndarray, normalization: Normalization) -> np.ndarray:
    """Host images (float input rule) as float32 inputs under `normalization` (the same array when it is the
    float rule)."""
    if normalization == FLOAT_INPUT:
        return images
    return input_table(np.float32, 0.0, 0, normalization)[pixels_of(images)]


def first_conv(keras_model):
    """The Conv2D that reads the model's input (through ZeroPadding2D layers at most), or None."""
    import keras

    layer = keras_model.layers[0]
    if not isinstance(layer, keras.layers.InputLayer):
        return None
    tensor = keras_model.inputs[0]
    for layer in keras_model.layers[1:]:
        inbound = [node for node in layer._inbound_nodes]
        if not inbound or list(inbound[0].input_tensors) != [tensor]:
            continue
        if isinstance(layer, keras.layers.ZeroPadding2D):
            tensor = layer.output
            continue
        if type(layer) is keras.layers.Conv2D and layer.groups == 1:
            return layer
        return None
    return None


def _following_batch_norm(keras_model, conv):
    import keras

    readers = [layer for layer in keras_model.layers
               if any(list(node.input_tensors) == [conv.output] for node in layer._inbound_nodes)]
    if len(readers) == 1 and isinstance(readers[0], keras.layers.BatchNormalization):
        return readers[0]
    return None


def fold_into_first_conv(keras_model, normalization: Normalization = GRID):
    """A copy of `keras_model` that takes inputs under `normalization` and computes what the original computes on
    the same pixels under the float rule: the first convolution's kernel is scaled by a and the constant b × Σ
    kernel moves into its bias (or the following BatchNormalization's moving mean). Exact except where zero
    padding stands for x = b (0.004) instead of 0 at the image's one-pixel border. None when the model does not
    start with a Conv2D that has a bias or a BatchNormalization after it."""
    import keras

    conv = first_conv(keras_model)
    if conv is None or (not conv.use_bias and _following_batch_norm(keras_model, conv) is None):
        return None
    a, b = normalization.affine_from(FLOAT_INPUT)
    folded = keras.models.clone_model(keras_model)
    folded.set_weights(keras_model.get_weights())
    new_conv = folded.get_layer(conv.name)
    kernel = np.asarray(conv.kernel)
    constant = b * kernel.sum(axis=(0, 1, 2))
    new_conv.kernel.assign(a * kernel)
    if conv.use_bias:
        new_conv.bias.assign(np.asarray(conv.bias) + constant)
    else:
        norm = folded.get_layer(_following_batch_norm(keras_model, conv).name)
        norm.moving_mean.assign(np.asarray(norm.moving_mean) - constant)
    return folded


def on_the_grid(keras_model):
    """(the model to calibrate for int8, whether the grid was folded into it): the float model folded onto the
    grid, or the float model itself when it cannot be folded (then it reads the grid up to 0.8% off)."""
    folded = fold_into_first_conv(keras_model, GRID)
    return (keras_model, False) if folded is None else (folded, True)


def pin_input_range(calibrated: bytes) -> bytes:
    """The calibrated model with its input's recorded range set to the grid's [−1, 127/128], so the quantizer
    gives the input scale exactly 1/128 and zero point 0 whatever pixels the calibration images held."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    graph = model.subgraphs[0]
    for index in graph.inputs:
        quantization = graph.tensors[index].quantization
        if quantization is not None and quantization.min is not None and len(quantization.min):
            quantization.min = np.asarray([GRID_RANGE[0]], dtype=np.float32)
            quantization.max = np.asarray([GRID_RANGE[1]], dtype=np.float32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))

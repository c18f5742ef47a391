"""Quantization-aware fine-tuning by distillation (`quantize --qat`): the float model learns to live with int8.

Post-training quantization stops at a ceiling set by the rounding of activations (see the docs' quantization page);
only weights that adapt to that rounding pass it. This module fine-tunes the float model on the unlabelled
calibration images under a simulation of the converter's int8 graph, against the float model's own outputs
(distillation: no labels needed), and hands back a float Keras model of the same architecture for the same
converter. The simulation mirrors what the converter does:

- BatchNormalization folded into the convolution before it, as the converter folds it (w·γ/√(σ²+ε), β − μ·γ/√(σ²+ε));
- weights per-channel symmetric int8 (scale = max |w| / 127), biases int32 at input scale × weight scale;
- activations per-tensor int8 at each op output the converter quantizes (after a fused ReLU/ReLU6, after an ADD,
  a MEAN, the logits), with the scale and zero point the post-training conversion gave them, frozen; the converted
  model is quantized with those same ranges (`adopt_reference`), so simulation and model agree up to kernel rounding;
- rounding with straight-through gradients (zero outside the range, as `tf.quantization.fake_quant_*`).

`SimulatedInt8.logits` is what `simulation_error` holds against the converted model's logits on the same images.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from .images import ImageSet
from .input_grid import GRID, Normalization
from .progress import Reporter
from .tensor_names import keras_layer_name, output_tensors

INT8 = (-128, 127)
WEIGHT_LEVELS = 127  # symmetric per-channel weights: [-127, 127]
MAX_QAT_EPOCHS = 10_000  # far beyond any use; keeps the step count inside the optimizer's int64 schedule


@dataclass(frozen=True)
class QatSettings:
    """The fine-tuning recipe (policy as data): distillation on the calibration images with crops and flips."""

    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-4  # Adam, cosine decay to 0
    temperature: float = 1.0  # softmax temperature of the distillation KL
    min_crop: float = 0.8  # random crops keep at least this fraction of each side, then resize back
    seed: int = 0


@dataclass(frozen=True)
class QatReport:
    """What the fine-tuning did and how well the simulation matched the converted model."""

    settings: QatSettings
    images: int
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    simulation: dict | None = None  # simulated vs converted logits, see `simulation_error`

    def to_json(self) -> dict:
        return {"settings": asdict(self.settings), "images": self.images, "steps": self.steps,
                "seconds": round(self.seconds, 1), "first_loss": self.first_loss, "last_loss": self.last_loss,
                "simulation": self.simulation}


def check_epochs(epochs: int | None, qat: bool) -> None:
    """A UsageError for `--qat-epochs` given without `--qat` or outside 1..MAX_QAT_EPOCHS (None: the recipe's)."""
    from .errors import UsageError

    if epochs is not None and not qat:
        raise UsageError("{qat_epochs} sets how long {qat} fine-tunes: pass {qat} too", "qat_epochs", "qat")
    if epochs is not None and not 1 <= epochs <= MAX_QAT_EPOCHS:
        raise UsageError("{qat_epochs} must be between 1 and %d" % MAX_QAT_EPOCHS, "qat_epochs")


# ------------------------------------------------------------------------------------------------ the int8 graph

@dataclass(frozen=True)
class _Quant:
    scale: float
    zero_point: int


def op_quantization(int8_model: bytes) -> tuple[dict[str, _Quant], _Quant]:
    """Keras layer name → the int8 scale / zero point of the op output the converter named after it, and the
    quantization of the logits (the input of a final SOFTMAX, else the model's output)."""
    from .inference import make_interpreter

    interpreter = make_interpreter(int8_model, 1, "cpu")
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    found: dict[str, _Quant] = {}
    ops = interpreter._get_ops_details()  # the only LiteRT call listing ops with their tensors
    for op in ops:
        output = tensors[op["outputs"][0]]
        scale, zero_point = output["quantization"]
        if scale:
            found[keras_layer_name(output["name"])] = _Quant(float(scale), int(zero_point))
    return found, _Quant(*tensors[_logits_index(interpreter)]["quantization"])


def _logits_index(interpreter) -> int:
    """The logits tensor: the input of the last SOFTMAX, else the last quantized op output."""
    ops = interpreter._get_ops_details()
    softmax = [op for op in ops if op["op_name"] == "SOFTMAX"]
    if softmax:
        return int(softmax[-1]["inputs"][0])
    quantized = [op for op in ops if op["op_name"] not in ("DEQUANTIZE", "QUANTIZE")]
    return int(quantized[-1]["outputs"][0])


def _fake_quant(x, quant: _Quant, levels: tuple[int, int] = INT8):
    """Round to the int8 grid of `quant`; straight-through gradient inside the range, zero outside."""
    import tensorflow as tf

    low, high = (levels[0] - quant.zero_point) * quant.scale, (levels[1] - quant.zero_point) * quant.scale
    clipped = tf.clip_by_value(x, low, high)
    rounded = (tf.round(clipped / quant.scale + quant.zero_point) - quant.zero_point) * quant.scale
    return clipped + tf.stop_gradient(rounded - clipped)


def _quantized_weights(kernel, channel_axes: tuple[int, ...]):
    """Per-channel symmetric int8 weights (max-abs scale), straight-through; and the per-channel scale."""
    import tensorflow as tf

    reduce = [axis for axis in range(len(kernel.shape)) if axis not in channel_axes]
    scale = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=reduce, keepdims=True), 1e-12) / WEIGHT_LEVELS
    rounded = tf.clip_by_value(tf.round(kernel / scale), -WEIGHT_LEVELS, WEIGHT_LEVELS) * scale
    return kernel + tf.stop_gradient(rounded - kernel), scale


@dataclass
class _Block:
    """One int8 op of arithmetic: a convolution / dense layer with its folded BatchNormalization and fused
    activation; `layers` are the Keras layers it stands for, `output` the Keras tensor it produces."""

    kind: str  # conv | depthwise | dense
    conv: object
    norm: object
    activation: str | None  # None, relu, relu6
    output: object
    quant: _Quant | None
    kernel: object = None  # tf.Variable, folded
    bias: object = None  # tf.Variable, folded


def _readers(keras_model) -> dict[int, list]:
    readers: dict[int, list] = {}
    for layer in keras_model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                readers.setdefault(id(tensor), []).append(layer)
    return readers


def _activation_name(layer) -> str | None:
    """relu / relu6 for a ReLU-like layer the converter fuses into the op before it, else None."""
    import keras

    if isinstance(layer, keras.layers.ReLU) and not layer.negative_slope and not layer.threshold:
        return "relu6" if layer.max_value == 6 else "relu" if layer.max_value is None else None
    if isinstance(layer, keras.layers.Activation):
        name = getattr(layer.activation, "__name__", "")
        return name if name in ("relu", "relu6") else None
    return None


def _softmax_activation(layer) -> bool:
    return getattr(getattr(layer, "activation", None), "__name__", "") == "softmax"


class SimulatedInt8:
    """The float model as the converter's int8 graph computes it, with trainable folded weights.

    Built from the (grid-folded) float Keras model and the int8 model the post-training conversion made of it,
    whose op outputs give the activation scales. `logits(x)` runs on grid inputs ((p − 128) / 128).
    """

    def __init__(self, keras_model, int8_model: bytes | None):
        """`int8_model` None builds the structure only: what `check_supported` needs before anything slow."""
        import keras

        self.model = keras_model
        self.quant, self.logits_quant = op_quantization(int8_model) if int8_model is not None else ({}, None)
        self.readers = _readers(keras_model)
        self.blocks: dict[str, _Block] = {}
        self.absorbed: set[str] = set()
        for layer in keras_model.layers:
            if isinstance(layer, _ARITHMETIC()) and layer.name not in self.absorbed:
                self._add_block(layer)
        self.variables = [v for block in self.blocks.values() for v in (block.kernel, block.bias) if v.trainable]
        for layer in keras_model.layers[1:]:
            simulated = (layer.name in self.absorbed or layer.name in self.blocks or isinstance(layer, _PASS_THROUGH())
                         or (isinstance(layer, _OWN_RANGE()) and (not isinstance(layer, keras.layers.Activation)
                                                                 or _activation_name(layer) or
                                                                 _softmax_activation(layer))))
            if not simulated:
                raise _unsupported(layer)

    def _sole_reader(self, layer):
        readers = self.readers.get(id(layer.output), [])
        return readers[0] if len(readers) == 1 else None

    def _add_block(self, conv) -> None:
        import keras

        kind = ("depthwise" if isinstance(conv, keras.layers.DepthwiseConv2D) else
                "dense" if isinstance(conv, keras.layers.Dense) else "conv")
        if kind == "conv" and (conv.groups != 1 or type(conv) is not keras.layers.Conv2D):
            raise _unsupported(conv)
        norm = self._sole_reader(conv)
        norm = norm if isinstance(norm, keras.layers.BatchNormalization) else None
        own = getattr(getattr(conv, "activation", None), "__name__", "linear")
        if own not in ("linear", "softmax", "relu", "relu6") or (own in ("relu", "relu6") and norm is not None):
            raise _unsupported(conv)
        activation = own if own in ("relu", "relu6") else None
        last = norm or conv
        follower = self._sole_reader(last)
        if activation is None and own != "softmax" and follower is not None and _activation_name(follower):
            activation, last = _activation_name(follower), follower
        kernel, bias = _folded(conv, norm)
        block = _Block(kind, conv, norm, activation, last.output, self.quant.get(conv.name))
        block.kernel = keras.Variable(kernel, name=f"{conv.name}_kernel")
        block.bias = keras.Variable(bias, name=f"{conv.name}_bias", trainable=bool(conv.use_bias or norm))
        self.blocks[conv.name] = block
        self.absorbed.update(layer.name for layer in (norm, last) if layer is not None and layer is not conv)

    def logits(self, x):
        """Simulated int8 logits (dequantized) of a batch of grid inputs."""
        import keras

        values = {id(self.model.inputs[0]): x}
        scales = {id(self.model.inputs[0]): GRID_QUANT.scale}
        result = None
        for layer in self.model.layers[1:]:
            if layer.name in self.absorbed:
                continue
            inputs = [values[id(t)] for t in layer._inbound_nodes[0].input_tensors]
            in_scale = scales.get(id(layer._inbound_nodes[0].input_tensors[0]))
            if layer.name in self.blocks:
                block = self.blocks[layer.name]
                value, result_logits = self._run_block(block, inputs[0], in_scale)
                result = result_logits if result_logits is not None else result
                values[id(block.output)], scales[id(block.output)] = value, block.quant and block.quant.scale
                continue
            if _softmax_activation(layer) and isinstance(layer, keras.layers.Activation):
                result = inputs[0]
                values[id(layer.output)] = inputs[0]
                continue
            value = layer(*inputs) if len(inputs) == 1 else layer(inputs)
            quant = None if isinstance(layer, _PASS_THROUGH()) else self.quant.get(layer.name)
            if quant is not None:
                value = _fake_quant(value, quant)
            values[id(layer.output)], scales[id(layer.output)] = value, quant.scale if quant else in_scale
        return values[id(self.model.outputs[0])] if result is None else result

    def _run_block(self, block: _Block, x, in_scale):
        import tensorflow as tf

        conv = block.conv
        axes = {"conv": (3,), "depthwise": (2, 3), "dense": (1,)}[block.kind]
        weights, weight_scale = _quantized_weights(tf.convert_to_tensor(block.kernel), axes)
        bias = tf.convert_to_tensor(block.bias)
        if in_scale:
            bias_scale = tf.reshape(weight_scale, [-1]) * in_scale
            bias = bias + tf.stop_gradient(tf.round(bias / bias_scale) * bias_scale - bias)
        if block.kind == "dense":
            y = tf.matmul(x, weights) + bias
        else:
            strides, dilation = (1, *conv.strides, 1), conv.dilation_rate
            if block.kind == "conv":
                y = tf.nn.conv2d(x, weights, strides, conv.padding.upper(), dilations=dilation) + bias
            else:
                y = tf.nn.depthwise_conv2d(x, weights, strides, conv.padding.upper(), dilations=dilation) + bias
        if block.activation == "relu6":
            y = tf.clip_by_value(y, 0.0, 6.0)
        elif block.activation == "relu":
            y = tf.nn.relu(y)
        if block.quant is not None:
            y = _fake_quant(y, block.quant)
        return y, (y if _softmax_activation(conv) else None)

    def export(self):
        """A float Keras model of the original architecture computing the fine-tuned weights: the folded kernel in
        the convolution, the BatchNormalization reduced to adding the folded bias (which the converter folds back)."""
        import keras

        tuned = keras.models.clone_model(self.model)
        tuned.set_weights(self.model.get_weights())
        for name, block in self.blocks.items():
            conv = tuned.get_layer(name)
            conv.kernel.assign(np.asarray(block.kernel))
            bias = np.asarray(block.bias)
            if block.norm is None:
                if conv.use_bias:
                    conv.bias.assign(bias)
                continue
            if conv.use_bias:
                conv.bias.assign(np.zeros_like(bias))
            norm = tuned.get_layer(block.norm.name)
            if norm.scale:
                norm.gamma.assign(np.ones_like(bias))
            if norm.center:
                norm.beta.assign(np.zeros_like(bias))
            norm.moving_mean.assign(-bias)
            norm.moving_variance.assign(np.full_like(bias, 1.0 - norm.epsilon))
        return tuned


GRID_QUANT = _Quant(1.0 / GRID.std, 0)


def check_supported(keras_model) -> None:
    """A UsageError naming the first layer the simulation cannot mirror (checked before any conversion)."""
    SimulatedInt8(keras_model, None)


def _ARITHMETIC():
    """Layers simulated with int8 weights, their BatchNormalization folded and their activation fused."""
    import keras

    return keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense


def _PASS_THROUGH():
    """Layers whose TFLite op keeps its input's quantization (their output carries no scale of their own)."""
    import keras

    return (keras.layers.ZeroPadding2D, keras.layers.Reshape, keras.layers.Dropout, keras.layers.Flatten,
            keras.layers.MaxPooling2D)


def _OWN_RANGE():
    """Layers whose TFLite op quantizes its output with a range of its own (from calibration)."""
    import keras

    return (keras.layers.Add, keras.layers.GlobalAveragePooling2D, keras.layers.AveragePooling2D,
            keras.layers.ReLU, keras.layers.Activation, keras.layers.Concatenate)


def _unsupported(layer) -> Exception:
    from .errors import UsageError

    return UsageError("--qat does not simulate layer {layer} ({kind}) yet: quantize without {qat}",
                      "qat", layer=layer.name, kind=type(layer).__name__)


def _folded(conv, norm) -> tuple[np.ndarray, np.ndarray]:
    """The convolution's kernel and bias with the BatchNormalization after it folded in (float32, as the
    converter folds it)."""
    kernel = np.asarray(conv.kernel, dtype=np.float32)
    channels = kernel.shape[2] * kernel.shape[3] if kernel.ndim == 4 and conv.__class__.__name__ == \
        "DepthwiseConv2D" else kernel.shape[-1]
    bias = np.asarray(conv.bias, dtype=np.float32) if conv.use_bias else np.zeros(channels, np.float32)
    if norm is None:
        return kernel, bias
    gamma = np.asarray(norm.gamma, np.float32) if norm.scale else np.ones(channels, np.float32)
    beta = np.asarray(norm.beta, np.float32) if norm.center else np.zeros(channels, np.float32)
    factor = gamma / np.sqrt(np.asarray(norm.moving_variance, np.float32) + np.float32(norm.epsilon))
    shaped = factor.reshape(kernel.shape[2:]) if conv.__class__.__name__ == "DepthwiseConv2D" else factor
    return (kernel * shaped).astype(np.float32), (beta + (bias - np.asarray(norm.moving_mean, np.float32)) * factor
                                                  ).astype(np.float32)


# ------------------------------------------------------------------------------------------------ fine-tuning

def _pixels(images: ImageSet, reporter: Reporter) -> np.ndarray:
    from .input_grid import pixels_of

    return np.concatenate([pixels_of(batch) for _, batch in reporter.track(
        images.batches(64), len(images), "QAT: reading images", count=lambda entry: len(entry[0]))])


def _augmented(pixels: np.ndarray, rng: np.random.Generator, min_crop: float) -> np.ndarray:
    """Random crops (resized back) and horizontal flips, kept on the integer pixel grid."""
    import cv2

    size = pixels.shape[1]
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        side = int(round(size * rng.uniform(min_crop, 1.0)))
        top, left = rng.integers(0, size - side + 1, 2)
        crop = image[top:top + side, left:left + side]
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR) if side != size else crop
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def _grid(pixels: np.ndarray, normalization: Normalization = GRID) -> np.ndarray:
    return ((pixels.astype(np.float32) - normalization.mean) / normalization.std).astype(np.float32)


def fine_tune(teacher, int8_model: bytes, calib: ImageSet, reporter: Reporter,
              settings: QatSettings = QatSettings(), softmax: bool = True) -> tuple["SimulatedInt8", QatReport]:
    """Distil `teacher` (the float model on the int8 input grid) into its simulated int8 twin on the calibration
    images; returns the trained simulation (`export()` gives the Keras model to convert) and what it did."""
    import keras
    import tensorflow as tf

    from .runtime import raise_if_stopped

    start = time.perf_counter()
    simulation = SimulatedInt8(teacher, int8_model)
    pixels = _pixels(calib, reporter)
    per_epoch = math.ceil(len(pixels) / settings.batch_size)
    total = settings.epochs * per_epoch
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(settings.learning_rate, total))
    temperature = settings.temperature

    @tf.function(reduce_retracing=True)
    def step(x):
        target = teacher(x, training=False)
        target = tf.math.log(tf.maximum(target, 1e-12)) if softmax else target
        target = tf.nn.softmax(target / temperature)
        with tf.GradientTape() as tape:
            student = tf.nn.log_softmax(simulation.logits(x) / temperature)
            loss = tf.reduce_mean(tf.reduce_sum(target * (tf.math.log(tf.maximum(target, 1e-12)) - student),
                                                axis=-1)) * temperature ** 2
        gradients = tape.gradient(loss, simulation.variables)
        optimizer.apply_gradients(zip(gradients, simulation.variables))
        return loss

    rng = np.random.default_rng(settings.seed)
    losses = []
    for _ in reporter.track(range(settings.epochs), settings.epochs, "QAT: fine-tuning (epochs)"):
        order = rng.permutation(len(pixels))
        epoch = []
        for first in range(0, len(order), settings.batch_size):
            batch = _augmented(pixels[order[first:first + settings.batch_size]], rng, settings.min_crop)
            epoch.append(float(step(tf.constant(_grid(batch)))))
            raise_if_stopped()
        losses.append(float(np.mean(epoch)))
    return simulation, QatReport(settings, len(pixels), total, time.perf_counter() - start, losses[0], losses[-1])


# ------------------------------------------------------------------------------------------------ conversion

def adopt_reference(calibrated: bytes, reference: bytes) -> bytes:
    """`calibrated` (the fine-tuned model, calibrated) with the recorded range and the name of every activation
    (the graph's inputs and every op's outputs, matched op by op) taken from `reference` (the post-training
    calibration the simulation was built on): the converter then gives the model exactly the simulated scales, and
    bias correction and the fallback search find its layers under the float model's names."""
    from tensorflow.lite.tools import flatbuffer_utils

    from .errors import MobikitError

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    source = flatbuffer_utils.read_model_from_bytearray(bytearray(reference))
    graph, given = model.subgraphs[0], source.subgraphs[0]
    pairs = list(zip(graph.inputs, given.inputs))
    same = len(graph.operators) == len(given.operators) and len(graph.inputs) == len(given.inputs)
    for op, reference_op in zip(graph.operators, given.operators):
        same = same and (model.operatorCodes[op.opcodeIndex].builtinCode ==
                         source.operatorCodes[reference_op.opcodeIndex].builtinCode)
        pairs += list(zip(op.outputs, reference_op.outputs))
    if not same or any(_shape(graph.tensors[a]) != _shape(given.tensors[b]) for a, b in pairs):
        raise MobikitError("QAT: the fine-tuned model converted to a different graph than the float model; "
                           "its activation ranges cannot be matched")
    for mine, theirs in pairs:
        target, origin = graph.tensors[mine].quantization, given.tensors[theirs].quantization
        graph.tensors[mine].name = given.tensors[theirs].name
        if target is not None and origin is not None and origin.min is not None:
            target.min, target.max = origin.min, origin.max
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def written_model(keras_model, written: bytes):
    """The fine-tuned float model as far as a written `--qat` model holds it: each convolution's folded kernel and
    bias read back (dequantized) from the written model's own tensors — bias correction and any layer the fallback
    search kept in float included — and set into `keras_model` (the grid-folded float model it was fine-tuned from)
    as `export` sets them. Converted with the same ranges, it quantizes back to the written weights; `analyze` runs on
    it, since the fine-tuned float weights themselves are not kept."""
    from .errors import MobikitError

    simulation = SimulatedInt8(keras_model, None)
    parameters = written_parameters(written)
    final = id(keras_model.outputs[0])
    found = {name: parameters.get(name, parameters.get(GRAPH_OUTPUT) if id(block.output) == final else None)
             for name, block in simulation.blocks.items()}
    missing = sorted(name for name, value in found.items() if value is None)
    if missing:
        raise MobikitError(f"the written model has no convolution for layer {missing[0]}: it was not quantized from "
                           "this float model")
    for name, block in simulation.blocks.items():
        kernel, bias = found[name]
        shape = tuple(block.kernel.shape)
        bias = np.zeros(tuple(block.bias.shape), np.float32) if bias is None else bias
        if block.kind == "depthwise":  # [1, h, w, in·multiplier] → [h, w, in, multiplier]
            kernel = kernel.reshape(shape)
        else:  # [out, h, w, in] → [h, w, in, out]; dense [out, in] → [in, out]
            kernel = np.moveaxis(kernel, 0, -1).reshape(shape)
        block.kernel.assign(kernel)
        block.bias.assign(bias.reshape(tuple(block.bias.shape)))
    return simulation.export()


def written_calibration(keras_model, written: bytes, calib: ImageSet, reporter: Reporter, log_path,
                        normalization: Normalization = GRID) -> bytes:
    """What `analyze` measures for a `--qat` folder: the written model's weights (`written_model`) calibrated as
    quantize calibrated the fine-tuned model, with the ranges of the float model's own calibration (`adopt_reference`)
    — requantized, it gives the written model's weights and activation scales."""
    from .convert import calibrate

    reference = calibrate(keras_model, calib, reporter, log_path, normalization)
    tuned = calibrate(written_model(keras_model, written), calib, reporter, log_path, normalization)
    return adopt_reference(tuned, reference)


GRAPH_OUTPUT = ""  # the key of the op computing the model's output: the converter names that tensor, not Keras


def written_parameters(written: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Keras layer name → (kernel in TFLite layout, bias) of every convolution / dense op, dequantized; the op
    whose output is the model's (at most a DEQUANTIZE between) also under GRAPH_OUTPUT."""
    from .inference import make_interpreter

    interpreter = make_interpreter(written, 1, "cpu")
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # the only LiteRT call listing ops with their tensors
    final = output_tensors([detail["index"] for detail in interpreter.get_output_details()],
                           [(op["op_name"], op["inputs"], op["outputs"]) for op in ops])

    def value(index: int) -> np.ndarray:
        tensor, raw = tensors[index], interpreter.get_tensor(index)
        quantization = tensor["quantization_parameters"]
        if not len(quantization["scales"]):
            return raw.astype(np.float32)
        shape = [1] * raw.ndim
        shape[quantization["quantized_dimension"]] = -1
        scales = quantization["scales"].reshape(shape) if raw.ndim else quantization["scales"]
        zero_points = quantization["zero_points"].reshape(shape) if raw.ndim else quantization["zero_points"]
        return ((raw.astype(np.float64) - zero_points) * scales).astype(np.float32)

    found = {}
    for op in ops:
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(op["inputs"]) > 2:
            name = keras_layer_name(tensors[op["outputs"][0]]["name"])
            found[name] = (value(op["inputs"][1]), value(op["inputs"][2]) if op["inputs"][2] >= 0 else None)
            if op["outputs"][0] in final:
                found[GRAPH_OUTPUT] = found[name]
    return found


def _shape(tensor) -> list[int]:
    return [] if tensor.shape is None else [int(n) for n in tensor.shape]


def converted_logits(int8_model: bytes, pixels: np.ndarray, normalization: Normalization = GRID) -> np.ndarray:
    """The converted model's logits (the input of its final SOFTMAX, else its output), dequantized, on pixels."""
    from .inference import make_interpreter
    from .input_grid import input_table

    interpreter = make_interpreter(int8_model, 2, preserve_all_tensors=True)
    source = interpreter.get_input_details()[0]
    table = input_table(source["dtype"], *source["quantization"], normalization)
    index = _logits_index(interpreter)
    scale, zero_point = next(t["quantization"] for t in interpreter.get_tensor_details() if t["index"] == index)
    rows = []
    for image in pixels:
        interpreter.set_tensor(source["index"], table[image[None]])
        interpreter.invoke()
        value = interpreter.get_tensor(index)[0]
        rows.append((value.astype(np.float32) - zero_point) * scale if scale else value.astype(np.float32))
    return np.stack(rows).reshape(len(rows), -1)


def simulation_error(simulation: SimulatedInt8, int8_model: bytes, images: ImageSet,
                     reporter: Reporter) -> dict:
    """Simulated int8 logits vs the converted model's logits on the same images: the mean and max absolute
    difference (in logits and in int8 steps) and how often both give the same top-1."""
    pixels = _pixels(images, reporter)
    simulated = np.concatenate([np.asarray(simulation.logits(_grid(pixels[i:i + 32])))
                                for i in range(0, len(pixels), 32)]).reshape(len(pixels), -1)
    converted = converted_logits(int8_model, pixels)
    difference = np.abs(simulated - converted)
    step = simulation.logits_quant.scale
    return {"images": int(len(pixels)), "logit_step": step, "mean_abs": float(difference.mean()),
            "max_abs": float(difference.max()), "mean_abs_steps": float(difference.mean() / step),
            "same_top1": float(np.mean(simulated.argmax(1) == converted.argmax(1)))}

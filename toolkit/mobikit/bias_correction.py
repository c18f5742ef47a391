"""Empirical bias correction of a full-integer TFLite model (Nagel et al. 2019, §4.2).

Int8 rounding shifts the mean of every conv / fully-connected output, and the shifts add up through the network.
For each such layer, in network order, the per-output-channel mean of its int8 output (dequantized) over the
calibration images is compared with the float model's, and the difference is folded into the layer's int32 bias.
The graph, the weights and every other byte of the model stay as they were.

How it stays fast: the float statistics come from one pass of a copy of the float model that returns every
layer's output. Layer k's int8 statistics come from a copy of the int8 model cut right after layer k (the
earlier layers already corrected), so each pass runs only the network's prefix — about half the network on
average — and every pass runs under XNNPACK, the kernels the model is deployed with, in small batches.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass

import numpy as np

from .calibration import ImageSet
from .errors import MobikitError
from .evaluate import quantize_array
from .progress import Reporter

CORRECTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
MIN_STABLE_IMAGES = 16
INT8_LOW, INT8_HIGH = -128, 127
INT32 = np.iinfo(np.int32)
BATCH = 8
# A channel clipped on most images moves its mean by only (unclipped fraction) × bias shift; dividing by the
# fraction (a Newton step on the clipped mean), floored so a fully clipped channel is not pushed without bound.
MIN_ACTIVE_FRACTION = 0.05


@dataclass
class _Layer:
    """One corrected op: where its output and bias live in both models, and the bias's real-valued step."""

    name: str
    op: str
    output: int
    float_output: int
    bias_buffer: int
    bias_step: np.ndarray
    output_scale: float
    output_zero_point: int

    @property
    def channels(self) -> int:
        return len(self.bias_step)


def correct_biases(calibrated: bytes, plain: bytes, calib: ImageSet, reporter: Reporter,
                   threads: int = 2) -> tuple[bytes, dict]:
    """The bias-corrected int8 model and a JSON-ready report of the per-layer shifts."""
    from tensorflow.lite.tools import flatbuffer_utils

    if len(calib) < MIN_STABLE_IMAGES:
        reporter.warn(f"bias correction on only {len(calib)} calibration images: per-channel means are noisy "
                      f"below {MIN_STABLE_IMAGES}; the correction is applied anyway")
    int8_model = flatbuffer_utils.read_model_from_bytearray(bytearray(plain))
    float_model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    layers = _layers(int8_model, float_model)
    corrected = bytearray(plain)
    biases = _bias_views(corrected, layers)
    shifts = []
    with _InputCache(*_input_quantization(int8_model)) as int8_inputs:
        float_probe = _with_outputs(float_model, [layer.float_output for layer in layers])
        float_batches = (int8_inputs.keep(batch) for _, batch in calib.batches(BATCH))
        float_means, _ = _channel_means(float_probe, [layer.float_output for layer in layers], layers,
                                        reporter.track(float_batches, -(-len(calib) // BATCH),
                                                       "bias correction: float statistics"), threads)
        for k, (layer, bias) in enumerate(zip(layers, biases)):
            for previous, value in zip(layers[:k], biases[:k]):
                int8_model.buffers[previous.bias_buffer].data = value.view(np.uint8).copy()
            batches = reporter.track(int8_inputs.batches(), int8_inputs.batch_count,
                                     f"bias correction: {layer.name} ({k + 1}/{len(layers)})")
            (mean,), (inside,) = _channel_means(_prefix(int8_model, layer), [layer.output], [layer], batches,
                                                threads)
            mean = (mean - layer.output_zero_point) * layer.output_scale
            shift = (float_means[k] - mean) / np.maximum(inside, MIN_ACTIVE_FRACTION)
            steps = np.round(shift / layer.bias_step)
            bias[:] = np.clip(bias.astype(np.int64) + steps, INT32.min, INT32.max)
            shifts.append(steps * layer.bias_step)
        images = int8_inputs.count
    report = {"images": images, "layers": [_layer_report(layer, shift) for layer, shift in zip(layers, shifts)]}
    return bytes(corrected), report


def _layer_report(layer: _Layer, shift: np.ndarray) -> dict:
    return {"name": layer.name, "op": layer.op, "channels": layer.channels,
            "mean_abs_shift": float(np.mean(np.abs(shift))), "max_abs_shift": float(np.max(np.abs(shift)))}


def _op_names() -> dict[int, str]:
    from tensorflow.lite.python import schema_py_generated as schema

    return {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


def _layers(int8_model, float_model) -> list[_Layer]:
    """The quantized conv / fully-connected ops of the int8 model in execution order, matched to float by name."""
    from tensorflow.lite.python import schema_py_generated as schema

    op_names = _op_names()
    graph = int8_model.subgraphs[0]
    float_index = {tensor.name: i for i, tensor in enumerate(float_model.subgraphs[0].tensors)}
    bias_users: dict[int, int] = {}
    for tensor in graph.tensors:
        bias_users[tensor.buffer] = bias_users.get(tensor.buffer, 0) + 1
    layers = []
    for op in graph.operators:
        code = int8_model.operatorCodes[op.opcodeIndex]
        op_name = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
        if op_name not in CORRECTED_OPS or graph.tensors[op.inputs[0]].type != schema.TensorType.INT8:
            continue
        output = graph.tensors[op.outputs[0]]
        name = readable_name(output.name.decode())
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            raise MobikitError(f"bias correction: layer {name} ({op_name}) has no bias to correct")
        bias = graph.tensors[op.inputs[2]]
        if bias.type != schema.TensorType.INT32 or bias_users[bias.buffer] != 1:
            raise MobikitError(f"bias correction: layer {name} ({op_name}) has no int32 bias of its own")
        if output.name not in float_index:
            raise MobikitError(f"bias correction: layer {name} ({op_name}) has no matching tensor in the float "
                               f"model (int8 tensor {output.name.decode()!r}); the model was not corrected")
        input_scale = float(graph.tensors[op.inputs[0]].quantization.scale[0])
        weight_scale = np.asarray(graph.tensors[op.inputs[1]].quantization.scale, dtype=np.float64)
        channels = int(output.shape[-1])
        bias_step = np.broadcast_to(input_scale * weight_scale, (channels,)).copy()
        layers.append(_Layer(name, op_name, int(op.outputs[0]), float_index[output.name], int(bias.buffer),
                             bias_step, float(output.quantization.scale[0]),
                             int(output.quantization.zeroPoint[0])))
    return layers


def readable_name(tensor_name: str) -> str:
    """The Keras layer of a converter tensor name: 'model_1/conv_pw_1_1/convolution;…' → 'conv_pw_1'.

    Fused tensors join several ops with ';'; the one doing the arithmetic (convolution, depthwise, MatMul) names
    the layer. A call-scope suffix ('_1') that the model scope carries as well is dropped.
    """
    parts = [part for part in tensor_name.split(";") if part]
    arithmetic = next((p for p in parts if re.search(r"/(convolution|depthwise|MatMul|Conv2D|BiasAdd)$", p)),
                      parts[0] if parts else tensor_name)
    scopes = arithmetic.split("/")
    if len(scopes) < 2:
        return arithmetic
    layer = scopes[-2]
    suffix = re.search(r"_\d+$", scopes[0])
    if suffix and len(scopes) > 2 and layer.endswith(suffix.group()):
        layer = layer[: -len(suffix.group())]
    return layer


def _with_outputs(model, outputs: list[int]) -> bytes:
    """A copy of the model that also returns the given tensors, so XNNPACK hands them back after one invoke."""
    from tensorflow.lite.tools import flatbuffer_utils

    graph = model.subgraphs[0]
    original = graph.outputs
    graph.outputs = np.asarray(list(original) + [i for i in outputs if i not in original], dtype=np.int32)
    try:
        return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    finally:
        graph.outputs = original


def _prefix(model, layer: _Layer) -> bytes:
    """A copy of the model that stops after `layer` and returns its output: later ops are not run at all."""
    from tensorflow.lite.tools import flatbuffer_utils

    graph = model.subgraphs[0]
    operators, outputs = graph.operators, graph.outputs
    last = next(i for i, op in enumerate(operators) if layer.output in op.outputs)
    graph.operators, graph.outputs = operators[: last + 1], np.asarray([layer.output], dtype=np.int32)
    try:
        return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    finally:
        graph.operators, graph.outputs = operators, outputs


def _bias_views(model_bytes: bytearray, layers: list[_Layer]) -> list[np.ndarray]:
    """Writable int32 views of each layer's bias inside the serialized model: edits change nothing else."""
    from tensorflow.lite.python import schema_py_generated as schema

    root = schema.Model.GetRootAs(model_bytes, 0)
    views = []
    for layer in layers:
        data = root.Buffers(layer.bias_buffer).DataAsNumpy()
        if not isinstance(data, np.ndarray) or data.size != 4 * layer.channels:
            raise MobikitError(f"bias correction: the bias of layer {layer.name} is not stored inline in the model")
        views.append(data.view("<i4"))
    return views


def _input_quantization(model) -> tuple[np.dtype, float, int]:
    """dtype, scale and zero point of the model's input tensor."""
    from tensorflow.lite.python import schema_py_generated as schema

    graph = model.subgraphs[0]
    tensor = graph.tensors[graph.inputs[0]]
    dtypes = {schema.TensorType.INT8: np.int8, schema.TensorType.UINT8: np.uint8,
              schema.TensorType.FLOAT32: np.float32}
    if tensor.type not in dtypes:
        raise MobikitError(f"bias correction: unsupported model input type (TFLite type {tensor.type})")
    quantization = tensor.quantization
    if quantization is None or quantization.scale is None or len(quantization.scale) == 0:
        return np.dtype(dtypes[tensor.type]), 0.0, 0
    return np.dtype(dtypes[tensor.type]), float(quantization.scale[0]), int(quantization.zeroPoint[0])


class _InputCache:
    """The int8 model's inputs, decoded and quantized once, kept in a temporary file rather than in memory.

    Every layer needs one pass over all calibration images; decoding the images again for each would cost more
    than running the network prefix on them.
    """

    def __init__(self, dtype: np.dtype, scale: float, zero_point: int):
        self.dtype, self.scale, self.zero_point = dtype, scale, zero_point
        self.count = 0
        self.shape: tuple[int, ...] = ()

    def __enter__(self) -> "_InputCache":
        self.file = tempfile.TemporaryFile()
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def keep(self, batch: np.ndarray) -> np.ndarray:
        """Store a batch of float images for later int8 passes; returns the batch unchanged."""
        self.file.write(quantize_array(batch, self.dtype, self.scale, self.zero_point).tobytes())
        self.count += len(batch)
        self.shape = batch.shape[1:]
        return batch

    @property
    def batch_count(self) -> int:
        return -(-self.count // BATCH)

    def batches(self):
        item_bytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.file.seek(0)
        for start in range(0, self.count, BATCH):
            n = min(BATCH, self.count - start)
            yield np.frombuffer(self.file.read(n * item_bytes), self.dtype).reshape(n, *self.shape)


def _channel_means(model_bytes: bytes, outputs: list[int], layers: list[_Layer], batches,
                   threads: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-channel mean of each output tensor over the batches (raw values: real for float, integer for int8),
    and the fraction of values strictly inside the int8 range (not clipped); streamed, one batch at a time."""
    from .bench import make_interpreter

    interpreter = make_interpreter(model_bytes, threads)
    source = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(source["index"], [BATCH, *source["shape"][1:]])
    interpreter.allocate_tensors()
    sums = [np.zeros(layer.channels) for layer in layers]
    inside = [np.zeros(layer.channels) for layer in layers]
    values_per_channel = [0] * len(layers)
    for batch in batches:
        real = len(batch)
        if real < BATCH:
            batch = np.concatenate([batch, np.repeat(batch[-1:], BATCH - real, axis=0)])
        interpreter.set_tensor(source["index"], batch.astype(source["dtype"], copy=False))
        interpreter.invoke()
        for k, (layer, index) in enumerate(zip(layers, outputs)):
            values = interpreter.get_tensor(index)[:real].reshape(-1, layer.channels)
            if values.dtype == np.int8:
                sums[k] += values.sum(axis=0, dtype=np.int64)
                inside[k] += np.count_nonzero((values > INT8_LOW) & (values < INT8_HIGH), axis=0)
            else:
                sums[k] += values.sum(axis=0, dtype=np.float64)
            values_per_channel[k] += values.shape[0]
    return ([total / count for total, count in zip(sums, values_per_channel)],
            [count_inside / count for count_inside, count in zip(inside, values_per_channel)])

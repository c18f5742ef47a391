"""Empirical bias correction of a full-integer TFLite model (Nagel et al. 2019, §4.2).

Int8 rounding shifts the mean of every conv / fully-connected output, and the shifts add up through the network.
For each such layer, in network order, the per-output-channel mean of its int8 output (dequantized) over the
calibration images is compared with the float model's, and the difference is folded into the layer's int32 bias,
so every layer is corrected while seeing the already-corrected layers before it. The graph, the weights and every
other byte of the model stay as they were.

How it stays fast: the float statistics come from one pass of a copy of the float model that returns every
layer's output. The int8 model then runs in stages, one per layer: stage k runs only the ops from layer k-1 (now
corrected) through layer k, on the tensors stage k-1 left in a temporary file, and leaves the tensors the rest of
the network needs for stage k+1. The whole int8 side costs about two passes of the network instead of one per
layer, memory stays one image deep, and every stage runs under XNNPACK, the kernels the model ships with.

Every interpreter runs the graph at the shapes it was written with, one image at a time: mobikit's models are static
batch-1 (what phone GPU delegates and LiteRT.js require), and a static graph may hold constant shapes (a RESHAPE to
[1, classes]) that no batch of 8 fits. Per image, XNNPACK's int8 and float results are the ones a batch gives.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .images import ImageSet
from .tensor_names import keras_layer_name, output_tensors
from .errors import MobikitError
from .inference import make_interpreter, quantize_array
from .input_grid import FLOAT_INPUT, Normalization, renormalize
from .progress import Reporter

CORRECTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
MIN_STABLE_IMAGES = 16
INT32 = np.iinfo(np.int32)
# A channel clipped (ReLU6 or int8 saturation) on part of its values moves its mean by only the unclipped fraction
# of a bias shift: dividing the gap by that fraction is a Newton step on the clipped mean. The floor keeps a
# mostly-clipped channel from being pushed far on the evidence of a few values.
MIN_ACTIVE_FRACTION = 0.2


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


@dataclass
class _Stage:
    """Ops first..last (inclusive) of the graph: reads `inputs`, leaves `carried` for the next stage."""

    first: int
    last: int
    inputs: list[int]
    carried: list[int]


@dataclass(frozen=True)
class LayerShift:
    """How much one layer's bias moved, in output units."""

    name: str
    op: str
    channels: int
    mean_abs_shift: float
    max_abs_shift: float


@dataclass(frozen=True)
class CorrectionReport:
    images: int
    layers: tuple[LayerShift, ...]

    def to_json(self) -> dict:
        return {"images": self.images, "layers": [asdict(layer) for layer in self.layers]}


def correct_biases(calibrated: bytes, plain: bytes, calib: ImageSet, reporter: Reporter, threads: int = 2,
                   normalization: Normalization = FLOAT_INPUT) -> tuple[bytes, CorrectionReport]:
    """The bias-corrected int8 model and the per-layer shifts; both models read the images under
    `normalization` (the one the calibrated model was calibrated with)."""
    from tensorflow.lite.tools import flatbuffer_utils

    int8_model = flatbuffer_utils.read_model_from_bytearray(bytearray(plain))
    if _own_biases(int8_model):
        plain = bytes(flatbuffer_utils.convert_object_to_bytearray(int8_model))
        int8_model = flatbuffer_utils.read_model_from_bytearray(bytearray(plain))
    float_model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    layers = _layers(int8_model, float_model)
    stages = _stages(int8_model.subgraphs[0], layers)
    corrected = bytearray(plain)
    biases = _bias_views(corrected, layers)
    original = [bias.copy() for bias in biases]
    with tempfile.TemporaryDirectory(prefix="mobikit-bias-") as scratch:
        stored = _TensorFile(Path(scratch) / "stage-0")
        float_means, images = _float_means(float_model, layers, calib, stored, reporter, threads,
                                           _input_quantization(int8_model), normalization)
        if images < MIN_STABLE_IMAGES:  # the images read: unreadable files do not count
            reporter.warn(f"bias correction on only {images} calibration images: per-channel means are noisy "
                          f"below {MIN_STABLE_IMAGES}; the correction is applied anyway")
        per_layer = reporter.track(enumerate(zip(layers, stages, biases)), len(layers), "bias correction: layers")
        for k, (layer, stage, bias) in per_layer:
            if k:
                int8_model.buffers[layers[k - 1].bias_buffer].data = biases[k - 1].view(np.uint8).copy()
            following = _TensorFile(Path(scratch) / f"stage-{k + 1}") if k + 1 < len(layers) else None
            mean, inside = _run_stage(_stage_model(int8_model, stage), stage, layer, stored.read(), following,
                                      threads)
            stored.remove()
            stored = following
            gap = float_means[k] - (mean - layer.output_zero_point) * layer.output_scale
            steps = np.round(gap / np.maximum(inside, MIN_ACTIVE_FRACTION) / layer.bias_step)
            bias[:] = np.clip(bias.astype(np.int64) + steps, INT32.min, INT32.max)
    shifts = tuple(_shift(layer, (bias.astype(np.int64) - start) * layer.bias_step)
                   for layer, bias, start in zip(layers, biases, original))
    return bytes(corrected), CorrectionReport(images, shifts)


def _shift(layer: _Layer, shift: np.ndarray) -> LayerShift:
    return LayerShift(layer.name, layer.op, layer.channels, float(np.mean(np.abs(shift))),
                      float(np.max(np.abs(shift))))


def _op_names() -> dict[int, str]:
    from tensorflow.lite.python import schema_py_generated as schema

    return {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


def _corrected_ops(int8_model):
    """(op, op name) of every quantized conv / fully-connected op, in execution order."""
    from tensorflow.lite.python import schema_py_generated as schema

    op_names = _op_names()
    graph = int8_model.subgraphs[0]
    for op in graph.operators:
        code = int8_model.operatorCodes[op.opcodeIndex]
        op_name = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
        if op_name in CORRECTED_OPS and graph.tensors[op.inputs[0]].type == schema.TensorType.INT8:
            yield op, op_name


def _buffer_users(graph) -> dict[int, int]:
    users: dict[int, int] = {}
    for tensor in graph.tensors:
        users[tensor.buffer] = users.get(tensor.buffer, 0) + 1
    return users


def _own_biases(int8_model) -> bool:
    """Give every corrected op an int32 bias buffer of its own. The converter stores identical constant buffers once, so
    layers whose folded biases are equal (all zero in an untrained model) share one; correcting one must not move
    the others. An op the converter left without a bias (its float bias all zero) gets a zero one at the scale
    the kernels expect (input scale × weight scale). Returns whether the model changed."""
    from tensorflow.lite.python import schema_py_generated as schema

    graph = int8_model.subgraphs[0]
    users = _buffer_users(graph)
    changed = False
    for op, _ in _corrected_ops(int8_model):
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            op.inputs = np.asarray([*op.inputs[:2], _zero_bias(int8_model, op)], dtype=np.int32)
            changed = True
            continue
        bias = graph.tensors[op.inputs[2]]
        if users[bias.buffer] > 1:
            copy = schema.BufferT()
            copy.data = np.array(int8_model.buffers[bias.buffer].data, dtype=np.uint8, copy=True)
            users[bias.buffer] -= 1
            int8_model.buffers.append(copy)
            bias.buffer = len(int8_model.buffers) - 1
            users[bias.buffer] = 1
            changed = True
    return changed


def _zero_bias(int8_model, op) -> int:
    """A new all-zero int32 bias tensor (and buffer) for `op`; returns its tensor index."""
    from tensorflow.lite.python import schema_py_generated as schema

    graph = int8_model.subgraphs[0]
    output, weights = graph.tensors[op.outputs[0]], graph.tensors[op.inputs[1]]
    channels = int(output.shape[-1])
    input_scale = float(graph.tensors[op.inputs[0]].quantization.scale[0])
    scales = np.broadcast_to(input_scale * np.asarray(weights.quantization.scale, np.float64), (channels,))
    buffer = schema.BufferT()
    buffer.data = np.zeros(4 * channels, dtype=np.uint8)
    int8_model.buffers.append(buffer)
    quantization = schema.QuantizationParametersT()
    quantization.scale = scales.astype(np.float32)
    quantization.zeroPoint = np.zeros(channels, dtype=np.int64)
    quantization.quantizedDimension = 0
    tensor = schema.TensorT()
    tensor.name = output.name + b"_bias"
    tensor.shape = np.asarray([channels], dtype=np.int32)
    tensor.type = schema.TensorType.INT32
    tensor.buffer = len(int8_model.buffers) - 1
    tensor.quantization = quantization
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _layers(int8_model, float_model) -> list[_Layer]:
    """The quantized conv / fully-connected ops of the int8 model in execution order, matched to float by name."""
    from tensorflow.lite.python import schema_py_generated as schema

    graph = int8_model.subgraphs[0]
    float_index = {tensor.name: i for i, tensor in enumerate(float_model.subgraphs[0].tensors)}
    buffer_users = _buffer_users(graph)
    final = _computing_output(int8_model)
    layers = []
    for op, op_name in _corrected_ops(int8_model):
        output = graph.tensors[op.outputs[0]]
        name = keras_layer_name(output.name.decode())
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            raise MobikitError(f"bias correction: layer {name} ({op_name}) has no bias to correct")
        bias = graph.tensors[op.inputs[2]]
        if bias.type != schema.TensorType.INT32 or buffer_users[bias.buffer] != 1:
            raise MobikitError(f"bias correction: layer {name} ({op_name}) has no int32 bias of its own")
        channels = int(output.shape[-1])
        float_output = float_index.get(output.name)
        if float_output is None and int(op.outputs[0]) in final:  # renamed by the converter: the model's output
            float_output = int(float_model.subgraphs[0].outputs[0])
        if float_output is None or int(float_model.subgraphs[0].tensors[float_output].shape[-1]) != channels:
            raise MobikitError(f"bias correction: layer {name} ({op_name}) has no matching tensor in the float "
                               f"model (int8 tensor {output.name.decode()!r}); the model was not corrected")
        input_scale = float(graph.tensors[op.inputs[0]].quantization.scale[0])
        weight_scale = np.asarray(graph.tensors[op.inputs[1]].quantization.scale, dtype=np.float64)
        bias_step = np.broadcast_to(input_scale * weight_scale, (channels,)).copy()
        layers.append(_Layer(name, op_name, int(op.outputs[0]), float_output, int(bias.buffer),
                             bias_step, float(output.quantization.scale[0]),
                             int(output.quantization.zeroPoint[0])))
    return layers


def _computing_output(int8_model) -> set[int]:
    """The tensors holding the model's output (`tensor_names.output_tensors`) in a flatbuffer model."""
    graph, op_names, codes = int8_model.subgraphs[0], _op_names(), int8_model.operatorCodes
    kinds = [max(codes[op.opcodeIndex].builtinCode, codes[op.opcodeIndex].deprecatedBuiltinCode)
             for op in graph.operators]
    return output_tensors(graph.outputs, [(op_names.get(kind), op.inputs, op.outputs)
                                          for kind, op in zip(kinds, graph.operators)])


def _stages(graph, layers: list[_Layer]) -> list[_Stage]:
    """Stage k runs from layer k-1's op (so its new bias takes effect) through layer k's op."""
    producer = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
    last_use: dict[int, int] = {}
    for i, op in enumerate(graph.operators):
        for t in op.inputs:
            last_use[int(t)] = i
    activations = set(producer) | {int(t) for t in graph.inputs}

    def live_before(op_index: int) -> list[int]:
        """Activations made before op `op_index` (or fed in) that it or a later op still reads."""
        return sorted(t for t in activations if producer.get(t, -1) < op_index <= last_use.get(t, -1))

    ends = [producer[layer.output] for layer in layers]
    starts = [0] + ends[:-1]
    return [_Stage(first, last, live_before(first), live_before(last)) for first, last in zip(starts, ends)]


def _serialized(model, operators, inputs: list[int], outputs: list[int]) -> bytes:
    """The model with its graph replaced by `operators` between `inputs` and `outputs` (the object is restored)."""
    from tensorflow.lite.tools import flatbuffer_utils

    graph = model.subgraphs[0]
    saved = graph.operators, graph.inputs, graph.outputs
    graph.operators = operators
    graph.inputs, graph.outputs = np.asarray(inputs, dtype=np.int32), np.asarray(outputs, dtype=np.int32)
    try:
        return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    finally:
        graph.operators, graph.inputs, graph.outputs = saved


def _stage_model(model, stage: _Stage) -> bytes:
    """One stage's ops as a model of their own; it returns what the next stage needs and the layer's output."""
    operators = model.subgraphs[0].operators[stage.first: stage.last + 1]
    produced = {int(t) for op in operators for t in op.outputs}
    outputs = sorted(produced & (set(stage.carried) | {int(operators[-1].outputs[0])}))
    return _serialized(model, operators, stage.inputs, outputs)


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
    """dtype, scale and zero point of the model's input tensor (int8, uint8 or float32)."""
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


class _TensorFile:
    """Per image, a list of fixed-shape tensors, in a temporary file read back in order: what one stage hands the
    next, kept on disk so memory does not grow with the number of images."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "w+b")
        self.layout: list[tuple[np.dtype, tuple[int, ...]]] = []
        self.entries = 0

    def write(self, arrays: list[np.ndarray]) -> None:
        self.layout = [(array.dtype, array.shape) for array in arrays]
        for array in arrays:
            self.file.write(np.ascontiguousarray(array).tobytes())
        self.entries += 1

    def read(self):
        self.file.flush()
        self.file.seek(0)
        for _ in range(self.entries):
            yield [np.frombuffer(self.file.read(int(np.prod(shape)) * dtype.itemsize), dtype).reshape(shape)
                   for dtype, shape in self.layout]

    def remove(self) -> None:
        self.file.close()
        self.path.unlink()


class _ChannelSums:
    """Running per-channel sums of one int8 layer output, and how many values sit strictly inside the int8 range
    (neither clipped by the fused activation nor saturated)."""

    def __init__(self, channels: int):
        self.total = np.zeros(channels, dtype=np.int64)
        self.inside = np.zeros(channels, dtype=np.int64)
        self.values = 0

    def add(self, output: np.ndarray) -> None:
        values = output.reshape(-1, output.shape[-1])
        self.total += values.sum(axis=0, dtype=np.int32)
        # As uint8 plus 127 (wrapping), int8 -128..127 becomes 255, 0..254: the two ends land on 254 and 255.
        self.inside += ((values.view(np.uint8) + np.uint8(127)) < 254).sum(axis=0, dtype=np.int32)
        self.values += len(values)

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        return self.total / self.values, self.inside / self.values


def _with_channel_means(model, tensors: list[int]) -> tuple[bytes, list[int]]:
    """The float model with a MEAN over the spatial axes appended to each given tensor, returning only the
    [batch, channels] means: the interpreter then hands back a few numbers per layer instead of whole maps."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(flatbuffer_utils.convert_object_to_bytearray(model))
    graph = model.subgraphs[0]
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in model.operatorCodes]
    if schema.BuiltinOperator.MEAN not in codes:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.MEAN
        code.version = 1
        model.operatorCodes.append(code)
        codes.append(schema.BuiltinOperator.MEAN)
    axes_buffer = schema.BufferT()
    axes_buffer.data = np.asarray([1, 2], dtype="<i4").view(np.uint8)
    model.buffers.append(axes_buffer)
    axes = _new_tensor(graph, b"mobikit_spatial_axes", [2], schema.TensorType.INT32, len(model.buffers) - 1)
    outputs = []
    for index in tensors:
        source = graph.tensors[index]
        if len(source.shape) != 4:
            outputs.append(index)
            continue
        mean = _new_tensor(graph, source.name + b"/mobikit_channel_mean",
                           [int(source.shape[0]), int(source.shape[3])], schema.TensorType.FLOAT32, 0)
        op = schema.OperatorT()
        op.opcodeIndex = codes.index(schema.BuiltinOperator.MEAN)
        op.inputs, op.outputs = np.asarray([index, axes], dtype=np.int32), np.asarray([mean], dtype=np.int32)
        op.builtinOptionsType = schema.BuiltinOptions.ReducerOptions
        op.builtinOptions = schema.ReducerOptionsT()
        op.builtinOptions.keepDims = False
        graph.operators.append(op)
        outputs.append(mean)
    graph.outputs = np.asarray(outputs, dtype=np.int32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), outputs


def _new_tensor(graph, name: bytes, shape: list[int], tensor_type: int, buffer: int) -> int:
    from tensorflow.lite.python import schema_py_generated as schema

    tensor = schema.TensorT()
    tensor.name, tensor.shape, tensor.type, tensor.buffer = name, np.asarray(shape, dtype=np.int32), tensor_type, buffer
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _float_means(float_model, layers: list[_Layer], calib: ImageSet, stored: _TensorFile, reporter: Reporter,
                 threads: int, int8_input: tuple[np.dtype, float, int],
                 normalization: Normalization) -> tuple[list[np.ndarray], int]:
    """Every layer's per-channel output mean in the float model, in one pass; on the way, the int8 model's
    quantized inputs go to `stored` for the first stage."""
    model_bytes, outputs = _with_channel_means(float_model, [layer.float_output for layer in layers])
    interpreter = make_interpreter(model_bytes, threads)
    source = interpreter.get_input_details()[0]
    sums = [np.zeros(layer.channels) for layer in layers]
    images = 0
    for _, image in reporter.track(calib.items(), len(calib), "bias correction: float statistics"):
        image = renormalize(image[None], normalization)
        stored.write([quantize_array(image, *int8_input)])
        interpreter.set_tensor(source["index"], image.astype(source["dtype"], copy=False))
        interpreter.invoke()
        for layer_sum, index in zip(sums, outputs):
            layer_sum += interpreter.get_tensor(index).sum(axis=0, dtype=np.float64)
        images += 1
    return [layer_sum / images for layer_sum in sums], images


def _run_stage(model_bytes: bytes, stage: _Stage, layer: _Layer, entries, following: _TensorFile | None,
               threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Run one stage over every stored image: the layer's per-channel mean (raw int8 units) and unclipped
    fraction; the tensors the next stage needs go to `following`."""
    interpreter = make_interpreter(model_bytes, threads)
    sums = _ChannelSums(layer.channels)
    for arrays in entries:
        for index, array in zip(stage.inputs, arrays):
            interpreter.set_tensor(index, array)
        interpreter.invoke()
        sums.add(interpreter.get_tensor(layer.output))
        if following is not None:
            given = dict(zip(stage.inputs, arrays))
            following.write([given[t] if t in given else interpreter.get_tensor(t) for t in stage.carried])
    return sums.means()

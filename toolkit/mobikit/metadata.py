"""Standard TFLite Metadata inside `model.tflite`, so MediaPipe Tasks, the LiteRT support library and Netron find the
labels and the normalization in the model itself, and the same values read back for `mobikit inspect` and tests.

Layout (what the schema's official populator produces): the `ModelMetadata` flatbuffer (file identifier `M001`) is a
new model buffer named by a `TFLITE_METADATA` entry in the model's `metadata`, and the associated files (labels.txt)
are appended to the model as an uncompressed zip archive whose offsets count from the start of the file.

No package that installs beside TensorFlow 2.21 ships the metadata schema's generated Python module (TF and
ai-edge-litert ship only the model schema; tflite-support needs protobuf<4; mediapipe brings a second `cv2`), so the
few tables written here are built and read with the `flatbuffers` runtime, field ids as numbered below. The model
itself is read and re-packed with LiteRT's own generated model schema.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .errors import MobikitError, UsageError

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
# Every schema member written here exists since metadata schema 1.0.0; none of the members the schema's history adds
# later (VOCABULARY files, subgraph process units, tensor groups, tokenizers, audio, ScaNN files,
# AssociatedFile.version, custom metadata) is used, so the populator's rule (the newest version among the members
# present) gives 1.0.0.
MIN_PARSER_VERSION = "1.0.0"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model and labels always give the same bytes

# Field ids from metadata_schema.fbs (schema version 1.5.0, file identifier "M001", as in mediapipe/tasks/metadata/):
# fields are numbered in declaration order, and a union field takes two ids, its type and then its value.


class _ModelMetadata(IntEnum):
    NAME = 0
    DESCRIPTION = 1
    VERSION = 2
    SUBGRAPH_METADATA = 3
    AUTHOR = 4
    LICENSE = 5
    MIN_PARSER_VERSION = 7


class _SubGraphMetadata(IntEnum):
    INPUT_TENSOR_METADATA = 2
    OUTPUT_TENSOR_METADATA = 3


class _TensorMetadata(IntEnum):
    NAME = 0
    DESCRIPTION = 1
    CONTENT = 3
    PROCESS_UNITS = 4
    STATS = 5
    ASSOCIATED_FILES = 6


class _Content(IntEnum):
    PROPERTIES_TYPE = 0
    PROPERTIES = 1


class _ContentProperties(IntEnum):  # union ContentProperties
    FEATURE = 1
    IMAGE = 2


class _ImageProperties(IntEnum):
    COLOR_SPACE = 0


class _ProcessUnit(IntEnum):
    OPTIONS_TYPE = 0
    OPTIONS = 1


NORMALIZATION_OPTIONS = 1  # union ProcessUnitOptions


class _NormalizationOptions(IntEnum):
    MEAN = 0
    STD = 1


class _Stats(IntEnum):
    MAX = 0
    MIN = 1


class _AssociatedFile(IntEnum):
    NAME = 0
    DESCRIPTION = 1
    TYPE = 2


TENSOR_AXIS_LABELS = 2  # enum AssociatedFileType
COLOR_SPACES = {"RGB": 1, "GRAYSCALE": 2}  # enum ColorSpaceType (0 = UNKNOWN)


@dataclass(frozen=True)
class ClassifierMetadata:
    """What the TFLite Metadata of an image classifier says.

    The input is an image whose pixels map to the model's real input as (pixel - mean) / std per channel; the output
    scores one class per label, the labels travelling inside the model as `labels_file`. `input_range` and
    `output_range` are the schema's tensor Stats (min, max of the values the tensor holds), given where the official
    writers give them: uint8 tensors, and float tensors whose range is known.
    """

    name: str
    labels: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    color_space: str = "RGB"
    input_range: tuple[float, float] | None = None
    output_range: tuple[float, float] | None = None
    input_name: str = "image"
    input_description: str = "An RGB photo, centre-cropped to the model's resolution."
    output_name: str = "probability"
    output_description: str = "One score per class, in the order of the labels file."
    labels_file: str = "labels.txt"
    min_parser_version: str = MIN_PARSER_VERSION  # as read back; attaching writes what the written members need

    def labels_text(self) -> bytes:
        """labels.txt as packed into the model: one label per line."""
        return ("\n".join(self.labels) + "\n").encode("utf-8")

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "version": self.version, "author": self.author,
                "license": self.license, "min_parser_version": self.min_parser_version,
                "input": {"name": self.input_name, "color_space": self.color_space,
                          "normalization": {"mean": list(self.mean), "std": list(self.std)},
                          "range": list(self.input_range) if self.input_range else None},
                "output": {"name": self.output_name, "labels_file": self.labels_file,
                           "label_count": len(self.labels),
                           "range": list(self.output_range) if self.output_range else None},
                "labels": list(self.labels)}


@dataclass(frozen=True)
class Consumer:
    """A program that opens mobikit's models, and the input/output tensor types it accepts."""

    name: str
    io_types: tuple[str, ...]


CONSUMERS = (
    Consumer("mobikit app", ("int8", "uint8", "float32")),
    Consumer("LiteRT Interpreter", ("int8", "uint8", "float32")),
    Consumer("MediaPipe Tasks / Task Library", ("uint8", "float32")),  # their image tasks take no int8 tensors
)


def consumers(input_type: str, output_type: str) -> dict[str, bool]:
    """Consumer name → whether it opens a model with these input and output types."""
    return {c.name: input_type in c.io_types and output_type in c.io_types for c in CONSUMERS}


def consumers_sentence(input_type: str, output_type: str) -> str:
    """Who opens the model, and what the others need, in one line."""
    opens = consumers(input_type, output_type)
    io = input_type if input_type == output_type else f"{input_type} input / {output_type} output"
    text = f"{io} model opens in: {', '.join(name for name, ok in opens.items() if ok) or 'none of the known apps'}"
    needs = [f"{c.name} (needs {' or '.join(c.io_types)} input and output)" for c in CONSUMERS if not opens[c.name]]
    return text + (f"; not in: {', '.join(needs)}" if needs else "")


def image_input_range(dtype: str, mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[float, float] | None:
    """The input Stats the official writers give: the pixel range for uint8, its normalized range for float32."""
    if dtype == "uint8":
        return (0.0, 255.0)
    if dtype == "float32" and mean and std:
        return ((0.0 - mean[0]) / std[0], (255.0 - mean[0]) / std[0])
    return None


def scores_range(dtype: str, softmax: bool) -> tuple[float, float] | None:
    """The output Stats the official writers give: the uint8 range, or [0, 1] for float probabilities."""
    if dtype == "uint8":
        return (0.0, 255.0)
    return (0.0, 1.0) if dtype == "float32" and softmax else None


def attach_metadata(model_bytes: bytes, metadata: ClassifierMetadata) -> bytes:
    """A copy of the model carrying `metadata` and its labels file; any earlier metadata and files are replaced."""
    if metadata.color_space not in COLOR_SPACES:
        raise UsageError(f"unknown colour space {metadata.color_space!r}: choose {' or '.join(COLOR_SPACES)}")
    return populate(model_bytes, _metadata_flatbuffer(metadata), {metadata.labels_file: metadata.labels_text()},
                    len(metadata.labels))


def populate(model_bytes: bytes, metadata_flatbuffer: bytes, files: dict[str, bytes],
             classes: int | None = None) -> bytes:
    """The model with a ModelMetadata flatbuffer under TFLITE_METADATA and `files` appended as a zip, laid out as the
    schema's populator lays them out; `classes`, when given, must equal the output's last dimension."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(require_tflite(model_bytes)))
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise MobikitError(f"image classifier metadata needs one input and one output; the model has "
                           f"{len(graph.inputs)} and {len(graph.outputs)}")
    outputs = int(graph.tensors[graph.outputs[0]].shape[-1])
    if classes is not None and classes != outputs:
        raise UsageError(f"{classes} labels for a model with {outputs} classes")
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata_flatbuffer, dtype=np.uint8)
    model.metadata = model.metadata or []
    earlier = next((entry for entry in model.metadata if _text(entry.name) == METADATA_NAME), None)
    if earlier is not None:
        model.buffers[earlier.buffer] = buffer
    else:
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    packed = io.BytesIO()
    packed.write(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, ZIP_TIMESTAMP)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return packed.getvalue()


def read_metadata(model_bytes: bytes) -> ClassifierMetadata | None:
    """The model's TFLite Metadata (None when it has none), labels read from its packed labels file."""
    buffer = metadata_buffer(model_bytes)
    if buffer is None:
        return None
    if buffer[4:8] != METADATA_IDENTIFIER:
        raise MobikitError(f"the {METADATA_NAME} buffer is not a metadata flatbuffer (identifier "
                           f"{bytes(buffer[4:8])!r}, expected {METADATA_IDENTIFIER!r})")
    try:
        return _read_classifier(_Table.root(buffer), associated_files(model_bytes))
    except (IndexError, ValueError, UnicodeDecodeError, struct.error) as exc:
        raise MobikitError(f"the {METADATA_NAME} buffer is damaged ({type(exc).__name__})") from None


def metadata_buffer(model_bytes: bytes) -> bytes | None:
    """The raw ModelMetadata flatbuffer stored under TFLITE_METADATA, or None."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(require_tflite(model_bytes), 0)
    try:
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if _text(entry.Name()) == METADATA_NAME:
                stored = model.Buffers(entry.Buffer())
                if stored.Offset():  # models over 2 GB keep their buffers after the flatbuffer
                    return bytes(model_bytes[stored.Offset():stored.Offset() + stored.Size()])
                return stored.DataAsNumpy().tobytes() if stored.DataLength() else b""
    except (IndexError, struct.error, UnicodeDecodeError, AttributeError) as exc:
        raise MobikitError(f"the model flatbuffer is damaged or truncated ({type(exc).__name__})") from None
    return None


def associated_files(model_bytes: bytes) -> dict[str, bytes]:
    """The files packed after the model (name → content); empty when there is no archive."""
    stream = io.BytesIO(model_bytes)
    if not zipfile.is_zipfile(stream):
        return {}
    try:
        with zipfile.ZipFile(stream) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise MobikitError(f"the files packed after the model cannot be read ({exc}): the file is truncated or "
                           "damaged") from None


def require_tflite(model_bytes: bytes, what: str = "the input") -> bytes:
    """The bytes unchanged when they carry the TFLite file identifier; a UsageError otherwise."""
    if len(model_bytes) < 8 or model_bytes[4:8] != MODEL_IDENTIFIER:
        raise UsageError(f"{what} is not a TFLite model (no {MODEL_IDENTIFIER.decode()} flatbuffer identifier)")
    return model_bytes


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else (value or "")


class _Builder:
    """The few flatbuffer writing moves the metadata tables need, on one `flatbuffers.Builder`."""

    def __init__(self):
        import flatbuffers

        self.builder = flatbuffers.Builder(1024)

    def string(self, value: str) -> int | None:
        return self.builder.CreateString(value) if value else None

    def floats(self, values) -> int:
        return self.builder.CreateNumpyVector(np.asarray(values, dtype=np.float32))

    def offsets(self, items: list[int]) -> int:
        self.builder.StartVector(4, len(items), 4)
        for item in reversed(items):
            self.builder.PrependUOffsetTRelative(item)
        return self.builder.EndVector()

    def table(self, fields: dict[int, int | None], scalars: dict[int, int] | None = None) -> int:
        """A table of offset fields (id → offset) and uint8/int8 scalar fields (id → value)."""
        self.builder.StartObject(max([*fields, *(scalars or {}), 0]) + 1)
        for field, value in fields.items():
            if value is not None:
                self.builder.PrependUOffsetTRelativeSlot(field, value, 0)
        for field, value in (scalars or {}).items():
            self.builder.PrependUint8Slot(field, value, 0)
        return self.builder.EndObject()

    def stats(self, value_range) -> int | None:
        if value_range is None:
            return None
        low, high = self.floats([value_range[0]]), self.floats([value_range[1]])
        return self.table({_Stats.MAX: high, _Stats.MIN: low})

    def tensor(self, name: str, description: str, content: int, units: list[int], value_range,
               files: list[int]) -> int:
        return self.table({_TensorMetadata.NAME: self.string(name),
                           _TensorMetadata.DESCRIPTION: self.string(description),
                           _TensorMetadata.CONTENT: content, _TensorMetadata.STATS: self.stats(value_range),
                           _TensorMetadata.PROCESS_UNITS: self.offsets(units) if units else None,
                           _TensorMetadata.ASSOCIATED_FILES: self.offsets(files) if files else None})


def _metadata_flatbuffer(metadata: ClassifierMetadata) -> bytes:
    """The ModelMetadata flatbuffer: one subgraph, an RGB image input with normalization, a labelled output."""
    b = _Builder()
    image = b.table({}, {_ImageProperties.COLOR_SPACE: COLOR_SPACES[metadata.color_space]})
    image_content = b.table({_Content.PROPERTIES: image}, {_Content.PROPERTIES_TYPE: _ContentProperties.IMAGE})
    normalization = b.table({_NormalizationOptions.MEAN: b.floats(metadata.mean),
                             _NormalizationOptions.STD: b.floats(metadata.std)})
    unit = b.table({_ProcessUnit.OPTIONS: normalization}, {_ProcessUnit.OPTIONS_TYPE: NORMALIZATION_OPTIONS})
    image_input = b.tensor(metadata.input_name, metadata.input_description, image_content, [unit],
                           metadata.input_range, [])
    labels = b.table({_AssociatedFile.NAME: b.string(metadata.labels_file),
                      _AssociatedFile.DESCRIPTION: b.string("Class names, one per line, in output order.")},
                     {_AssociatedFile.TYPE: TENSOR_AXIS_LABELS})
    feature_content = b.table({_Content.PROPERTIES: b.table({})},
                              {_Content.PROPERTIES_TYPE: _ContentProperties.FEATURE})
    scores = b.tensor(metadata.output_name, metadata.output_description, feature_content, [], metadata.output_range,
                      [labels])
    subgraph = b.table({_SubGraphMetadata.INPUT_TENSOR_METADATA: b.offsets([image_input]),
                        _SubGraphMetadata.OUTPUT_TENSOR_METADATA: b.offsets([scores])})
    root = b.table({_ModelMetadata.NAME: b.string(metadata.name),
                    _ModelMetadata.DESCRIPTION: b.string(metadata.description),
                    _ModelMetadata.VERSION: b.string(metadata.version),
                    _ModelMetadata.SUBGRAPH_METADATA: b.offsets([subgraph]),
                    _ModelMetadata.AUTHOR: b.string(metadata.author),
                    _ModelMetadata.LICENSE: b.string(metadata.license),
                    _ModelMetadata.MIN_PARSER_VERSION: b.string(MIN_PARSER_VERSION)})
    b.builder.Finish(root, file_identifier=METADATA_IDENTIFIER)
    return bytes(b.builder.Output())


class _Table:
    """Read access to one flatbuffer table by field id (vtable slot = 4 + 2 × id)."""

    def __init__(self, buffer: bytes, position: int):
        from flatbuffers.table import Table

        self._table = Table(bytearray(buffer) if not isinstance(buffer, bytearray) else buffer, position)

    @classmethod
    def root(cls, buffer: bytes) -> "_Table":
        from flatbuffers import encode, number_types

        data = bytearray(buffer)
        return cls(data, encode.Get(number_types.UOffsetTFlags.packer_type, data, 0))

    def _slot(self, field: int) -> int:
        return self._table.Offset(4 + 2 * field)

    def text(self, field: int) -> str:
        slot = self._slot(field)
        return self._table.String(slot + self._table.Pos).decode("utf-8") if slot else ""

    def byte(self, field: int) -> int:
        from flatbuffers import number_types

        slot = self._slot(field)
        return self._table.Get(number_types.Uint8Flags, slot + self._table.Pos) if slot else 0

    def table(self, field: int) -> "_Table | None":
        slot = self._slot(field)
        return _Table(self._table.Bytes, self._table.Indirect(slot + self._table.Pos)) if slot else None

    def tables(self, field: int) -> list["_Table"]:
        slot = self._slot(field)
        if not slot:
            return []
        start = self._table.Vector(slot)
        return [_Table(self._table.Bytes, self._table.Indirect(start + 4 * i))
                for i in range(self._table.VectorLen(slot))]

    def floats(self, field: int) -> tuple[float, ...]:
        from flatbuffers import number_types

        slot = self._slot(field)
        if not slot:
            return ()
        return tuple(float(v) for v in self._table.GetVectorAsNumpy(number_types.Float32Flags, slot))


def _read_classifier(root: _Table, files: dict[str, bytes]) -> ClassifierMetadata:
    """The classifier view of a ModelMetadata: first subgraph, first input and output; absent parts stay empty."""
    subgraphs = root.tables(_ModelMetadata.SUBGRAPH_METADATA)
    inputs = subgraphs[0].tables(_SubGraphMetadata.INPUT_TENSOR_METADATA) if subgraphs else []
    outputs = subgraphs[0].tables(_SubGraphMetadata.OUTPUT_TENSOR_METADATA) if subgraphs else []
    image, scores = (inputs or [None])[0], (outputs or [None])[0]
    mean, std, color_space = (), (), ""
    if image is not None:
        for unit in image.tables(_TensorMetadata.PROCESS_UNITS):
            options = unit.table(_ProcessUnit.OPTIONS)
            if unit.byte(_ProcessUnit.OPTIONS_TYPE) == NORMALIZATION_OPTIONS and options is not None:
                mean, std = options.floats(_NormalizationOptions.MEAN), options.floats(_NormalizationOptions.STD)
        content = image.table(_TensorMetadata.CONTENT)
        properties = content.table(_Content.PROPERTIES) if content is not None else None
        if content is not None and properties is not None \
                and content.byte(_Content.PROPERTIES_TYPE) == _ContentProperties.IMAGE:
            code = properties.byte(_ImageProperties.COLOR_SPACE)
            color_space = next((name for name, value in COLOR_SPACES.items() if value == code), "UNKNOWN")
    labels_file, labels = "", ()
    label_files = [f for f in (scores.tables(_TensorMetadata.ASSOCIATED_FILES) if scores is not None else [])
                   if f.byte(_AssociatedFile.TYPE) == TENSOR_AXIS_LABELS]
    if label_files:
        labels_file = label_files[0].text(_AssociatedFile.NAME)
        if labels_file not in files:
            raise MobikitError(f"the metadata names {labels_file} as the labels, but the model does not carry that "
                               "file (truncated, or packed without it)")
        labels = tuple(line.strip() for line in files[labels_file].decode("utf-8").splitlines() if line.strip())
    return ClassifierMetadata(
        name=root.text(_ModelMetadata.NAME), labels=labels, mean=mean, std=std,
        description=root.text(_ModelMetadata.DESCRIPTION), version=root.text(_ModelMetadata.VERSION),
        author=root.text(_ModelMetadata.AUTHOR), license=root.text(_ModelMetadata.LICENSE), color_space=color_space,
        input_range=_range(image), output_range=_range(scores),
        input_name=image.text(_TensorMetadata.NAME) if image is not None else "",
        input_description=image.text(_TensorMetadata.DESCRIPTION) if image is not None else "",
        output_name=scores.text(_TensorMetadata.NAME) if scores is not None else "",
        output_description=scores.text(_TensorMetadata.DESCRIPTION) if scores is not None else "",
        labels_file=labels_file, min_parser_version=root.text(_ModelMetadata.MIN_PARSER_VERSION))


def _range(tensor: _Table | None) -> tuple[float, float] | None:
    stats = tensor.table(_TensorMetadata.STATS) if tensor is not None else None
    if stats is None:
        return None
    low, high = stats.floats(_Stats.MIN), stats.floats(_Stats.MAX)
    return (low[0], high[0]) if low and high else None

"""The converter's modes table and each conversion step on a tiny Keras model (8×8×3 → 3 classes, about a second per
conversion): what every mode and every I/O type writes, and how a failed conversion is reported. benchmarks/
mutation.py runs this file against each mutant of mobikit.convert."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mobikit.convert import IO_TYPES, MODES, Mode, calibrate, convert, mode_of, requantize, run_converter
from mobikit.errors import MobikitError, UsageError
from mobikit.images import ImageSet
from mobikit.progress import Reporter

from support import noise_images


def test_modes_table():
    assert {name: (m.optimize, m.float16, m.calibrated, m.default_io, m.io_types, m.corrects_bias)
            for name, m in MODES.items()} == {
        "int8": (True, False, True, "int8", ("int8", "uint8", "float32"), True),
        "fp16": (True, True, False, "float32", ("float32",), False),
        "dynamic": (True, False, False, "float32", ("float32",), False),
        "fp32": (False, False, False, "float32", ("float32",), False)}
    assert IO_TYPES == ("int8", "uint8", "float32")
    assert all(isinstance(m, Mode) and m.help for m in MODES.values())
    assert mode_of("fp16") is MODES["fp16"]


def test_unknown_mode_is_a_usage_error():
    with pytest.raises(UsageError) as info:
        mode_of("int4")
    assert str(info.value) == "unknown mode 'int4': choose one of int8, fp16, dynamic, fp32"


@pytest.fixture(scope="module")
def tiny_keras():
    from mobikit.runtime import tensorflow

    keras = tensorflow().keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), batch_size=1)
    x = keras.layers.Conv2D(48, 3, padding="same", activation="relu", name="conv")(inputs)  # > 1024 weights: dynamic quantizes it
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(3, name="dense")(x)))


def _tensors(blob: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    io = [(d["dtype"], d["quantization"]) for d in interpreter.get_input_details() + interpreter.get_output_details()]
    return io, {np.dtype(d["dtype"]).name for d in interpreter.get_tensor_details()}


def test_float_modes(tiny_keras):
    expected = {"fp32": {"float32"}, "fp16": {"float32", "float16"}, "dynamic": {"float32", "int8"}}
    for mode, dtypes in expected.items():
        io, kinds = _tensors(convert(tiny_keras, mode))
        assert io == [(np.float32, (0.0, 0))] * 2, mode
        assert kinds - {"int32"} == dtypes, mode  # (int32: shape constants) fp16 stores float16 weights; dynamic int8 weights; fp32 neither


def test_a_calibrated_mode_needs_calibration(tiny_keras):
    with pytest.raises(UsageError) as info:
        convert(tiny_keras, "int8")
    assert str(info.value) == "mode int8 needs calibration images: use calibrate() and requantize()"


@pytest.fixture(scope="module")
def calibrated(tiny_keras, tmp_path_factory):
    folder = noise_images(tmp_path_factory.mktemp("calib"), [f"{i}.png" for i in range(6)], size=16)
    reporter = Reporter()
    return calibrate(tiny_keras, ImageSet(sorted(folder.iterdir()), 8, folder), reporter)


@pytest.mark.parametrize("io,dtype", [("int8", np.int8), ("uint8", np.uint8), ("float32", np.float32)])
def test_requantize_writes_full_integer_with_the_io_type(calibrated, io, dtype):
    (input_type, input_q), (output_type, output_q) = _tensors(requantize(calibrated, io))[0]
    assert input_type == output_type == dtype
    if io == "float32":
        assert input_q == output_q == (0.0, 0)
    else:  # softmax output: scale 1/256 from the type's lowest value
        assert output_q == (1 / 256, -128 if io == "int8" else 0)
        assert input_q[0] > 0
    kinds = _tensors(requantize(calibrated, io))[1]
    assert "int8" in kinds and "float16" not in kinds


def test_requantize_leaves_denylisted_ops_in_float(calibrated):
    from ai_edge_litert.interpreter import Interpreter

    def float_ops(blob):
        interpreter = Interpreter(model_content=blob)
        return sorted(op["op_name"] for op in interpreter._get_ops_details()
                      if op["op_name"] in ("DEQUANTIZE", "QUANTIZE"))

    whole = requantize(calibrated, "int8")
    interpreter = Interpreter(model_content=whole)
    names = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    dense = next(names[op["outputs"][0]] for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED")
    assert float_ops(whole) == []
    assert float_ops(requantize(calibrated, "int8", denylist=[dense])) == ["DEQUANTIZE", "QUANTIZE"]
    assert len(requantize(calibrated, "int8", numeric_verify=True)) > len(whole)  # the debugger's float twins
    assert b"NumericVerify" in requantize(calibrated, "int8", numeric_verify=True)
    assert b"NumericVerify" not in whole


def test_requantize_refuses_an_unknown_io(calibrated):
    with pytest.raises(UsageError) as info:
        requantize(calibrated, "int16")
    assert str(info.value) == "unknown io 'int16': choose one of int8, uint8, float32"


def test_a_failed_conversion_is_one_line_and_its_log_is_kept(tmp_path):
    def failing():
        os.write(2, b"converter chatter\n")  # as TensorFlow logs: on the file descriptor
        raise RuntimeError("no kernel for FOO\nsecond line")

    log = tmp_path / "convert.log"
    log.write_text("an earlier log")
    with pytest.raises(MobikitError) as info:
        run_converter(failing, "the test conversion", log)
    written = tmp_path / "convert.2.log"
    assert str(info.value) == (f"the TFLite converter failed on the test conversion: no kernel for FOO "
                               f"(full log: {written})")
    assert "converter chatter" in written.read_text() and "second line" in written.read_text()
    assert log.read_text() == "an earlier log"
    with pytest.raises(MobikitError) as info:
        run_converter(failing, "x", None)
    assert str(info.value) == "the TFLite converter failed on x: no kernel for FOO"
    (tmp_path / "a_file").write_text("x")
    unwritable = tmp_path / "a_file" / "convert.log"  # a file where its folder should be
    with pytest.raises(MobikitError) as info:
        run_converter(failing, "x", unwritable)
    assert str(info.value) == "the TFLite converter failed on x: no kernel for FOO"  # no log claimed


def test_a_mobikit_error_passes_through_and_bytes_come_back(tmp_path):
    def refused():
        raise UsageError("already one line")

    with pytest.raises(UsageError, match="^already one line$"):
        run_converter(refused, "x", tmp_path / "log")
    assert not (tmp_path / "log").exists()
    assert run_converter(lambda: bytearray(b"ab"), "x", None) == b"ab"
    assert type(run_converter(lambda: bytearray(b"ab"), "x", None)) is bytes

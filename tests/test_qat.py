"""`mobikit quantize --qat`: distillation under simulated int8, then the same converter, for real (V1 α0.25@128
with its ImageNet weights, 16 calibration and 24 evaluation images of imagenet-dev, a few steps)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from support import assert_clean_failure, embedded_images, run_cli


@pytest.fixture(scope="module")
def qat_run(imagenet_split, tmp_path_factory):
    calib, evaluation = imagenet_split
    output = tmp_path_factory.mktemp("qat") / "q"
    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "128", "--calib", str(calib), "--eval",
                     str(evaluation), "--qat", "--qat-epochs", "2", "--strict-int8", "--output", str(output))
    assert result.returncode == 0, result.stderr
    return output, result


def test_qat_writes_a_verified_full_integer_model(qat_run):
    from mobikit.inference import make_interpreter

    output, result = qat_run
    description = json.loads((output / "model.json").read_text())
    report = json.loads((output / "report.json").read_text())
    assert description["full_integer"] and not description["fallback_layers"]
    assert (description["input"]["dtype"], description["input"]["scale"], description["input"]["zero_point"]) == \
        ("int8", 1 / 128, 0)
    interpreter = make_interpreter(output / "model.tflite", 1)
    for tensor in interpreter.get_tensor_details():  # every activation int8, every bias int32: no float op left
        assert tensor["dtype"] in (np.int8, np.int32), tensor["name"]
    qat = report["qat"]
    assert qat["steps"] == 2 * 1 and qat["images"] == 16  # 16 images in one batch of 16, two epochs
    assert report["eval"]["n"] == 24 and "qat" in report["timings_s"]
    assert "quantization-aware fine-tuned" in result.stdout and "Quantization-aware fine-tuning" in \
        (output / "report.md").read_text()


def test_the_simulation_matches_the_converted_model(qat_run):
    """Simulated int8 logits vs the converted model's on the 24 evaluation images: within one int8 step on
    average (kernel rounding is all that differs); measured on the benchmark: 0.29 steps, same top-1 on 97%."""
    output, _ = qat_run
    error = json.loads((output / "report.json").read_text())["qat"]["simulation"]
    assert error["images"] == 24
    assert error["mean_abs_steps"] < 1.0
    assert error["max_abs"] < 10 * error["logit_step"]
    assert "QAT simulation vs converted model" in qat_run[1].stdout


def test_analyze_on_a_qat_folder_analyzes_the_written_model(qat_run, imagenet_split, tmp_path):
    """The fine-tuned weights exist only in model.tflite: analyze reads them back, and the model it calibrates
    quantizes to the written weights and biases; the float model's own calibration (what analyze used to measure)
    does not."""
    import shutil

    from mobikit.convert import calibrate, requantize
    from mobikit.images import calibration_and_holdout
    from mobikit.input_grid import GRID, on_the_grid
    from mobikit.models import build_model
    from mobikit.progress import Reporter
    from mobikit.qat import written_calibration, written_parameters

    folder = tmp_path / "q"
    shutil.copytree(qat_run[0], folder)  # analyze updates a folder in place; the fixture's stays as written
    assert json.loads((folder / "model.json").read_text())["qat"] is True
    result = run_cli("analyze", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["analyzed"].startswith("the written model's weights (quantization-aware fine-tuned")
    assert json.loads((folder / "report.json").read_text())["analysis"]

    written = (folder / "model.tflite").read_bytes()
    source = on_the_grid(build_model("v1", 0.25, 128))[0]
    calib = calibration_and_holdout(imagenet_split[0], 16, 128)[0]
    analyzed = requantize(written_calibration(source, written, calib, Reporter(), None), "int8")
    before = requantize(calibrate(source, calib, Reporter(), None, GRID), "int8")
    expected = written_parameters(written)
    assert len(expected) == 28  # V1: 27 convolutions and the classifier
    for name, measured in (("analyzed", written_parameters(analyzed)), ("before", written_parameters(before))):
        off = [layer for layer, (kernel, bias) in expected.items()
               if not (np.allclose(measured[layer][0], kernel, atol=1e-3 * np.abs(kernel).max())
                       and np.allclose(measured[layer][1], bias, atol=1e-3 * np.abs(bias).max()))]
        assert (off == []) if name == "analyzed" else len(off) > 0, (name, off)


@pytest.mark.parametrize("args, message", [
    (["--qat", "--mode", "fp16"], "--qat fine-tunes for a full-integer model"),
    (["--qat", "--qat-epochs", "0"], "--qat-epochs must be between 1 and 10000"),
    (["--qat", "--qat-epochs", "99999999999999999999"], "--qat-epochs must be between 1 and 10000"),
    (["--qat-epochs", "3"], "--qat-epochs sets how long --qat fine-tunes: pass --qat too"),
])
def test_qat_usage_errors(tmp_path, args, message):
    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "96", "--weights", "none", "--calib",
                     str(embedded_images()), "--output", str(tmp_path / "o"), *args)
    assert_clean_failure(result, 2)
    assert message in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--qat"], "--qat fine-tunes the int8 model --quantize writes: add --quantize"),
    (["--quantize", "--qat-epochs", "2"], "--qat-epochs sets how long --qat fine-tunes: pass --qat too"),
    (["--quantize", "--qat", "--qat-epochs", "10001"], "--qat-epochs must be between 1 and 10000"),
])
def test_train_qat_usage_errors(tmp_path, args, message):
    result = run_cli("train", str(tmp_path), *args, "--output", str(tmp_path / "o"))
    assert_clean_failure(result, 2)
    assert message in result.stderr


_SEQUENTIAL = """
import sys, keras, numpy as np
keras.utils.set_random_seed(0)
batch_norm = sys.argv[2] == "bn"
layers = [keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, strides=2, use_bias=not batch_norm)]
layers += [keras.layers.BatchNormalization()] if batch_norm else []
layers += [keras.layers.ReLU(6.0), keras.layers.GlobalAveragePooling2D(),
           keras.layers.Dense(4, activation=None if sys.argv[2] == "logits" else "softmax")]
model = keras.Sequential(layers)
model.layers[-1].bias.assign(np.zeros(4))  # an all-zero bias: the converter drops it from the int8 op
model.save(sys.argv[1])
"""


@pytest.mark.parametrize("kind, io", [("bn", "int8"), ("bias", "int8"), ("logits", "float32")])
def test_qat_on_a_users_sequential_model(tmp_path, imagenet_split, kind, io):
    """A user's Sequential model (Conv2D with a bias, or without one and a BatchNormalization after it; softmax or
    logits out): the input grid is folded into its first convolution (no warning), --qat simulates it, the dense
    layer whose zero bias the converter dropped is bias-corrected all the same (also when the converter renamed it as
    the model's output), and analyze reads the written weights back."""
    import subprocess
    import sys

    path = tmp_path / "user.keras"
    subprocess.run([sys.executable, "-c", _SEQUENTIAL, str(path), kind], check=True, capture_output=True)
    output = tmp_path / "q"
    result = run_cli("quantize", "--model", str(path), "--calib", str(imagenet_split[0]), "--calib-samples", "8",
                     "--eval", str(imagenet_split[1]), "--eval-samples", "8", "--qat", "--qat-epochs", "1",
                     "--io", io, "--output", str(output), "--json")
    assert result.returncode == 0, result.stderr
    assert "does not start with a Conv2D" not in result.stderr
    report = json.loads((output / "report.json").read_text())
    assert report["qat"]["steps"] == 1
    corrected = {shift["name"] for shift in report["bias_correction"]["layers"]}
    assert len(corrected) == 2, corrected  # the convolution and the dense layer (its tensor named by the converter
    # when it is the model's output)
    analyzed = run_cli("analyze", str(output), "--json")
    assert analyzed.returncode == 0, analyzed.stderr

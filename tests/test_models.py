"""The builders against keras.applications: names, shapes, params, and outputs with the official weights."""

import re

import numpy as np
import pytest

from mobikit.errors import MobikitError, UsageError
from mobikit.models import build_model
from mobikit.runtime import tensorflow

from support import PHOTOS, assert_clean_failure, run_cli

V1_CASES = [(a, r) for a in (0.25, 0.5, 0.75, 1.0) for r in (96, 200)] + [(0.25, 128)]
V2_CASES = [(a, r) for a in (0.35, 0.5, 1.0, 1.4) for r in (96, 200)] + [(1.0, 224)]
CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def _reference(arch, alpha, resolution, weights=None):
    keras = tensorflow().keras
    factory = keras.applications.MobileNet if arch == "v1" else keras.applications.MobileNetV2
    return factory(alpha=alpha, input_shape=(resolution, resolution, 3), weights=weights)


def _layer_names(model):
    # keras numbers auto-named layers (input, pooling) with a global counter; strip it
    return [re.sub(r"_\d+$", "", layer.name) if layer.name.startswith(("input", "global")) else layer.name
            for layer in model.layers]


@pytest.mark.parametrize("arch,alpha,resolution", [("v1", *c) for c in V1_CASES] + [("v2", *c) for c in V2_CASES])
def test_parity_with_keras_applications(arch, alpha, resolution):
    ours = build_model(arch, alpha, resolution, weights=None)
    theirs = _reference(arch, alpha, resolution)
    assert _layer_names(ours) == _layer_names(theirs)
    assert [(w.path, tuple(w.shape)) for w in ours.weights] == [(w.path, tuple(w.shape)) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    assert ours.name == theirs.name
    for mine, reference in zip(ours.layers[1:], theirs.layers[1:]):
        if not mine.name.startswith("global"):
            assert mine.get_config() == reference.get_config(), mine.name


@pytest.mark.parametrize("arch,alpha,resolution", [("v1", 0.25, 128), ("v2", 1.0, 224)])
def test_imagenet_weights_match_keras_and_see_the_cat(shared, arch, alpha, resolution):
    from mobikit.preprocess import preprocess, to_rgb
    import cv2

    image = preprocess(to_rgb(cv2.imread(str(PHOTOS / "cat.jpg"))), resolution)[None]
    ours = build_model(arch, alpha, resolution, weights="imagenet")(image).numpy()
    theirs = _reference(arch, alpha, resolution, weights="imagenet")(image).numpy()
    assert np.max(np.abs(ours - theirs)) <= 1e-5
    assert int(np.argmax(ours)) in CAT_CLASSES


def test_weights_from_a_file_round_trip(tmp_path):
    model = build_model("v1", 0.25, 96, classes=10, weights=None)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    again = build_model("v1", 0.25, 96, classes=10, weights=path)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_standard_conv_replaces_each_separable_pair():
    model = build_model("v1", 0.25, 96, weights=None, standard_conv=True)
    names = [layer.name for layer in model.layers]
    assert not any(n.startswith(("conv_dw", "conv_pw")) for n in names)
    assert sum(1 for n in names if re.fullmatch(r"conv_\d+", n)) == 13


def test_missing_weights_offline_is_a_clear_error(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(MobikitError) as info:
        build_model("v1", 0.5, 160)
    message = str(info.value)  # the library names its parameter; the CLI says --weights (test below)
    assert "mobilenet_5_0_160_tf.h5" in message and "set weights to none" in message and str(tmp_path) in message
    assert "could not be downloaded (URL fetch failure" in message and "Connection refused" in message


def test_configurations_without_imagenet_weights_list_those_that_exist():
    with pytest.raises(UsageError, match="alpha 0.25: 128, 160, 192, 224"):
        build_model("v1", 0.3, 224)
    with pytest.raises(UsageError, match="standard-conv"):
        build_model("v1", 1.0, 224, standard_conv=True)


def test_packaged_weights_are_found_without_a_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    from mobikit.architectures import Config
    from mobikit.models import resolve_imagenet_weights

    assert resolve_imagenet_weights(Config("v1", 0.25, 224)).name == "mobilenet_2_5_224_tf.h5"


def test_build_cli_saves_a_loadable_model(tmp_path):
    output = tmp_path / "m.keras"
    result = run_cli("build", "--alpha", "0.25", "--resolution", "96", "--classes", "7", "--weights", "none",
                     "--output", str(output), "--json")
    assert result.returncode == 0, result.stderr
    import json

    summary = json.loads(result.stdout)
    assert summary["classes"] == 7 and output.is_file()
    model = tensorflow().keras.models.load_model(output)
    assert model.output_shape == (None, 7) and model.count_params() == summary["params"]


def test_build_runtime_error_offline(tmp_path, offline):
    result = run_cli("build", "--alpha", "0.5", "--resolution", "160", "--output", str(tmp_path / "m.keras"),
                     env={"KERAS_HOME": str(tmp_path), **offline})
    assert_clean_failure(result, 1)
    assert "mobilenet_5_0_160_tf.h5" in result.stderr and "set --weights to none" in result.stderr
    assert "could not be downloaded (URL fetch failure" in result.stderr and "Connection refused" in result.stderr
    assert not (tmp_path / "m.keras").exists()

"""The profiler against the papers' published totals and keras' param counts."""

import json

import pytest

from mobikit.cost import profile

from support import run_cli

PAPER = [  # (arch, alpha, resolution, standard_conv, published mult-adds)
    ("v1", 1.0, 224, False, 569e6), ("v1", 0.75, 224, False, 325e6), ("v1", 0.5, 224, False, 149e6),
    ("v1", 0.25, 224, False, 41e6), ("v1", 1.0, 192, False, 418e6), ("v1", 1.0, 160, False, 290e6),
    ("v1", 1.0, 128, False, 186e6), ("v1", 1.0, 224, True, 4866e6), ("v2", 1.0, 224, False, 300e6),
]


@pytest.mark.parametrize("arch,alpha,resolution,standard,macs", PAPER)
def test_mult_adds_match_the_papers(arch, alpha, resolution, standard, macs):
    assert abs(profile(arch, alpha, resolution, standard_conv=standard).macs - macs) / macs <= 0.015


def test_params_equal_keras_applications():
    assert profile("v1", 1.0, 224).params == 4_253_864
    assert profile("v2", 1.0, 224).params == 3_538_984
    standard = profile("v1", 1.0, 224, standard_conv=True).params
    assert abs(standard - 29.3e6) / 29.3e6 <= 0.015


def test_layers_follow_table_1():
    layers = profile("v1", 1.0, 224).layers
    assert [(l.type, l.stride) for l in layers[:3]] == [("Conv", 2), ("Conv dw", 1), ("Conv", 1)]
    assert layers[0].filter_shape == [3, 3, 3, 32] and layers[0].output_shape == [112, 112, 32]
    assert layers[-1].type == "FC" and layers[-1].filter_shape == [1024, 1000]
    assert layers[-2].output_shape == [7, 7, 1024]


def test_profile_json_is_exactly_the_contract():
    result = run_cli("profile", "--arch", "v2", "--alpha", "0.35", "--resolution", "96", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"arch", "alpha", "resolution", "params", "macs", "layers", "mobikit_version"}
    assert set(data["layers"][0]) == {"name", "type", "stride", "input_shape", "output_shape", "params", "macs"}
    assert data["params"] == sum(l["params"] for l in data["layers"])


def test_profile_table_and_help_stay_light():
    """What makes `--help` instant is what it does not import (timing it would measure the shared machine):
    Python's own import log shows no TensorFlow, Keras, OpenCV or LiteRT."""
    result = run_cli("--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0 and "quantize" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "mobikit" in imported and "typer" in imported  # the log is there
    assert not imported & {"tensorflow", "keras", "cv2", "ai_edge_litert", "matplotlib"}, imported
    table = run_cli("profile", "--alpha", "0.25", "--resolution", "128")
    assert table.returncode == 0 and "conv_dw_13" in table.stdout and "mult-adds" in table.stdout


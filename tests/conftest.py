"""Fixtures shared by the test files (helpers live in `support`): the network block, offline ImageNet weights from the
shared data, small image folders, and one real int8 output folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from network import closed_port, guard_sockets, offline_environment
from support import (IMAGENET_DEV, KERAS_HOME, SHARED, SHARED_MISSING, SHARED_PRESENT, embedded_images, link_images,
                     noise_images, run_cli)

# offline ImageNet weights from the shared folder; without it an empty cache of the run's own (never a folder
# outside the checkout), so only the weights the package ships are found
os.environ["KERAS_HOME"] = str(KERAS_HOME) if SHARED_PRESENT else tempfile.mkdtemp(prefix="mobikit-keras-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# No test reaches another machine (tests/network.py): every child process inherits proxy variables naming a port that
# refuses connections, and this process's own sockets refuse any address but loopback. The holder socket keeps the
# port closed, and so taken, for the whole session.
_CLOSED_PORT_HOLDER, CLOSED_PORT = closed_port()
os.environ.update(offline_environment(CLOSED_PORT))
guard_sockets()


@pytest.fixture(scope="session")
def shared():
    if not SHARED_PRESENT:
        pytest.skip(SHARED_MISSING)
    return SHARED


@pytest.fixture(scope="session")
def imagenet_split(shared, tmp_path_factory):
    """A small calibration folder (16) and a labelled evaluation folder (24) from imagenet-dev."""
    images = sorted(IMAGENET_DEV.glob("*.JPEG"))
    root = tmp_path_factory.mktemp("imagenet")
    return link_images(root / "calib", images[:16]), link_images(root / "eval", images[200:224])


def _tiny_quantize(output, mode: str = "int8", io: str | None = None):
    from mobikit.quantization import QuantizeRequest, quantize

    return quantize(QuantizeRequest(alpha=0.25, resolution=96, weights=None, calib=embedded_images(), calib_samples=8,
                                    mode=mode, io=io, output=output, bias_correction=False))


@pytest.fixture(scope="session")
def tiny_output(tmp_path_factory):
    """A real int8 quantize output folder of an untrained V1 α0.25@96 (fast to convert), calibrated on the
    package's own photos: no shared data needed."""
    output = tmp_path_factory.mktemp("tiny") / "tiny_int8"
    _tiny_quantize(output)
    return output


@pytest.fixture(scope="session")
def tiny_variant(tiny_output, tmp_path_factory):
    """`tiny_variant(mode, io)`: the same tiny model quantized in another mode or with another --io, each made once
    per session (about 9 s each) and shared by every test that needs it; ("int8", "int8") is `tiny_output`."""
    made = {("int8", "int8"): tiny_output}

    def variant(mode: str = "int8", io: str | None = None):
        key = (mode, io or ("int8" if mode == "int8" else "float32"))
        if key not in made:
            output = tmp_path_factory.mktemp("tiny") / f"tiny_{mode}_{key[1]}"
            _tiny_quantize(output, mode, io)
            made[key] = output
        return made[key]

    return variant


@pytest.fixture
def offline(monkeypatch):
    """The offline condition made explicitly, for the tests whose subject is a failed download: a fresh closed port
    in the proxy variables of this process and of every child it starts. Returns the variables for `run_cli(env=)`."""
    holder, port = closed_port()
    variables = offline_environment(port)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    yield variables
    holder.close()


@pytest.fixture(scope="session")
def tiny_kinds(request, tmp_path_factory):
    """Tiny real TFLite classifiers of every I/O kind (tests/tiny_models.py), cached in pytest's cache folder so a
    mutation run makes them once, not once per mutant."""
    from tiny_models import tiny_models

    cache = getattr(request.config, "cache", None)
    return tiny_models(cache.mkdir("mobikit") if cache is not None else tmp_path_factory.mktemp("tiny-tflite"))


@pytest.fixture(scope="session")
def flat_model(tmp_path_factory):
    """An ImageNet V1 α0.25@128 whose classifier weights are scaled by 1e-4: its softmax is so flat that every
    probability rounds to the same int8 step, so the int8 model's top-1 is class 0 on every image while float's
    top-1 follows the image. No float fallback can fix that (the softmax output stays int8), so a 100% agreement
    target is missed on every CPU whatever its int8 kernels — an ImageNet model could meet a 24-image target on one
    CPU and not on another."""
    from importlib import resources

    import numpy as np

    from mobikit.models import build_model

    shipped = Path(str(resources.files("mobikit") / "data" / "mobilenet_2_5_224_tf.h5"))  # fit any resolution
    model = build_model("v1", 0.25, 128, weights=shipped)
    preds = model.get_layer("conv_preds")
    kernel, bias = preds.get_weights()
    preds.set_weights([kernel * 1e-4, np.zeros_like(bias)])
    path = tmp_path_factory.mktemp("model") / "flat.keras"
    model.save(path)
    return path


FALLBACK_SYNSETS = ("n01443537", "n01484850", "n01491361")  # any ImageNet classes: the file-name prefix labels them


@pytest.fixture(scope="session")
def fallback_search(flat_model, tmp_path_factory):
    """The session's one float-fallback search (the slowest quantize path: every candidate is converted and
    measured), shared by test_analyze and test_metadata: the flat model with float32 I/O, 24 generated labelled eval
    images, a target no candidate can meet, a budget of 2 layers. Returns (output folder, finished process)."""
    evaluation = noise_images(tmp_path_factory.mktemp("eval"),
                              [f"{FALLBACK_SYNSETS[i % 3]}_{i}.png" for i in range(24)])
    output = tmp_path_factory.mktemp("fallback") / "f"
    result = run_cli("quantize", "--model", str(flat_model), "--calib", str(embedded_images()), "--eval",
                     str(evaluation), "--io", "float32", "--max-drop", "0", "--min-agreement", "100",
                     "--max-fallback-layers", "2", "--max-latency-ratio", "10", "--output", str(output))
    assert result.returncode == 0, result.stderr
    return output, result


def pytest_terminal_summary(terminalreporter):
    """The seed the generated fault tests drew (a new one per run), so a failure can be repeated."""
    import sys

    harness = sys.modules.get("fault_harness")
    if harness is not None and os.environ.get(harness.SEED_VARIABLE):
        seed = os.environ[harness.SEED_VARIABLE]
        terminalreporter.write_line(f"fault harness seed: {seed} ({harness.SEED_VARIABLE}={seed} repeats this run's "
                                    "cases and examples)")

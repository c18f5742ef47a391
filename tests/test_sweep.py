"""`mobikit sweep` on a real 1×2 grid (untrained, fast): outputs, resuming, skipped cells and bad input."""

import csv
import json

import pytest

from mobikit.progress import Reporter
from mobikit.architectures import Config
from mobikit.sweeping import SweepRequest, load_cell, sweep

from support import assert_clean_failure, assert_static_batch_one, embedded_images, run_cli

PHOTOS = embedded_images()

GRID = ("--arch", "v1", "--alpha", "0.25", "--resolution", "96,112", "--weights", "none", "--calib", str(PHOTOS),
        "--calib-samples", "4", "--eval-samples", "4", "--no-bias-correction")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    output = tmp_path_factory.mktemp("sweep") / "out"
    request = SweepRequest(output, "v1", [0.25], [96, 112], None, PHOTOS, calib_samples=4, eval_samples=4,
                           bias_correction=False)
    return request, sweep(request, Reporter())


@pytest.mark.predictions
def test_every_cell_runs_and_the_outputs_are_written(swept):
    request, result = swept
    assert [c.status for c in result.cells] == ["done", "done"]
    assert result.metric == "agreement"  # the photos carry no labels
    for cell in result.cells:
        assert cell.mult_adds > 0 and cell.int8_latency_ms > 0 and cell.float_latency_ms > 0
        # measured 1.0 (4 of 4) on both cells; 2 images of margin for another CPU's int8 kernels on an untrained
        # model's near ties (CI reruns this on the reference kernels: marked predictions)
        assert 0.5 <= cell.agreement <= 1.0 and cell.eval_n == 4 and cell.int8_top1 is None
        assert cell.int8_size_bytes < cell.float_size_bytes
        assert_static_batch_one(request.output / "cells" / cell.name / "model" / "model.tflite", cell.resolution)
    rows = list(csv.DictReader((request.output / "sweep.csv").open()))
    assert [(r["alpha"], r["resolution"], r["weights"]) for r in rows] == [("0.25", "96", "none (untrained)"),
                                                                           ("0.25", "112", "none (untrained)")]
    markdown = (request.output / "sweep.md").read_text()
    assert "Untrained" in markdown and "top-1 needs labelled --eval images" in markdown
    for key in ("macs", "latency"):
        png = result.files[key]
        assert png.endswith(".png") and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_rerun_reuses_finished_cells(swept):
    request, result = swept
    stored = request.output / "cells" / result.cells[0].name / "cell.json"
    before = stored.stat().st_mtime_ns
    rerun = run_cli("sweep", *GRID, "--output", str(request.output), "--json")
    assert rerun.returncode == 0, rerun.stderr
    data = json.loads(rerun.stdout)
    assert [c["reused"] for c in data["cells"]] == [True, True]
    assert [c["int8_latency_ms"] for c in data["cells"]] == [c.int8_latency_ms for c in result.cells]
    assert stored.stat().st_mtime_ns == before and "reused" in rerun.stderr


def test_a_cell_made_from_other_inputs_is_not_reused(swept):
    request, result = swept
    folder = request.output / "cells" / result.cells[0].name
    config = Config("v1", 0.25, 96)
    assert load_cell(folder, request.inputs(), config) is not None
    assert load_cell(folder, {**request.inputs(), "calib_samples": 5}, config) is None


def test_cells_without_imagenet_weights_are_skipped_with_their_reason(tmp_path, offline):
    empty_cache = tmp_path / "keras"
    empty_cache.mkdir()
    output = tmp_path / "out"
    env = {"KERAS_HOME": str(empty_cache), **offline}  # the download fails here, with or without a network
    result = run_cli("sweep", "--alpha", "0.5", "--resolution", "96,160", "--calib", str(PHOTOS), "--output",
                     str(output), "--json", env=env)
    assert result.returncode == 0, result.stderr
    cells = json.loads(result.stdout)["cells"]
    assert [c["status"] for c in cells] == ["skipped", "skipped"]
    assert "publishes no ImageNet weights for v1 α0.5 at 96" in cells[0]["reason"]
    assert "mobilenet_5_0_160_tf.h5" in cells[1]["reason"] and "could not be downloaded" in cells[1]["reason"]
    markdown = (output / "sweep.md").read_text()
    assert "## Not run" in markdown and "α0.5@160 skipped" in markdown
    assert not list(output.glob("*.png"))
    rerun = run_cli("sweep", "--alpha", "0.5", "--resolution", "160", "--calib", str(PHOTOS), "--output",
                    str(output), "--json", env=env)
    assert json.loads(rerun.stdout)["cells"][0]["reused"]  # the failed download is not retried
    (empty_cache / "models").mkdir(exist_ok=True)
    (empty_cache / "models" / "mobilenet_5_0_160_tf.h5").write_bytes(b"not weights")
    retried = run_cli("sweep", "--alpha", "0.5", "--resolution", "160", "--calib", str(PHOTOS), "--output",
                      str(output), "--json", env=env)
    # the file in the cache is used now: a corrupt one fails the cell, and the sweep ends with exit 1 and one line
    assert retried.returncode == 1 and "Traceback" not in retried.stderr
    assert json.loads(retried.stdout)["cells"][0]["status"] == "failed"
    last = retried.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 1 cells failed") and "cannot load weights" in last


@pytest.mark.parametrize("args", [("--alpha", "abc"), ("--resolution", "0"), ("--calib", "/nonexistent")])
def test_bad_input_is_a_usage_error(tmp_path, args):
    assert_clean_failure(run_cli("sweep", *args, "--weights", "none", "--output", str(tmp_path / "o")), 2)

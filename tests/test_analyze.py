"""`mobikit analyze` and quantize's float fallback with the real converter, debugger and interpreter
(V1 α0.25@128 with the ImageNet weights the package ships, the package's photos for calibration, 24 generated
labelled eval images: no shared data needed)."""

import csv
import hashlib
import json
import pytest

from support import assert_clean_failure, embedded_images, noise_images, run_cli

SYNSETS = ("n01443537", "n01484850", "n01491361")  # any ImageNet classes: the file-name prefix labels the images

pytestmark = pytest.mark.predictions


@pytest.fixture(scope="module")
def fallback_run(fallback_search):
    """The session's one fallback search (tests/conftest.py): forced to try layers and to miss its target, it stops
    at the layer budget and warns."""
    return fallback_search


@pytest.fixture(scope="module")
def analyzed(fallback_run, flat_model):
    """`mobikit analyze` on the output folder: it recalibrates on the folder's own calibration images."""
    output, _ = fallback_run
    before = (output / "model.tflite").read_bytes()
    result = run_cli("analyze", str(output), "--model", str(flat_model), "--json")
    assert result.returncode == 0, result.stderr
    assert (output / "model.tflite").read_bytes() == before
    return output, json.loads(result.stdout)


def test_analyze_writes_csv_and_chart_with_keras_layer_names(analyzed):
    output, data = analyzed
    with open(output / "analysis.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["order", "layer", "op", "rmse_scale", "mean_error", "max_abs_error", "scale",
                             "zero_point", "tensor"]
    layers = [row["layer"] for row in rows]
    assert layers[0] == "conv1" and "conv_pw_13" in layers and "conv_dw_1" in layers
    assert all(";" not in name and "/" not in name for name in layers)
    assert layers.index("conv_pw_1") < layers.index("conv_pw_13")  # network order
    assert all(float(row["rmse_scale"]) >= 0 and float(row["scale"]) > 0 for row in rows)
    assert (output / "analysis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    calibrated = json.loads((output / "model.json").read_text())["calibration"]["samples"]
    assert data["calib_samples"] == calibrated and len(data["layers"]) == len(rows) and data["worst"]
    assert data["seconds"] > 0  # its speed is a target measured by benchmarks/fallback.py, not a timed test


def test_fallback_changes_the_model_and_reports_every_step(fallback_run):
    output, result = fallback_run
    report = json.loads((output / "report.json").read_text())
    description = json.loads((output / "model.json").read_text())
    steps = report["fallback"]["steps"]
    assert [len(step["layers"]) for step in steps] == [0, 1, 2]
    ranking = [entry["layer"] for entry in report["fallback"]["ranking"]]
    assert steps[2]["layers"] == ranking[:2]  # worst first, ranked on calibration data
    assert all(step["latency_ms"] > 0 for step in steps)
    # the flat softmax answers class 0 on every image whatever stays in float (flat_model), and no eval image is
    # labelled class 0: top-1 is exactly 0 at every step, and the agreement with float the same at every step
    assert [step["top1"] for step in steps] == [0.0, 0.0, 0.0]
    assert len({step["agreement"] for step in steps}) == 1
    assert len({step["size_bytes"] for step in steps}) == 3  # every candidate is a different model
    assert description["fallback_layers"] == report["fallback_layers"] == report["fallback"]["layers"]
    assert description["full_integer"] is (not description["fallback_layers"])
    blob = (output / "model.tflite").read_bytes()
    assert description["sha256"] == hashlib.sha256(blob).hexdigest()
    chosen = next(step for step in steps if step["layers"] == description["fallback_layers"])
    assert chosen["size_bytes"] == len(blob)
    markdown = (output / "report.md").read_text()
    assert "## Float fallback search" in markdown and "fallback.png" in markdown
    assert (output / "fallback.png").is_file()
    assert "float fallback search" in result.stdout


def test_target_out_of_reach_warns_with_the_numbers_and_exits_0(fallback_run):
    output, result = fallback_run
    report = json.loads((output / "report.json").read_text())
    assert report["fallback"]["met"] is False
    assert "--max-fallback-layers 2 reached" in report["fallback"]["stopped"]
    warning = next(w for w in report["warnings"] if "could not reach" in w)
    assert "top-1" in warning and "float" in warning and "latency" in warning
    assert "could not reach" in result.stderr


def test_analyze_an_output_folder_adds_the_analysis_to_its_report(analyzed):
    output, data = analyzed
    assert data["output_dir"] == str(output)
    report = json.loads((output / "report.json").read_text())
    assert report["analysis"]["plot"] == "analysis.png" and report["analysis"]["worst"]
    markdown = (output / "report.md").read_text()
    assert "Per-layer quantization error" in markdown and "## Float fallback search" in markdown
    bench = run_cli("bench", str(output), "--runs", "3", "--min-seconds", "0")
    assert bench.returncode == 0, bench.stderr
    assert ("full-integer model" if report["full_integer"] else "not full-integer: layers in float") in bench.stdout


@pytest.mark.parametrize("args,message", [
    (("--max-drop", "0.5"), "evaluation images"),
    (("--strict-int8", "--max-drop", "0.5"), "--strict-int8"),
    (("--mode", "fp16", "--analyze"), "int8"),
])
def test_usage_errors(tmp_path, args, message):
    result = run_cli("quantize", "--alpha", "0.25", "--resolution", "96", "--weights", "none", "--calib",
                     str(embedded_images()),
                     "--output", str(tmp_path / "x"), *args)
    assert_clean_failure(result, 2)
    assert message in result.stderr


def test_analyze_usage_errors(fallback_run, tmp_path):
    description = json.loads((fallback_run[0] / "model.json").read_text())
    folder = tmp_path / "from_keras"
    folder.mkdir()
    for name in ("model.tflite", "labels.txt"):
        (folder / name).write_bytes((fallback_run[0] / name).read_bytes())
    # quantized from a saved model that is no longer where model.json says (when it is, analyze rebuilds from it)
    (folder / "model.json").write_text(json.dumps({**description, "arch": None, "alpha": None,
                                                   "weights": str(tmp_path / "moved.keras")}))
    result = run_cli("analyze", str(folder))
    assert_clean_failure(result, 2)
    assert "--model" in result.stderr


@pytest.fixture(scope="module")
def split_run(flat_model, tmp_path_factory):
    """60 labelled evaluation images: the search chooses on a seeded third and the run reports on the rest."""
    evaluation = noise_images(tmp_path_factory.mktemp("eval60"), [f"{SYNSETS[i % 3]}_{i}.png" for i in range(60)])
    output = tmp_path_factory.mktemp("split") / "s"
    result = run_cli("quantize", "--model", str(flat_model), "--calib", str(embedded_images()), "--eval",
                     str(evaluation), "--max-drop", "0", "--min-agreement", "100", "--max-fallback-layers", "1",
                     "--max-latency-ratio", "10", "--output", str(output))
    assert result.returncode == 0, result.stderr
    return output, result


def test_the_search_chooses_on_selection_images_and_reports_on_the_others(split_run):
    output, result = split_run
    report = json.loads((output / "report.json").read_text())
    fallback = report["fallback"]
    assert (fallback["selection_images"], fallback["report_images"], fallback["in_sample"]) == (20, 40, False)
    assert report["eval"]["n"] == 40  # the verification figures come from the 40 images the choice never saw
    assert "report split (40 of 60; the other 20 chose the fallback)" in report["eval"]["source"]
    markdown = (output / "report.md").read_text()
    assert "chosen on 20 selection images" in markdown and "reported on the other 40" in markdown
    assert "on 20 selection images" in result.stdout
    assert fallback["ranking"]  # the full-integer model missed: the per-layer analysis ran


def test_with_too_few_images_the_figures_are_called_in_sample(fallback_run):
    output, _ = fallback_run
    report = json.loads((output / "report.json").read_text())
    assert report["fallback"]["in_sample"] is True and report["eval"]["n"] == 24
    assert "**In-sample**" in (output / "report.md").read_text()


def test_no_analysis_when_the_full_integer_model_meets_the_target(flat_model, tmp_path):
    """The full-integer model is measured against the target first; the per-layer analysis (as slow as a
    conversion) runs only when it misses."""
    evaluation = noise_images(tmp_path / "eval", [f"{SYNSETS[i % 3]}_{i}.png" for i in range(8)])
    output = tmp_path / "met"
    result = run_cli("quantize", "--model", str(flat_model), "--calib", str(embedded_images()), "--calib-samples",
                     "8", "--eval", str(evaluation), "--max-drop", "100", "--output", str(output))
    assert result.returncode == 0, result.stderr
    fallback = json.loads((output / "report.json").read_text())["fallback"]
    assert fallback["met"] and len(fallback["steps"]) == 1 and fallback["ranking"] == []
    assert "analyzing per-layer error" not in result.stderr

"""The demo Android app (android_app/): its `core` compiled and unit-tested for real, and held against the host.

`core` and its JUnit 4 tests are compiled by kotlinc-jvm (with warnings as errors, in the session's one build of
the app, see android_build.py), JUnit runs them, and a Kotlin entry point prints what `core` computes for fixed
inputs, which must equal mobikit's own contract, statistics and preprocessing. The platform layer is checked
statically here (contract names only, a manifest that matches the contract, well-formed XML, a consistent
catalog) and compiled against API stubs in test_android_platform.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from mobikit.android import contract
from mobikit.preprocess import ORIENTATIONS, apply_orientation, center_crop, crop_geometry, geometry_json
from mobikit.stats import summarize

from android_build import ANDROID, CORE, CORE_TESTS, MANIFEST, SOURCES, app_build, platform_sources

APP = ANDROID / "app"
ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
CORE_PACKAGE = "org.mobikit.demo.core"

# Keys of the model.json that `mobikit quantize` writes: the platform layer must name them through core.
MODEL_JSON_KEYS = ("schema_version", "name", "arch", "alpha", "resolution", "classes", "mode", "model_file",
                   "labels_file", "input", "output", "dtype", "shape", "scale", "zero_point", "softmax",
                   "preprocessing", "color", "resize_shorter_side_to", "crop_fraction", "interpolation", "crop",
                   "mean", "std", "layout", "size_bytes", "sha256")


# ------------------------------------------------------------------------------------------------- build

@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The session's build of the app: core, its tests and, where aapt is installed, the platform layer — one
    compile, so a type error anywhere in the app fails this too, with the compiler's message."""
    build = app_build(tmp_path_factory)
    assert build.compile_result.returncode == 0, build.compile_result.stdout + build.compile_result.stderr
    return build


def _java(build, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([build.toolchain.java, "-cp", build.runtime_classpath, *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def cross_check(compiled) -> dict:
    result = _java(compiled, f"{CORE_PACKAGE}.CrossCheckMainKt")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ------------------------------------------------------------------------------------------- core, compiled

def test_core_junit_tests_pass(compiled):
    test_classes = [f"{CORE_PACKAGE}.{path.stem}" for path in sorted(CORE_TESTS.glob("*.kt"))
                    if "@Test" in path.read_text()]
    assert len(test_classes) >= 5
    result = _java(compiled, "org.junit.runner.JUnitCore", *test_classes)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^OK \(\d+ tests\)", result.stdout, re.MULTILINE), result.stdout


def test_contract_constants_equal_python(cross_check):
    python = {name: list(value) if isinstance(value, tuple) else value
              for name, value in vars(contract).items() if name.isupper()}
    assert cross_check["contract"] == python


def test_latency_statistics_equal_host_summarize(cross_check):
    assert len(cross_check["stats"]) >= 4
    for case in cross_check["stats"]:
        expected = summarize(case["latencies"]).to_json()
        assert case["summary"] == pytest.approx(expected, rel=1e-12, abs=1e-12), case["latencies"]


def test_crop_geometry_equals_host_rule(cross_check):
    cases = cross_check["crops"]
    assert len(cases) > 500
    for case in cases:
        expected = geometry_json(crop_geometry(case["width"], case["height"], case["resolution"]))
        assert case["geometry"] == expected, case


def _pattern_image(width: int, height: int) -> np.ndarray:
    """The test image of the Kotlin `patternChannel`, as an RGB array."""
    y, x, channel = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return (((x * 31 + y * 17 + channel * 89) ^ (x * y)) & 0xFF).astype(np.uint8)


def test_camera_frame_resampling_equals_host_center_crop(cross_check):
    """Rotate upright, resize (INTER_AREA), center-crop: the phone's pixels are the host's (±1 from float rounding)."""
    for case in cross_check["resample"]:
        upright = np.rot90(_pattern_image(case["width"], case["height"]), k=-case["rotation"] // 90)
        expected = center_crop(np.ascontiguousarray(upright), case["resolution"]).astype(int)
        actual = np.array(case["pixels"]).reshape(expected.shape)
        difference = np.abs(actual - expected)
        assert difference.max() <= 1, case["rotation"]
        assert (difference == 0).mean() > 0.999, case["rotation"]


def test_exif_orientation_equals_host_rule(cross_check):
    """Core's `ExifOrientation` is `ORIENTATIONS`, and turns a file's pixels upright exactly as `apply_orientation`."""
    case = cross_check["orientation"]
    assert case["table"] == {str(tag): list(rule) for tag, rule in ORIENTATIONS.items()}
    stored = _pattern_image(case["width"], case["height"])
    frames = {frame["tag"]: frame for frame in case["frames"]}
    assert set(frames) >= set(ORIENTATIONS) and set(frames) - set(ORIENTATIONS), "known and unknown tags"
    uprights = set()
    for tag, frame in frames.items():
        expected = apply_orientation(stored, tag)
        actual = np.array(frame["pixels"], dtype=np.uint8).reshape(frame["upright_height"], frame["upright_width"], 3)
        assert actual.shape == expected.shape and np.array_equal(actual, expected), tag
        uprights.add((actual.shape, actual.tobytes()))
    assert len(uprights) == len(ORIENTATIONS), "the test frame must look different under each orientation"


def test_input_quantization_uses_model_json_numbers(cross_check):
    """The app's encoder equals the host's own 256-entry rule (`input_table`), ties included (the converter's scale
    for p / 127.5 - 1 puts every pixel on one)."""
    from mobikit.input_grid import Normalization, input_table

    assert {case["dtype"] for case in cross_check["quantization"]} == {"int8", "uint8", "float32"}
    for case in cross_check["quantization"]:
        expected = input_table(case["dtype"], case["scale"], case["zero_point"],
                               Normalization(case["mean"], case["std"]))
        assert case["values"] == expected.astype(np.float64).tolist(), case["dtype"]


@pytest.fixture(scope="module")
def written_models(tiny_output, tmp_path_factory):
    """Output folders mobikit really writes: int8 I/O (the session's tiny run) and uint8 I/O."""
    from mobikit.quantization import QuantizeRequest, quantize

    from support import embedded_images

    uint8 = tmp_path_factory.mktemp("uint8") / "tiny_uint8"
    quantize(QuantizeRequest(alpha=0.25, resolution=96, weights=None, calib=embedded_images(), calib_samples=8,
                             io="uint8", output=uint8, bias_correction=False))
    return [tiny_output, uint8]


def test_app_input_encoding_equals_the_host_on_the_models_mobikit_writes(compiled, written_models):
    """Kotlin's InputEncoder, fed each written model.json's numbers, writes the bytes the host's TFLiteClassifier
    writes for that model.tflite; on mobikit's input grid every pixel is its own integer (q = p - 128 / p)."""
    from mobikit.inference import TFLiteClassifier

    descriptions = [json.loads((folder / "model.json").read_text()) for folder in written_models]
    specs = [f"{d['input']['dtype']}:{d['input']['scale']!r}:{d['input']['zero_point']}:"
             f"{d['preprocessing']['mean']!r}:{d['preprocessing']['std']!r}" for d in descriptions]
    result = _java(compiled, f"{CORE_PACKAGE}.CrossCheckMainKt", *specs)
    assert result.returncode == 0, result.stderr
    cases = json.loads(result.stdout)["model_inputs"]
    assert [case["spec"] for case in cases] == specs
    pixels = np.arange(256)
    for folder, description, case in zip(written_models, descriptions, cases):
        host = TFLiteClassifier(folder / "model.tflite", 1).table
        assert case["values"] == host.tolist(), folder.name
        assert host.tolist() == (pixels - 128 if description["input"]["dtype"] == "int8" else pixels).tolist()


def test_output_dequantization_and_top_k(cross_check):
    case = cross_check["top_k"]
    real = (np.array(case["stored"]) - case["zero_point"]) * case["scale"]
    order = sorted(range(len(real)), key=lambda i: (-real[i], i))[:5]
    assert case["top"] == [[i, real[i]] for i in order]


def test_delegate_coverage_equals_the_host_rule(cross_check):
    """core's DelegateCoverage and mobikit.android.coverage read LiteRT's log lines to the same report."""
    from mobikit.android.coverage import delegate_report

    cases = cross_check["coverage"]
    assert len(cases) >= 20 and {case["used"] for case in cases} == {"cpu", "xnnpack", "gpu", "nnapi"}
    for case in cases:
        expected = delegate_report(case["requested"], case["log"])
        assert {key: case[key] for key in expected} == expected, case


def test_benchmark_result_has_the_contract_keys_and_host_statistics(cross_check):
    result = cross_check["result"]
    assert list(result) == list(contract.RESULT_KEYS)
    stats = summarize([2.0, 3.5, 2.5]).to_json()
    assert {key: result[key] for key in stats} == pytest.approx(stats, rel=1e-12)
    assert result["error"] is None and result["delegate"] in contract.DELEGATES


# ------------------------------------------------------------------------------------ platform layer, static

def kotlin_string_literals(source: str) -> list[str]:
    """The text of every string literal in Kotlin source (templates' expressions removed, nested ones included)."""
    literals: list[str] = []
    i, n = 0, len(source)
    while i < n:
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif source[i] == "'":
            end = i + 1
            while end < n and source[end] != "'":
                end += 2 if source[end] == "\\" else 1
            i = end + 1
        elif source[i] == '"':
            raw = source.startswith('"""', i)
            i, text, nested = _read_string(source, i + (3 if raw else 1), raw)
            literals.append(text)
            literals.extend(nested)
        else:
            i += 1
    return literals


def _read_string(source: str, i: int, raw: bool) -> tuple[int, str, list[str]]:
    text, nested = [], []
    closing = '"""' if raw else '"'
    while i < len(source) and not source.startswith(closing, i):
        if source[i] == "\\" and not raw:
            text.append(source[i:i + 2])
            i += 2
        elif source.startswith("${", i):
            depth, start = 1, i + 2
            i = start
            while i < len(source) and depth:
                depth += {"{": 1, "}": -1}.get(source[i], 0)
                i += 1
            nested.extend(kotlin_string_literals(source[start:i - 1]))
        else:
            text.append(source[i])
            i += 1
    return i + len(closing), "".join(text), nested


def _contract_values() -> set[str]:
    values: set[str] = set()
    for name, value in vars(contract).items():
        if name.isupper():
            values.update(value if isinstance(value, tuple) else [value])
    return {value for value in values if isinstance(value, str)}


FORBIDDEN_LITERALS = _contract_values() | set(MODEL_JSON_KEYS) | set(contract.RESULT_KEYS)
PATH_LIKE = re.compile(r"/|\.(json|tflite|txt)$")


def contract_literal_violations(source: str) -> list[str]:
    """Literals that spell an extra, a path, a file name or a JSON key instead of using core's constants."""
    return [text for text in kotlin_string_literals(source)
            if text.strip() in FORBIDDEN_LITERALS or PATH_LIKE.search(text)]


def test_literal_checker_catches_what_it_must():
    snippet = '''
        // getStringExtra("model") in a comment is fine
        val model = intent.getStringExtra("model")
        val dir = File(getExternalFilesDir(null), "models/x")
        val scale = json.getDouble("zero_point")
        val label = "${if (ok) "result_id" else ""} ok"
        val raw = """bench/"""
        val quote = '"'
        val fine = "no model loaded"
    '''
    assert contract_literal_violations(snippet) == ["model", "models/x", "zero_point", "result_id", "bench/"]


def test_platform_layer_uses_only_contract_names_from_core():
    sources = platform_sources()
    assert {path.name for path in sources} >= {"MainActivity.kt", "BenchmarkActivity.kt"}
    violations = {str(path.relative_to(ANDROID)): found for path in sources
                  if (found := contract_literal_violations(path.read_text()))}
    assert not violations, violations


def test_core_imports_nothing_from_android_or_litert():
    for path in sorted(CORE.glob("*.kt")) + sorted(CORE_TESTS.glob("*.kt")):
        text = path.read_text()
        assert re.search(rf"^package {re.escape(CORE_PACKAGE)}$", text, re.MULTILINE), path.name
        assert not re.search(r"^import\s+(android|androidx|org\.tensorflow|org\.json)\.", text, re.MULTILINE), \
            path.name


def test_xml_files_are_well_formed():
    xml_files = sorted(ANDROID.rglob("*.xml"))
    assert MANIFEST in xml_files
    for path in xml_files:
        ElementTree.parse(path)


def _gradle_string(name: str) -> str:
    match = re.search(rf'^\s*{name}\s*=\s*"([^"]+)"', (APP / "build.gradle.kts").read_text(), re.MULTILINE)
    assert match, name
    return match.group(1)


def test_manifest_and_build_match_the_contract():
    assert _gradle_string("namespace") == contract.PACKAGE
    assert _gradle_string("applicationId") == contract.PACKAGE
    manifest = ElementTree.parse(MANIFEST).getroot()
    assert manifest.get("package") in (None, contract.PACKAGE)
    permissions = {element.get(f"{ANDROID_NS}name") for element in manifest.iter("uses-permission")}
    assert "android.permission.CAMERA" in permissions

    def qualified(name: str) -> str:
        return contract.PACKAGE + name if name.startswith(".") else name

    activities = {qualified(element.get(f"{ANDROID_NS}name")): element for element in manifest.iter("activity")}
    assert set(activities) == {contract.MAIN_ACTIVITY, contract.BENCHMARK_ACTIVITY}
    benchmark = activities[contract.BENCHMARK_ACTIVITY]
    assert benchmark.get(f"{ANDROID_NS}exported") == "true"
    # adb's shell holds DUMP and no app can be granted it: only the host can start a benchmark.
    assert benchmark.get(f"{ANDROID_NS}permission") == "android.permission.DUMP"
    for activity in activities.values():  # rotation must not recreate them (model reload, second benchmark)
        assert {"orientation", "screenSize"} <= set(activity.get(f"{ANDROID_NS}configChanges", "").split("|"))
    launcher = activities[contract.MAIN_ACTIVITY].findall("./intent-filter/category")
    assert "android.intent.category.LAUNCHER" in {c.get(f"{ANDROID_NS}name") for c in launcher}
    for activity in activities:
        package, _, name = activity.rpartition(".")
        source = SOURCES / f"{name}.kt"
        assert re.search(rf"^package {re.escape(package)}$", source.read_text(), re.MULTILINE), source
        assert re.search(rf"\bclass {name}\b", source.read_text()), source


def test_version_catalog_pins_released_versions_used_by_the_build():
    catalog = tomllib.loads((ANDROID / "gradle" / "libs.versions.toml").read_text())
    versions = catalog["versions"]
    assert all(re.fullmatch(r"\d+(\.\d+)+", v) for v in versions.values()), versions
    assert versions["litert"].startswith("1."), "GPU/NNAPI delegates with the Interpreter API need LiteRT 1.x"
    references = {ref for build in ANDROID.rglob("*.gradle.kts")
                  for ref in re.findall(r"\blibs\.((?:plugins\.)?[a-z][\w.]*)", build.read_text())}
    aliases = {name.replace("-", ".").replace("_", ".") for name in catalog["libraries"]}
    plugins = {"plugins." + name.replace("-", ".").replace("_", ".") for name in catalog["plugins"]}
    assert references and references <= aliases | plugins, references - aliases - plugins
    for table in ("libraries", "plugins"):
        for entry in catalog[table].values():
            assert entry["version"]["ref"] in versions, entry
    wrapper = (ANDROID / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text()
    assert re.search(r"distributionUrl=https\\://services\.gradle\.org/distributions/gradle-8\.1[34]", wrapper)

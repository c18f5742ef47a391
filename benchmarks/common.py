"""Shared set-up for the benchmark scripts: the imagenet-dev split, Google's reference models, the machine.

Calibration = the first 200 images of ../shared/data/imagenet-dev by sorted name, evaluation = the other 300, as
symlink folders in a temporary directory (the images are never copied into the project).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from mobikit import defaults

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOBIKIT_SHARED", ROOT.parent / "shared")).resolve()
IMAGENET_DEV = SHARED / "data" / "imagenet-dev"
REFERENCE = SHARED / "reference"
RESULTS = ROOT / "benchmarks" / "results"
CALIBRATION_COUNT = defaults.CALIBRATION_SAMPLES

os.environ["KERAS_HOME"] = str(SHARED / "keras")

# Google's QAT models (uint8, 1001 outputs with "background" first), keyed by (arch, alpha, resolution).
REFERENCE_MODELS = {
    ("v1", 0.25, 128): REFERENCE / "mobilenet_v1_0.25_128_quant.tflite",
    ("v1", 0.5, 160): REFERENCE / "mobilenet_v1_0.5_160_quant.tflite",
    ("v2", 1.0, 224): REFERENCE / "mobilenet_v2_1.0_224_quant.tflite",
}


def imagenet_split() -> tuple[Path, Path]:
    """(calibration folder, evaluation folder) of symlinks, made once per process."""
    images = sorted(IMAGENET_DEV.glob("*.JPEG"))
    root = Path(tempfile.mkdtemp(prefix="mobikit-bench-"))
    folders = []
    for name, chosen in (("calib", images[:CALIBRATION_COUNT]), ("eval", images[CALIBRATION_COUNT:])):
        folder = root / name
        folder.mkdir()
        for image in chosen:
            (folder / image.name).symlink_to(image)
        folders.append(folder)
    return folders[0], folders[1]


def reference_classifier(path: Path, threads: int = 2):
    """Google's reference model as a batch → 1000 ImageNet scores function (its background class dropped)."""
    from mobikit.inference import TFLiteClassifier

    classifier = TFLiteClassifier(path, threads)
    return lambda images: classifier(images)[:, 1:]


def machine() -> str:
    """One line describing this machine and the libraries measured; the int8 instruction set matters because XNNPACK
    picks its int8 kernels by it (so int8 accuracy can differ by an image or two between CPUs)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model\t")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    isa = next((name for flag, name in (("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"),
                                        ("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in flags), "no AVX2")
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("tensorflow", "ai-edge-litert"))
    return f"{cpu} (model {model}, {isa}), {os.cpu_count()} cores, Python {sys.version.split()[0]}, {versions}"


def write_result(name: str, text: str) -> Path:
    from mobikit.outputs import write_text

    path = RESULTS / name
    write_text(path, text)
    return path

"""Shared test setup: offline ImageNet weights from ../shared/keras, the shared photos and data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOBIKIT_SHARED", ROOT.parent / "shared")).resolve()
PHOTOS = SHARED / "data" / "photos"
IMAGENET_DEV = SHARED / "data" / "imagenet-dev"

os.environ["KERAS_HOME"] = str(SHARED / "keras")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `mobikit` console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mobikit", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def assert_clean_failure(result: subprocess.CompletedProcess, code: int) -> None:
    """A failure the way the CLI promises it: the exit code, one message, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), result.stderr


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared resources not found at {SHARED}")
    return SHARED


def link_images(folder: Path, sources: list[Path]) -> Path:
    """A folder of symlinks to shared images (the shared data is never copied into the project)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        (folder / source.name).symlink_to(source)
    return folder


@pytest.fixture(scope="session")
def imagenet_split(shared, tmp_path_factory) -> tuple[Path, Path]:
    """A small calibration folder (16) and a labelled evaluation folder (24) from imagenet-dev."""
    images = sorted(IMAGENET_DEV.glob("*.JPEG"))
    root = tmp_path_factory.mktemp("imagenet")
    return link_images(root / "calib", images[:16]), link_images(root / "eval", images[200:224])


@pytest.fixture(scope="session")
def tiny_output(shared, tmp_path_factory) -> Path:
    """A real int8 quantize output folder of an untrained V1 α0.25@96 (fast to convert)."""
    from mobikit.quantize import QuantizeRequest, quantize

    output = tmp_path_factory.mktemp("tiny") / "tiny_int8"
    quantize(QuantizeRequest(alpha=0.25, resolution=96, weights=None, calib=PHOTOS, output=output,
                             bias_correction=False))
    return output

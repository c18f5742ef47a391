"""Image discovery, decoding, sampling and the one preprocessing rule."""

import cv2
import numpy as np
import pytest

from mobikit.images import calibration_and_holdout, find_images, image_set, sample
from mobikit.errors import UsageError
from mobikit.preprocess import center_crop, crop_geometry, preprocess, to_rgb

from support import embedded_images


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def mixed_folder(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path / "a" / "color.JPG", rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    _write(tmp_path / "b" / "deep" / "gray.png", rng.integers(0, 255, (50, 40), dtype=np.uint8))
    _write(tmp_path / "rgba.png", rng.integers(0, 255, (40, 40, 4), dtype=np.uint8))
    _write(tmp_path / "pic.bmp", rng.integers(0, 255, (30, 30, 3), dtype=np.uint8))
    _write(tmp_path / "pic.webp", rng.integers(0, 255, (30, 30, 3), dtype=np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def test_discovery_is_recursive_and_skips_unreadable_files(mixed_folder):
    paths = find_images(mixed_folder)
    assert {p.name for p in paths} == {"color.JPG", "gray.png", "rgba.png", "pic.bmp", "pic.webp", "broken.jpg"}
    images = image_set(mixed_folder, None, 32)
    decoded = list(images.items())
    assert len(decoded) == 5
    assert all(image.shape == (32, 32, 3) and image.dtype == np.float32 for _, image in decoded)
    assert [p.name for p in images.skipped] == ["broken.jpg"]
    assert "skipped 1 of 6" in images.skipped_message()


def test_empty_or_unusable_folders_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        find_images(tmp_path / "missing")
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(UsageError, match="no images"):
        find_images(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(UsageError, match="could be decoded"):
        list(image_set(tmp_path, None, 32).items())


def test_sampling_is_deterministic_and_holdout_is_the_rest(tmp_path):
    paths = [tmp_path / f"{i:03d}.jpg" for i in range(50)]
    assert sample(paths, 10) == sample(paths, 10)
    assert sample(paths, 10) == sorted(sample(paths, 10))
    assert sample(paths, 100) == paths
    for p in paths[:12]:
        _write(p, np.zeros((8, 8, 3), np.uint8))
    calib, holdout = calibration_and_holdout(tmp_path, 5, 8)
    assert len(calib) == 5 and len(holdout) == 7 and not set(calib.paths) & set(holdout.paths)


def test_batches_stream_in_order(mixed_folder):
    images = image_set(mixed_folder, None, 16)
    batches = list(images.batches(2))
    assert [len(paths) for paths, _ in batches] == [2, 2, 1]
    assert [p for paths, _ in batches for p in paths] == [p for p, _ in images.items()]


def test_crop_geometry_is_center_crop_of_the_shorter_side():
    g = crop_geometry(640, 426, 224)
    assert (g.resized_height, g.resized_width) == (256, 385) and (g.left, g.top) == (80, 16)
    g = crop_geometry(480, 718, 128)
    assert (g.resized_width, g.resized_height) == (146, 218) and (g.left, g.top) == (9, 45)
    square = crop_geometry(100, 100, 96)
    assert square.resized_width == square.resized_height == 110 and square.left == square.top == 7


def test_preprocess_range_and_color_order():
    rgb = to_rgb(cv2.imread(str(embedded_images() / "taxis.jpg")))
    x = preprocess(rgb, 128)
    assert x.shape == (128, 128, 3) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    red = np.zeros((20, 20, 3), np.uint8)
    red[..., 2] = 255  # BGR red
    assert tuple(to_rgb(red)[0, 0]) == (255, 0, 0)
    assert center_crop(to_rgb(red), 8).shape == (8, 8, 3)

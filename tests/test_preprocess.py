"""The one preprocessing rule (calibration, evaluation, the demo, the app's mirror) on images checked by hand (fast,
in-process: benchmarks/mutation.py runs this file against each mutant of mobikit.preprocess)."""

from __future__ import annotations

import numpy as np
import pytest

from mobikit.preprocess import (CROP_FRACTION, ORIENTATIONS, CropGeometry, apply_orientation, center_crop,
                                crop_geometry, describe, geometry_json, normalize, preprocess, to_rgb)

IMAGE = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)  # 2 rows, 3 columns, every pixel distinct


@pytest.mark.parametrize("size,resolution,expected", [
    ((640, 480), 224, (341, 256, 58, 16)),  # landscape: the height becomes 224 / 0.875 = 256
    ((480, 640), 224, (256, 341, 16, 58)),  # portrait
    ((100, 100), 96, (110, 110, 7, 7)),  # 96 / 0.875 = 109.71 → 110
    ((16, 17), 7, (8, 9, 0, 1)),  # 17 · 8 / 16 = 8.5 rounds half up (banker's rounding would give 8)
    ((17, 16), 7, (9, 8, 1, 0)),
    ((8, 5), 4, (8, 5, 2, 0)),  # 4 / 0.875 = 4.57 → 5: already the target size
    ((3, 1000), 128, (146, 48667, 9, 24269)),
])
def test_crop_geometry(size, resolution, expected):
    assert crop_geometry(*size, resolution) == CropGeometry(*expected, resolution)


def test_center_crop_takes_the_middle_square():
    rgb = np.arange(5 * 8 * 3, dtype=np.uint8).reshape(5, 8, 3)  # 8 wide, 5 high: resized to itself for R = 4
    crop = center_crop(rgb, 4)
    assert crop.dtype == np.uint8 and crop.shape == (4, 4, 3)
    np.testing.assert_array_equal(crop, rgb[0:4, 2:6])
    tall = np.arange(9 * 8 * 3, dtype=np.uint8).reshape(9, 8, 3)  # 8 wide, 9 high: resized to itself for R = 7
    np.testing.assert_array_equal(center_crop(tall, 7), tall[1:8, 0:7])


def test_center_crop_resizes_by_area_averaging():
    """A 3× downscale: INTER_AREA gives each 3×3 block's mean; bilinear would give its centre pixel."""
    blocks = np.arange(25, dtype=np.int32).reshape(5, 5) * 8 + 20  # block means 20 … 212
    spike = np.full((3, 3), -1, dtype=np.int32)
    spike[1, 1] = 8  # the block's mean is unchanged, its centre is 8 above it
    image = (np.kron(blocks, np.ones((3, 3), dtype=np.int32)) + np.tile(spike, (5, 5))).astype(np.uint8)
    rgb = np.repeat(image[:, :, None], 3, axis=2)  # 15 × 15: resized to 5 × 5 for R = 4, crop at (0, 0)
    np.testing.assert_array_equal(center_crop(rgb, 4)[:, :, 0], blocks[:4, :4])


def test_normalize_maps_pixels_to_minus_one_one():
    values = normalize(np.array([0, 51, 127, 128, 255], dtype=np.uint8))
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, np.float32([-1.0, -0.6, -1 / 255, 1 / 255, 1.0]))


def test_preprocess_is_normalize_of_the_crop():
    rgb = np.arange(5 * 8 * 3, dtype=np.uint8).reshape(5, 8, 3)
    result = preprocess(rgb, 4)
    assert result.dtype == np.float32 and result.shape == (4, 4, 3)
    np.testing.assert_array_equal(result, (rgb[0:4, 2:6].astype(np.float32) - 127.5) / 127.5)


def test_to_rgb_from_every_decoded_layout():
    bgr = np.array([[[1, 2, 3]]], dtype=np.uint8)
    assert to_rgb(bgr).tolist() == [[[3, 2, 1]]]
    assert to_rgb(np.array([[[1, 2, 3, 200]]], dtype=np.uint8)).tolist() == [[[3, 2, 1]]]  # alpha dropped
    assert to_rgb(np.array([[7]], dtype=np.uint8)).tolist() == [[[7, 7, 7]]]  # gray
    assert to_rgb(np.array([[[7]]], dtype=np.uint8)).tolist() == [[[7, 7, 7]]]  # gray with a channel axis
    deep = to_rgb(np.array([[[0, 257, 65535], [25803, 0, 0]]], dtype=np.uint16))  # 16-bit: scaled by 255 / 65535
    assert deep.dtype == np.uint8 and deep.tolist() == [[[255, 1, 0], [0, 0, 100]]]  # 25803 → 100.4 → 100


def test_orientation_table_is_exif():
    assert ORIENTATIONS == {1: (False, 0), 2: (True, 0), 3: (False, 180), 4: (True, 180),
                            5: (True, 270), 6: (False, 90), 7: (True, 90), 8: (False, 270)}


@pytest.mark.parametrize("orientation,upright", [
    (1, IMAGE), (2, np.fliplr(IMAGE)), (3, np.rot90(IMAGE, 2)), (4, np.flipud(IMAGE)),
    (5, IMAGE.transpose(1, 0, 2)), (6, np.rot90(IMAGE, -1)), (7, np.rot90(IMAGE, 2).transpose(1, 0, 2)),
    (8, np.rot90(IMAGE, 1)), (0, IMAGE), (9, IMAGE)])  # 0 and 9 are not EXIF values: left as stored
def test_apply_orientation(orientation, upright):
    result = apply_orientation(IMAGE, orientation)
    np.testing.assert_array_equal(result, upright)
    assert result.flags.c_contiguous


def test_describe_records_the_constants_for_the_app():
    assert CROP_FRACTION == 0.875
    assert describe(224) == {"color": "RGB", "resize_shorter_side_to": 256, "crop_fraction": 0.875,
                             "interpolation": "area", "crop": "center", "mean": 127.5, "std": 127.5, "layout": "NHWC"}
    assert describe(128)["resize_shorter_side_to"] == 146  # 146.29 → 146
    assert geometry_json(CropGeometry(341, 256, 58, 16, 224)) == {"resized_width": 341, "resized_height": 256,
                                                                  "left": 58, "top": 16, "size": 224}

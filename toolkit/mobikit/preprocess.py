"""The one preprocessing rule, used by calibration, evaluation, the host demo and (mirrored) the Android app.

Turn the image upright (EXIF orientation), resize so the shorter side is R / 0.875 (INTER_AREA), center-crop R×R,
scale pixels to [-1, 1]. The geometry is integer arithmetic with round-half-up so the Kotlin mirror computes the same
rectangle (`crop_geometry`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

CROP_FRACTION = 0.875
PIXEL_MEAN = 127.5  # real = (pixel - mean) / std  →  [-1, 1]
PIXEL_STD = 127.5


@dataclass(frozen=True)
class CropGeometry:
    """Resize the whole image to resized_width × resized_height, then take the R×R square at (left, top)."""

    resized_width: int
    resized_height: int
    left: int
    top: int
    size: int


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def crop_geometry(width: int, height: int, resolution: int) -> CropGeometry:
    """Where the center crop lies after resizing the shorter side to resolution / CROP_FRACTION."""
    short_target = max(resolution, _round_half_up(resolution / CROP_FRACTION))
    if width <= height:
        resized_w, resized_h = short_target, max(short_target, _round_half_up(height * short_target / width))
    else:
        resized_w, resized_h = max(short_target, _round_half_up(width * short_target / height)), short_target
    return CropGeometry(resized_w, resized_h, (resized_w - resolution) // 2, (resized_h - resolution) // 2,
                        resolution)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """OpenCV's decoded array (gray, BGR or BGRA, any bit depth) as 8-bit RGB."""
    import cv2

    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1, np.iinfo(image.dtype).max))
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# EXIF orientation tag → (mirror left-right first, then rotate clockwise by degrees): what turns the stored pixels
# into the picture as the camera saw it. Mirrored by the Android app's core (`ExifOrientation`).
ORIENTATIONS = {1: (False, 0), 2: (True, 0), 3: (False, 180), 4: (True, 180),
                5: (True, 270), 6: (False, 90), 7: (True, 90), 8: (False, 270)}


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """The upright image for an EXIF orientation tag (unknown tags leave the image as stored)."""
    mirror, degrees = ORIENTATIONS.get(orientation, (False, 0))
    if mirror:
        image = image[:, ::-1]
    return np.ascontiguousarray(np.rot90(image, k=-(degrees // 90)) if degrees else image)


def center_crop(rgb: np.ndarray, resolution: int) -> np.ndarray:
    """Resize (INTER_AREA) and center-crop an RGB uint8 image to resolution × resolution, still uint8."""
    import cv2

    geometry = crop_geometry(rgb.shape[1], rgb.shape[0], resolution)
    resized = cv2.resize(rgb, (geometry.resized_width, geometry.resized_height), interpolation=cv2.INTER_AREA)
    return resized[geometry.top:geometry.top + resolution, geometry.left:geometry.left + resolution]


def normalize(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels → float32 in [-1, 1]."""
    return (pixels.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD


def preprocess(rgb: np.ndarray, resolution: int) -> np.ndarray:
    """An RGB uint8 image → the float32 R×R×3 model input in [-1, 1]."""
    return normalize(center_crop(rgb, resolution))


def describe(resolution: int, mean: float = PIXEL_MEAN, std: float = PIXEL_STD) -> dict:
    """The preprocessing constants as `model.json` records them for the Android app and the browser page (a
    quantized model's mean and std are those of its input grid, `input_grid.GRID`)."""
    return {"color": "RGB", "resize_shorter_side_to": crop_geometry(resolution, resolution, resolution).resized_width,
            "crop_fraction": CROP_FRACTION, "interpolation": "area", "crop": "center", "mean": mean,
            "std": std, "layout": "NHWC"}


def geometry_json(geometry: CropGeometry) -> dict:
    return asdict(geometry)

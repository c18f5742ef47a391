"""Images from a folder → preprocessed model inputs, streamed: the representative data for the converter.

Discovery is recursive (jpg, jpeg, png, bmp, webp); sampling is deterministic (seeded); decoding runs in a small
thread pool (OpenCV releases the GIL) with bounded read-ahead, so memory does not grow with the number of images.
Files that cannot be decoded are skipped and counted once.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import UsageError
from .preprocess import preprocess, to_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_SAMPLES = 200
SEED = 0
_READ_AHEAD = 8


def embedded_images(part: str) -> Path:
    """The photos shipped inside the package (credits in `mobikit/data/images/CREDITS.md`): "calibration" is the
    default calibration set, "verification" the photos a default run verifies on (never calibrated on)."""
    return Path(str(resources.files("mobikit") / "data" / "images" / part))


def default_calibration_dir() -> Path:
    return embedded_images("calibration")


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Image files below `folder`, sorted by path; a UsageError when the folder is missing or has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"image folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return paths


def sample(paths: list[Path], count: int | None, seed: int = SEED) -> list[Path]:
    """A deterministic sample of `count` paths (all when count is None or larger), kept in sorted order."""
    if count is None or count >= len(paths):
        return list(paths)
    if count < 1:
        raise UsageError(f"the number of samples must be >= 1, got {count}")
    chosen = set(random.Random(seed).sample(range(len(paths)), count))
    return [p for i, p in enumerate(paths) if i in chosen]


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file as RGB uint8, or None when it is not a readable image."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    return None if image is None else to_rgb(image)


@dataclass
class ImageSet:
    """A fixed list of image files, decoded and preprocessed on each pass."""

    paths: list[Path]
    resolution: int
    root: Path | None = None
    skipped: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, path: Path) -> np.ndarray | None:
        rgb = read_image(path)
        return None if rgb is None else preprocess(rgb, self.resolution)

    def items(self) -> Iterator[tuple[Path, np.ndarray]]:
        """(path, float32 R×R×3 input) for every readable image, in order; unreadable ones go to `skipped`."""
        self.skipped = []
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            pending = []
            for path in self.paths:
                pending.append((path, pool.submit(self._load, path)))
                if len(pending) > _READ_AHEAD:
                    yield from self._finish(pending.pop(0))
            for entry in pending:
                yield from self._finish(entry)
        if len(self.skipped) == len(self.paths):
            raise UsageError(f"none of the {len(self.paths)} image files could be decoded "
                             f"(first: {self.paths[0]})")

    def _finish(self, entry) -> Iterator[tuple[Path, np.ndarray]]:
        path, future = entry
        image = future.result()
        if image is None:
            self.skipped.append(path)
        else:
            yield path, image

    def batches(self, size: int = 32) -> Iterator[tuple[list[Path], np.ndarray]]:
        """The same stream, grouped into batches of at most `size` images."""
        paths, images = [], []
        for path, image in self.items():
            paths.append(path)
            images.append(image)
            if len(images) == size:
                yield paths, np.stack(images)
                paths, images = [], []
        if images:
            yield paths, np.stack(images)

    def skipped_message(self) -> str | None:
        if not self.skipped:
            return None
        return (f"skipped {len(self.skipped)} of {len(self.paths)} files that are not readable images "
                f"(first: {self.skipped[0]})")


def calibration_and_holdout(folder: str | os.PathLike, count: int | None, resolution: int,
                            seed: int = SEED) -> tuple[ImageSet, ImageSet]:
    """The calibration sample from `folder` and the images of `folder` not in it."""
    paths = find_images(folder)
    chosen = sample(paths, count, seed)
    chosen_set = set(chosen)
    rest = [p for p in paths if p not in chosen_set]
    return ImageSet(chosen, resolution, Path(folder)), ImageSet(rest, resolution, Path(folder))


def image_set(folder: str | os.PathLike, count: int | None, resolution: int, seed: int = SEED) -> ImageSet:
    return ImageSet(sample(find_images(folder), count, seed), resolution, Path(folder))

"""Image files → preprocessed model inputs, streamed: the calibration, verification and evaluation images.

Discovery is recursive (jpg, jpeg, png, bmp, webp; symbolic links followed, each folder visited once); sampling is
deterministic (seeded); decoding runs in a small thread pool (OpenCV releases the GIL) with bounded read-ahead, so
memory does not grow with the number of images. Files that cannot be decoded are skipped and counted once.
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
from .preprocess import apply_orientation, preprocess, to_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Larger images are skipped as hostile (a 48 KB PNG can declare 20000×20000 pixels: 1.2 GB decoded); 100 MP holds
# every phone and camera photo. Checked from the header before decoding (Pillow), and OpenCV is held to it too.
MAX_PIXELS = 100_000_000
os.environ.setdefault("CV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
SEED = 0
_READ_AHEAD = 8
_EXIF_ORIENTATION = 0x0112


def embedded_images(part: str = "calibration") -> Path:
    """The photos shipped inside the package (credits in `mobikit/data/images/CREDITS.md`): "calibration" is the
    default calibration set, "verification" the photos a default run verifies on (never calibrated on)."""
    return Path(str(resources.files("mobikit") / "data" / "images" / part))


def find_images(folder: str | os.PathLike, param: str = "calib") -> list[Path]:
    """Image files below `folder`, sorted by path; a UsageError when the folder is missing or has none. Linked
    files count; a linked folder is entered only when it stays inside `folder` (`up -> ..` would read the user's
    other folders)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError("{%s} takes a folder of images; {path} is a file" % param, param, path=str(folder))
    if not folder.is_dir():
        raise UsageError("{%s} folder not found: {path}" % param, param, path=str(folder))
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    root = folder.resolve()
    pending = [folder]
    while pending:  # iterative: folders nested thousands deep must not exhaust the stack
        current = pending.pop()
        try:
            info = current.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    if not (entry.is_symlink() and leads_outside(Path(entry.path), root)):
                        pending.append(Path(entry.path))
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                    found.append(Path(entry.path))
            except OSError:
                continue
    if not found:
        raise UsageError("no images ({suffixes}) in {path}", suffixes=", ".join(IMAGE_SUFFIXES), path=str(folder))
    return sorted(found)


def leads_outside(link: Path, root: Path) -> bool:
    """Whether a linked folder leads to the folder `root` itself, one holding it, or anywhere outside it."""
    return root.resolve() not in link.resolve().parents


def sample(paths: list[Path], count: int | None, seed: int = SEED) -> list[Path]:
    """A deterministic sample of `count` paths (all when count is None or larger), kept in sorted order."""
    if count is None or count >= len(paths):
        return list(paths)
    if count < 1:
        raise UsageError("the number of samples must be >= 1, got {count}", count=count)
    chosen = set(random.Random(seed).sample(range(len(paths)), count))
    return [p for i, p in enumerate(paths) if i in chosen]


def _header(data: bytes) -> tuple[int, int] | None:
    """(pixels declared by the header, EXIF orientation 1–8) of an encoded image, read without decoding it;
    None when Pillow cannot read the header (OpenCV may still decode it, under its own pixel limit)."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of large images: the caller decides
            with Image.open(io.BytesIO(data)) as image:
                pixels = image.width * image.height
                try:
                    value = image.getexif().get(_EXIF_ORIENTATION, 1)
                except Exception:  # a malformed EXIF block: the photo is still a photo
                    value = 1
    except Image.DecompressionBombError:  # more than twice Pillow's own limit
        return MAX_PIXELS + 1, 1
    except Exception:  # Pillow raises many kinds (UnidentifiedImageError, DecompressionBombError, struct.error, …)
        return None
    return pixels, value if isinstance(value, int) and 1 <= value <= 8 else 1


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation tag (1–8) of an encoded image; 1 when it has none or it cannot be read."""
    header = _header(data)
    return header[1] if header else 1


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file as upright 8-bit RGB (EXIF orientation applied), or None when it is not a readable
    photo (not an image, or floating-point samples that have no pixel scale)."""
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    header = _header(data.tobytes()) if data.size else None
    if header is not None and header[0] > MAX_PIXELS:
        return None  # a decompression bomb, or an image no phone model needs: skipped like an unreadable file
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:
        return None
    if image is None or not np.issubdtype(image.dtype, np.integer) or image.ndim not in (2, 3):
        return None
    return apply_orientation(to_rgb(image), header[1] if header else 1)


def _decodes(path: Path) -> bool:
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return False
    header = _header(data.tobytes()) if data.size else None
    if header is not None and header[0] > MAX_PIXELS:
        return False  # read_image skips it: so does the probe, before anything slow
    return bool(data.size) and cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None


def probe_images(paths: list[Path], param: str, root: Path | None = None) -> None:
    """Decode every file once, cheaply (JPEGs at 1/8 scale), before any slow work: a folder with no readable
    image is refused up front rather than after the model is built or loaded."""
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        readable = list(pool.map(_decodes, paths))
    if paths and not any(readable):
        raise UsageError("none of the {count} image files in {%s} {folder} could be decoded (first: {first})"
                         % param, param, count=len(paths), folder=str(root or paths[0].parent), first=str(paths[0]))


def skipped_message(skipped: list[Path], total: int) -> str | None:
    """The one line that counts the files a pass left out."""
    if not skipped:
        return None
    return (f"skipped {len(skipped)} of {total} files that are not readable images (or declare over "
            f"{MAX_PIXELS // 1_000_000} MP) (first: {skipped[0]})")


@dataclass
class ImageSet:
    """A fixed list of image files, decoded and preprocessed on each pass."""

    paths: list[Path]
    resolution: int
    root: Path | None = None
    skipped: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def used(self) -> int:
        """Images actually read on the last pass (unreadable files left out)."""
        return len(self.paths) - len(self.skipped)

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
            raise UsageError("none of the {count} image files could be decoded (first: {first})",
                             count=len(self.paths), first=str(self.paths[0]))

    def probe(self, param: str) -> None:
        probe_images(self.paths, param, self.root)

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
        return skipped_message(self.skipped, len(self.paths))

    def fingerprint(self) -> str:
        """sha256 over the resolved paths, sizes and modification times: tells whether a folder still holds the
        images a model was calibrated on."""
        import hashlib

        digest = hashlib.sha256()
        for path in self.paths:
            try:
                info = path.stat()
                digest.update(os.fsencode(path.resolve()) + f"\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(os.fsencode(path) + b"\0missing\n")
        return digest.hexdigest()


def listed_or_found(folder: str | os.PathLike, files=None, param: str = "calib") -> list[Path]:
    """`files` (paths relative to `folder`, e.g. a training split) when given, else every image below `folder`."""
    if files is None:
        return find_images(folder, param)
    if not Path(folder).is_dir():
        raise UsageError("{%s} folder not found: {path}" % param, param, path=str(folder))
    return [Path(folder) / name for name in files]


def calibration_split(folder: str | os.PathLike, count: int | None, seed: int = SEED,
                      files=None) -> tuple[list[Path], list[Path]]:
    """The calibration sample of `folder`'s images (or of `files` in it) and the images not in it (file lists:
    nothing decoded yet)."""
    paths = listed_or_found(folder, files)
    chosen = sample(paths, count, seed)
    chosen_set = set(chosen)
    return chosen, [p for p in paths if p not in chosen_set]


def calibration_and_holdout(folder: str | os.PathLike, count: int | None, resolution: int,
                            seed: int = SEED, files=None) -> tuple[ImageSet, ImageSet]:
    """The calibration sample from `folder` (or from `files` in it) and the images not in it."""
    chosen, rest = calibration_split(folder, count, seed, files)
    return ImageSet(chosen, resolution, Path(folder)), ImageSet(rest, resolution, Path(folder))


def image_set(folder: str | os.PathLike, count: int | None, resolution: int, seed: int = SEED,
              param: str = "eval", files=None) -> ImageSet:
    return ImageSet(sample(listed_or_found(folder, files, param), count, seed), resolution, Path(folder))

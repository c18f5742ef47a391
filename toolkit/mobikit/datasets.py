"""Training images as Model Maker's `from_folder` reads them: one sub-folder per class, the folder name the label.

Discovery checks the folder before anything slow; a stratified, seeded split keeps each class's share in every
part; decoding uses the calibration reader (`read_image`) and the one preprocessing rule (`mobikit.preprocess`),
in a thread pool, and skips and counts files that are not readable images.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .images import IMAGE_SUFFIXES, leads_outside, read_image
from .errors import UsageError, printable
from .labels import ClassList, first_clash
from .preprocess import center_crop, crop_geometry

MIN_IMAGES = 5  # fewer images in a class: an error
FEW_IMAGES = 20  # fewer: a warning


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass
class ClassFolders:
    """A folder of class-named sub-folders: the class names (sorted) and every image file under each."""

    root: Path
    classes: tuple[str, ...]
    samples: list[Sample]
    loose_files: int = 0  # images directly in root, which carry no class
    outside: tuple[str, ...] = ()  # class folders that are links leading out of root (or to it): not classes

    def counts(self) -> list[int]:
        counts = [0] * len(self.classes)
        for sample in self.samples:
            counts[sample.label] += 1
        return counts


def _image_files(folder: Path) -> list[Path]:
    """Image files under a class folder (hidden ones aside); linked files count, linked folders are not entered
    (a link to `..` would loop or pull in other classes)."""
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(root, name) for name in files if not name.startswith(".")
                  and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES and os.path.isfile(os.path.join(root, name))]
    return sorted(found)


def discover(folder: str | os.PathLike, role: str, classes: tuple[str, ...] | None = None) -> ClassFolders:
    """Read a class-folder tree; with `classes` (the training classes) every folder must name one of them."""
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UsageError(f"the {role} folder takes a folder of class folders; {root} is a file")
    if not root.is_dir():
        raise UsageError(f"{role} folder not found: {root}")
    candidates = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    subfolders = [p for p in candidates if not (p.is_symlink() and leads_outside(p, root))]
    outside = tuple(p.name for p in candidates if p not in subfolders)
    if not subfolders:
        raise UsageError(f"{role} folder {root} has no class sub-folders (expected one folder of images per class, "
                         "named after the class)")
    names = tuple(p.name for p in subfolders)
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"class folder '{printable(name)}' in '{printable(str(root))}': a class name must be "
                             "UTF-8 text (it becomes a label in labels.txt and the model's metadata); rename the "
                             "folder") from None
        if name != name.strip() or any(ch in name for ch in "\n\r\t"):
            raise UsageError(f"class folder {name!r} in {root}: a class name cannot start or end with a space or "
                             "hold a tab or line break (labels.txt has one name per line)")
    clash = first_clash(names)
    if clash:
        raise UsageError(f"class folders {clash[0]!r} and {clash[1]!r} in {root} differ only in case, spaces or "
                         "underscores: labels would be ambiguous, merge or rename them")
    if classes is None:
        labels = {name: i for i, name in enumerate(names)}
    else:
        known = ClassList(tuple("" for _ in classes), classes)
        unknown = [n for n in names if known.index_of(n) is None]
        if unknown:
            raise UsageError(f"{role} folder {root} has classes the training set lacks: {', '.join(unknown)}")
        labels = {name: known.index_of(name) for name in names}
    samples = [Sample(path, labels[p.name]) for p in subfolders for path in _image_files(p)]
    loose = sum(1 for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not samples:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders of {root}")
    return ClassFolders(root, names if classes is None else classes, samples, loose, outside)


def check_class_sizes(counts: list[int], classes: tuple[str, ...], where: str) -> list[str]:
    """A UsageError when a class is too small to learn; warnings for small classes (returned)."""
    if len(classes) < 2:
        raise UsageError(f"{where} has {len(classes)} class folder: a classifier needs at least 2 classes")
    empty = [f"{name!r} ({n})" for name, n in zip(classes, counts) if n < MIN_IMAGES]
    if empty:
        raise UsageError(f"{where}: every class needs at least {MIN_IMAGES} readable images; too few in "
                         + ", ".join(empty))
    return [f"class {name!r} has only {n} images in {where} (at least {FEW_IMAGES} recommended)"
            for name, n in zip(classes, counts) if n < FEW_IMAGES]


def stratified_split(samples: list[Sample], fractions: dict[str, float], seed: int) -> dict[str, list[Sample]]:
    """Split each class on its own (seeded shuffle), so every part gets its share of every class.

    `fractions` names the parts carved out (e.g. {"test": 0.2, "val": 0.1}); the rest is "train". Each carved part
    gets at least one image of a class that has images to spare, and "train" keeps at least one.
    """
    rng = random.Random(seed)
    parts: dict[str, list[Sample]] = {name: [] for name in ("train", *fractions)}
    by_label: dict[int, list[Sample]] = {}
    for sample in samples:
        by_label.setdefault(sample.label, []).append(sample)
    for label in sorted(by_label):
        members = list(by_label[label])
        rng.shuffle(members)
        start = 0
        for name, fraction in fractions.items():
            take = min(max(1, round(fraction * len(members))), len(members) - start - 1)
            parts[name] += members[start:start + max(take, 0)]
            start += max(take, 0)
        parts["train"] += members[start:]
    return {name: sorted(part, key=lambda s: (s.label, str(s.path))) for name, part in parts.items()}


@dataclass
class DecodedImages:
    """Images decoded once: the model's exact input crop (uint8) and the larger square augmentation crops from."""

    samples: list[Sample]
    center: np.ndarray  # N×R×R×3 uint8: the preprocessing rule's crop, what the deployed model sees
    square: np.ndarray  # N×S×S×3 uint8: S = R / crop fraction, the square around it
    skipped: list[Path] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples], dtype=np.int64)


def _decode(path: Path, resolution: int):
    """(the model's input crop, the S×S square of the same resized image that holds it), or None."""
    import cv2

    rgb = read_image(path)
    if rgb is None:
        return None
    geometry = crop_geometry(rgb.shape[1], rgb.shape[0], resolution)
    side = min(geometry.resized_width, geometry.resized_height)
    resized = cv2.resize(rgb, (geometry.resized_width, geometry.resized_height), interpolation=cv2.INTER_AREA)
    top, left = (geometry.resized_height - side) // 2, (geometry.resized_width - side) // 2
    return center_crop(rgb, resolution), resized[top:top + side, left:left + side]


def decode(samples: list[Sample], resolution: int, threads: int = 4, track=None) -> DecodedImages:
    """Decode and crop every sample in parallel (OpenCV releases the GIL); unreadable files are skipped.
    `track` wraps the stream of decoded images (e.g. a progress bar: `lambda results: reporter.track(...)`)."""
    with ThreadPoolExecutor(max_workers=max(1, min(threads, os.cpu_count() or 1))) as pool:
        results = pool.map(lambda s: _decode(s.path, resolution), samples)
        decoded = list(track(results) if track else results)
    kept = [(s, d) for s, d in zip(samples, decoded) if d is not None]
    skipped = [s.path for s, d in zip(samples, decoded) if d is None]
    side = crop_geometry(resolution, resolution, resolution).resized_width
    center = np.stack([d[0] for _, d in kept]) if kept else np.zeros((0, resolution, resolution, 3), np.uint8)
    square = np.stack([d[1] for _, d in kept]) if kept else np.zeros((0, side, side, 3), np.uint8)
    return DecodedImages([s for s, _ in kept], center, square, skipped)

"""ImageNet class list and the label rules: synset file-name prefix, or class-named subfolders."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

_SYNSET = re.compile(r"^(n\d{8})[_\-.]")


@dataclass(frozen=True)
class ClassList:
    synsets: tuple[str, ...]
    names: tuple[str, ...]
    _lookup: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        lookup = {_fold(name): i for i, name in enumerate(self.names)}
        lookup.update({synset: i for i, synset in enumerate(self.synsets) if synset})
        object.__setattr__(self, "_lookup", lookup)

    def __len__(self) -> int:
        return len(self.names)

    def index_of(self, label: str) -> int | None:
        """Class index of a synset id or a class name (case-, space- and underscore-insensitive)."""
        return self._lookup.get(label, self._lookup.get(_fold(label)))


def _fold(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


@lru_cache(maxsize=1)
def imagenet() -> ClassList:
    """The 1000 ImageNet classes in keras order, shipped as package data."""
    text = (resources.files("mobikit") / "data" / "imagenet_classes.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return ClassList(tuple(r[1] for r in rows), tuple(r[2] for r in rows))


def generic(count: int) -> ClassList:
    """Class names for a model with a custom class count and no label file."""
    return ClassList(tuple("" for _ in range(count)), tuple(f"class_{i}" for i in range(count)))


def read_labels_file(path: str | Path) -> ClassList:
    """A labels.txt (one name per line) as written into every output folder."""
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return ClassList(tuple("" for _ in names), tuple(names))


def label_of(path: Path, root: Path, classes: ClassList) -> int | None:
    """The class index an image carries: a synset prefix in its file name, else its class-named folder."""
    match = _SYNSET.match(path.name)
    if match:
        return classes.index_of(match.group(1))
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return classes.index_of(relative.parts[0])
    return None

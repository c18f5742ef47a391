"""ImageNet class list and the label rules: synset file-name prefix, or class-named subfolders."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import UsageError

_SYNSET = re.compile(r"^(n\d{8})[_\-.]", re.IGNORECASE)


@dataclass(frozen=True)
class ClassList:
    synsets: tuple[str, ...]
    names: tuple[str, ...]
    _lookup: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        folded = [_fold(name) for name in self.names]
        shared = {name for name, n in Counter(folded).items() if n > 1}  # ImageNet's two "crane"s: neither is meant
        lookup = {name: i for i, name in enumerate(folded) if name not in shared}
        lookup.update({synset: i for i, synset in enumerate(self.synsets) if synset})
        object.__setattr__(self, "_lookup", lookup)

    def __len__(self) -> int:
        return len(self.names)

    def index_of(self, label: str) -> int | None:
        """Class index of a synset id or a class name (case-, space- and underscore-insensitive); None for a name
        that several classes share."""
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


def read_labels_file(path: str | Path, param: str = "labels") -> ClassList:
    """A labels.txt (one name per line, as written into every output folder); a UsageError for a file that is
    missing, a folder, not UTF-8 or empty. A byte-order mark is dropped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first name
    except IsADirectoryError:
        raise UsageError("{%s} {path} is a folder, not a labels file" % param, param, path=str(path)) from None
    except FileNotFoundError:
        raise UsageError("{%s} file not found: {path}" % param, param, path=str(path)) from None
    except UnicodeDecodeError:
        raise UsageError("{%s} file {path} is not UTF-8 text" % param, param, path=str(path)) from None
    except OSError as exc:
        raise UsageError("cannot read {%s} file {path}: {reason}" % param, param, path=str(path),
                         reason=exc.strerror) from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise UsageError("{%s} file {path} names no class" % param, param, path=str(path))
    return ClassList(tuple("" for _ in names), tuple(names))


def first_clash(names) -> tuple[str, str] | None:
    """The first two names that are the same class name (compared ignoring case, spaces and underscores)."""
    seen: dict[str, str] = {}
    for name in names:
        if _fold(name) in seen:
            return seen[_fold(name)], name
        seen[_fold(name)] = name
    return None


def class_list_for(classes: int, labels_file: str | Path | None = None, param: str = "labels") -> ClassList:
    """The label names of a model: a labels file (for 1000 classes its names with ImageNet's synsets, so synset-named
    images stay labelled), else ImageNet for 1000 classes, else class_<i>."""
    if labels_file is not None:
        class_list = read_labels_file(labels_file, param)
        if len(class_list) != classes:
            raise UsageError("{%s} file {path} has {count} labels but the model has {classes} classes" % param,
                             param, path=str(labels_file), count=len(class_list), classes=classes)
        if classes == len(imagenet()):  # ImageNet's synsets keep images labelled (its names repeat: "crane")
            return ClassList(imagenet().synsets, class_list.names)
        clash = first_clash(class_list.names)
        if clash is not None:
            raise UsageError("{%s} file {path} names the class {name!r} twice (names are compared ignoring case, "
                             "spaces and underscores), so class-named folders would be ambiguous" % param, param,
                             path=str(labels_file), name=clash[0])
        return class_list
    return imagenet() if classes == len(imagenet()) else generic(classes)


def label_of(path: Path, root: Path, classes: ClassList) -> int | None:
    """The class index an image carries: a synset prefix in its file name naming one of the classes, else its
    class-named folder (photos copied from ImageNet into a folder of a user's own class keep their synset names)."""
    match = _SYNSET.match(path.name)
    by_name = classes.index_of(match.group(1).lower()) if match else None
    if by_name is not None:
        return by_name
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return classes.index_of(relative.parts[0])
    return None

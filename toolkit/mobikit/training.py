"""The `train` verb: class folders of photos → a MobileNet fine-tuned to those classes, tested on a held-out split.

A short pipeline of numbered steps: check, read and split (`datasets`), build and cache the frozen part's outputs
(`features`), train the head and the last blocks (`fitting`, with the defaults of `recipe`), test, write, and
quantize when asked. The exported model is the plain classifier: the augmentation layers are not part of it, and it
takes the same input as every other mobikit model (`mobikit.preprocess`).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .datasets import ClassFolders, DecodedImages, check_class_sizes, decode, discover, stratified_split
from .errors import UsageError
from .features import (Features, Network, augmenter, backbone_features, block_inputs, build_network, extractor,
                       views_that_fit)
from .fitting import HeldOutScores, fit_blocks, fit_head, held_out_scores, predict
from .images import MAX_PIXELS
from .latency import peak_rss_mb
from .models import check_given_weights
from .outputs import check_target, new_folder, write_bytes, write_text, written_together
from .progress import Reporter
from .qat import check_epochs
from .recipe import RECIPE, Recipe, Settings, settings_for
from .runtime import library_versions

MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 4096
DESCRIPTION_FILE = "train.json"


_ARGUMENT_TYPES = {  # what each TrainRequest field must be (bool is an int to Python, never a count here)
    **{param: ((str, os.PathLike), "a path") for param in ("data", "val", "test", "output")},
    "alpha": ((int, float), "a number"),
    **{param: ((int,), "a whole number") for param in ("resolution", "epochs", "fine_tune", "batch_size", "seed",
                                                    "threads", "qat_epochs")},
    **{param: ((bool,), "True or False") for param in ("quantize", "qat")},
}
_OPTIONAL = ("val", "test", "output", "epochs", "fine_tune", "batch_size", "qat_epochs")


@dataclass
class TrainRequest:
    """Everything `mobikit train` takes; None means "the recipe's default"."""

    data: Path
    arch: str = "v1"
    alpha: float = 1.0
    resolution: int = 224
    weights: str | None = "imagenet"
    val: Path | None = None
    test: Path | None = None
    epochs: int | None = None  # per phase (head, then fine-tuning); early stopping may end a phase sooner
    fine_tune: int | None = None  # last K blocks; 0 trains the head only
    batch_size: int | None = None
    seed: int = 0
    output: Path | None = None
    quantize: bool = False
    qat: bool = False  # with quantize: quantization-aware fine-tuning before the conversion
    qat_epochs: int | None = None  # None: the QAT recipe's
    threads: int = 2
    recipe: Recipe = RECIPE

    def validate(self) -> None:
        from .architectures import Config, validate

        # the Python API's values reach here unparsed: "3", 2.7 or True (1 block?) are refused, not half-used
        for param, (kinds, what) in _ARGUMENT_TYPES.items():
            value = getattr(self, param)
            if value is None and param in _OPTIONAL:
                continue
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise UsageError("{%s} must be %s, got {value}" % (param, what), param, value=repr(value))
        validate(Config(self.arch, float(self.alpha), int(self.resolution)))
        for param, value, limit in (("epochs", self.epochs, MAX_EPOCHS), ("batch_size", self.batch_size,
                                                                          MAX_BATCH_SIZE)):
            if value is not None and not 1 <= value <= limit:
                raise UsageError("{%s} must be between 1 and {limit}, got {value}" % param, param, limit=limit,
                                 value=value)
        if self.fine_tune is not None and self.fine_tune < 0:
            raise UsageError("{fine_tune} is a number of blocks >= 0, got {value}", "fine_tune", value=self.fine_tune)
        if self.seed < 0:
            raise UsageError("{seed} must be >= 0, got {value}", "seed", value=self.seed)
        if self.threads < 1:
            raise UsageError("{threads} must be >= 1", "threads")
        check_given_weights(self.weights)
        if self.qat and not self.quantize:
            raise UsageError("{qat} fine-tunes the int8 model {quantize} writes: add {quantize}", "qat", "quantize")
        check_epochs(self.qat_epochs, self.qat)

    def output_dir(self) -> Path:
        if self.output is not None:
            return Path(self.output)
        return Path("mobikit-out") / f"{Path(self.data).resolve().name}_{self.arch}_{self.alpha:g}_{self.resolution}"


@dataclass
class Splits:
    classes: tuple[str, ...]
    parts: dict[str, DecodedImages]  # "train", "val", "test"
    sources: dict[str, str]  # part → where it came from
    skipped: list[Path] = field(default_factory=list)


@dataclass
class TrainResult:
    output_dir: Path
    model: Path
    labels: Path
    classes: list[str]
    split: dict[str, int]
    skipped: int
    epochs: dict[str, int]
    test: HeldOutScores
    timings_s: dict[str, float]
    peak_rss_mb: float
    quantized: object | None = None  # QuantizeResult when --quantize ran
    report: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The `mobikit train --json` object."""
        return {"output_dir": str(self.output_dir), "model": str(self.model), "labels": str(self.labels),
                "classes": self.classes, "split": self.split, "skipped": self.skipped, "epochs": self.epochs,
                "test": {"n": self.test.n, "accuracy": self.test.accuracy, "per_class": self.test.per_class},
                "timings_s": self.timings_s, "peak_rss_mb": self.peak_rss_mb,
                "quantized": self.quantized.to_json() if self.quantized is not None else None}


class _Clock:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def lap(self, name: str, start: float) -> None:
        self.seconds[name] = round(time.perf_counter() - start, 3)


# 1. Inputs --------------------------------------------------------------------------------------------------------

def int8_output_dir(output: Path) -> Path:
    return output.parent / f"{output.name}_int8"


def step1_check(request: TrainRequest) -> tuple[Path, Settings]:
    """Every check that needs no image decoded and no network built: bad input stops here, before slow steps."""
    request.validate()
    settings = settings_for(request.recipe, request.epochs, request.fine_tune, request.batch_size, request.seed)
    blocks = len(block_inputs(request.arch, request.alpha, request.resolution)[0])
    if settings.fine_tune_blocks > blocks:
        raise UsageError("{fine_tune} {value}: MobileNet {arch} has {blocks} blocks", "fine_tune",
                         value=settings.fine_tune_blocks, arch=request.arch, blocks=blocks)
    if request.weights == "imagenet":
        from .architectures import Config
        from .models import imagenet_file_name

        imagenet_file_name(Config(request.arch, float(request.alpha), int(request.resolution)))
    _refuse_shared_folders(request)
    output = request.output_dir()
    inputs = (request.data, request.val, request.test)
    check_target(output, "train", inputs)
    if request.quantize:
        check_target(int8_output_dir(output), "quantize", inputs)
    return output, settings


def _refuse_shared_folders(request: TrainRequest) -> None:
    """DATA, --val and --test must be three different folders: a photo in two parts would score itself."""
    named = [(name, Path(folder)) for name, folder in (("DATA", request.data), ("--val", request.val),
                                                      ("--test", request.test)) if folder is not None]
    for i, (name, folder) in enumerate(named):
        for other, second in named[i + 1:]:
            if folder.exists() and second.exists() and folder.resolve() == second.resolve():
                raise UsageError(f"{name} and {other} are the same folder ({second}): give {other} a folder of "
                                 f"other photos, or leave it out to split it off {named[0][1]}")


# 2. Data ----------------------------------------------------------------------------------------------------------

def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def step2_data(request: TrainRequest, settings: Settings, reporter: Reporter) -> Splits:
    """Class folders → decoded train/val/test parts; a stratified seeded split for the parts not given."""
    train_folders = discover(request.data, "training")
    classes = train_folders.classes
    given = {part: discover(folder, part, classes) for part, folder in (("val", request.val), ("test", request.test))
             if folder is not None}
    for found in (train_folders, *given.values()):
        if found.outside:
            more = ", …" if len(found.outside) > 3 else ""
            reporter.warn(f"{len(found.outside)} class folders in {found.root} are links leading outside it "
                          f"({', '.join(map(repr, found.outside[:3]))}{more}): not used as classes")
    if train_folders.loose_files:
        reporter.warn(f"{train_folders.loose_files} images directly in {request.data} carry no class (not in a "
                      "class folder) and are ignored")
    folders: dict[str, ClassFolders] = {"data": train_folders, **given}
    samples = [sample for found in folders.values() for sample in found.samples]
    every = decode(samples, request.resolution, request.threads,
                   lambda results: reporter.track(results, len(samples), "reading images"))
    decoded, skipped = {}, every.skipped
    for part, found in folders.items():
        paths = {sample.path for sample in found.samples}
        decoded[part] = _subset(every, [i for i, sample in enumerate(every.samples) if sample.path in paths])
    if skipped:
        reporter.warn(f"skipped {len(skipped)} of {len(samples)} files that are not readable images (or declare "
                      f"over {MAX_PIXELS // 1_000_000} MP) (first: {skipped[0]})")
    data = decoded.pop("data")
    counts = [int(n) for n in np.bincount(data.labels, minlength=len(classes))]
    for warning in check_class_sizes(counts, classes, str(request.data)):
        reporter.warn(warning)
    fractions = {part: getattr(settings.recipe, f"{part}_fraction") for part in ("test", "val")
                 if part not in given and getattr(settings.recipe, f"{part}_fraction") > 0}
    split = stratified_split(data.samples, fractions, settings.seed)
    index = {sample.path: i for i, sample in enumerate(data.samples)}
    parts = {part: _subset(data, [index[s.path] for s in samples]) for part, samples in split.items()}
    parts.update(decoded)
    for part in ("val", "test"):
        if part in parts and not len(parts[part].samples):
            raise UsageError(f"the {part} folder has no readable images")
    sources = {part: (f"{folder} (given)" if part in given else
                      f"{100 * fractions.get(part, 0):g}% of {request.data}, stratified, seed {settings.seed}")
               for part, folder in (("val", request.val), ("test", request.test)) if part in parts}
    sources["train"] = f"the rest of {request.data}" if fractions else f"all of {request.data}"
    return Splits(classes, parts, sources, skipped)


def _subset(images: DecodedImages, rows: list[int]) -> DecodedImages:
    return DecodedImages([images.samples[i] for i in rows], images.center[rows], images.square[rows])


# 3–7. Network, cached features, training, test ----------------------------------------------------------------------

def step3_network(request: TrainRequest, settings: Settings, classes: int, reporter: Reporter) -> Network:
    reporter.info(f"building MobileNet {request.arch} α{request.alpha:g}@{request.resolution} with "
                  f"{request.weights or 'random'} weights and a {classes}-class head")
    return build_network(request.arch, request.alpha, request.resolution, request.weights, classes,
                         settings.recipe.dropout, settings.fine_tune_blocks, settings.seed)


def step4_cache(network: Network, splits: Splits, settings: Settings, request: TrainRequest,
                reporter: Reporter) -> dict[str, Features]:
    """Run the frozen backbone once per view: train images × recipe views, val/test on the center crop only."""
    views = settings.recipe.views
    tuned_views = views_that_fit(network, settings.recipe, len(splits.parts["train"].samples),
                                 settings.fine_tune_blocks)
    if network.cut and tuned_views < views:
        reporter.info(f"fine-tuning on {tuned_views} of {views} views per image (activation cache budget "
                      f"{settings.recipe.cache_budget_mb} MB)")
    reporter.info("converting the frozen backbone to a float LiteRT model for the feature pass")
    run = extractor(network, request.threads)
    augment = augmenter(settings.recipe, request.resolution, settings.seed)
    return {part: backbone_features(run, images, views if part == "train" else 1,
                                    tuned_views if part == "train" else 1, augment, reporter, part)
            for part, images in splits.parts.items()}


def step7_test(network: Network, cache: dict[str, Features], splits: Splits) -> HeldOutScores:
    """The trained classifier on the test split's center crops (exactly the deployed model's input)."""
    test = splits.parts["test"]
    return held_out_scores(predict(network, cache["test"]), test.labels, splits.classes,
                           [str(sample.path) for sample in test.samples])


# 8. Output --------------------------------------------------------------------------------------------------------

def _split_listing(splits: Splits, root: Path) -> dict:
    listing = {}
    for part, images in splits.parts.items():
        base = root if all(root in s.path.parents for s in images.samples) else None
        listing[part] = {"source": splits.sources[part], "count": len(images.samples),
                         "per_class": [int(n) for n in np.bincount(images.labels, minlength=len(splits.classes))],
                         "files": [{"file": _relative(s.path, base) if base else str(s.path),
                                    "class": splits.classes[s.label]} for s in images.samples]}
    return listing


def train_description(request: TrainRequest, settings: Settings, network: Network, splits: Splits,
                      history: list[dict], test: HeldOutScores, timings: dict, views: dict) -> dict:
    """train.json: what was trained on what, how, how it went, and how it scores on the test split."""
    return {
        "schema_version": 1, "kind": "mobikit-train",
        "model": {"arch": request.arch, "alpha": request.alpha, "resolution": request.resolution,
                  "weights": request.weights, "classes": list(splits.classes), "file": "model.keras",
                  "labels_file": "labels.txt", "blocks": network.blocks,
                  "fine_tuned_from": network.cut, "head": ["global_pool", "head_dropout", "predictions"]},
        "data": os.path.abspath(request.data), "split": _split_listing(splits, Path(request.data)),
        "skipped_files": [str(p) for p in splits.skipped],
        "hyper_parameters": {**asdict(settings.recipe), "head_epochs": settings.head_epochs,
                             "fine_tune_epochs": settings.fine_tune_epochs if network.cut else 0,
                             "fine_tune_blocks": settings.fine_tune_blocks, "batch_size": settings.batch_size,
                             "seed": settings.seed, "views_used": views},
        "history": history,
        "kept": next(({"phase": row["phase"], "epoch": row["epoch"]} for row in reversed(history) if row.get("best")),
                     None),
        "test": asdict(test),
        "timings_s": timings, "peak_rss_mb": peak_rss_mb(), "versions": library_versions(),
    }


def write_train_output(output: Path, model, classes: tuple[str, ...], description: dict, inputs=()) -> Path:
    """The one place the output folder is written: complete under its final name, or not at all. Returns where it
    is now (its scratch folder inside `written_together`, until the block ends)."""
    from .plots import confusion_png, curves_png
    from .report import render_train_report

    with new_folder(output, "train", inputs) as folder:
        model.save(folder / "model.keras")
        write_text(folder / "labels.txt", "\n".join(classes) + "\n")
        write_bytes(folder / "curves.png", curves_png(description["history"]))
        write_bytes(folder / "confusion.png", confusion_png(description["test"]["confusion"], classes))
        write_text(folder / "report.md", render_train_report(description))
        write_text(folder / DESCRIPTION_FILE, json.dumps(description, indent=2) + "\n")
    return folder


# 9. Optional int8 -------------------------------------------------------------------------------------------------

def step9_quantize(output: Path, written: Path, splits: Splits, request: TrainRequest, reporter: Reporter):
    """Full-integer int8 of the trained model (read from `written`, where the train folder waits to land with the
    int8 one): calibrated on the training split, verified on the test split. Both are passed as file lists relative
    to their folder, so the int8 folder's model.json names DATA, the training files and the saved model's final
    place (`mobikit analyze OUTPUT_int8` finds them again)."""
    from .quantization import QuantizeRequest, quantize

    reporter.info(f"int8: full-integer (no float fallback), calibrated on the training images, verified on the "
                  f"{len(splits.parts['test'].samples)} test images → {int8_output_dir(output)}")
    data = Path(os.path.abspath(request.data))  # absolute, symlinks kept: the files are listed below it
    train_files = tuple(_relative(Path(os.path.abspath(s.path)), data) for s in splits.parts["train"].samples)
    test_root = Path(os.path.abspath(request.test)) if request.test is not None else data
    test_files = None if request.test is not None else tuple(_relative(Path(os.path.abspath(s.path)), data)
                                                             for s in splits.parts["test"].samples)
    with tempfile.TemporaryDirectory(prefix="train-links-") as scratch:  # inside the run's private TMPDIR
        named = Path(scratch) / f"{output.name}.keras"  # the int8 model is named after the training output
        named.symlink_to((written / "model.keras").resolve())
        with reporter.own_notes():
            return quantize(QuantizeRequest(model=named, labels=written / "labels.txt", calib=data,
                                            calib_files=train_files, eval=test_root, eval_files=test_files,
                                            output=int8_output_dir(output), threads=request.threads,
                                            strict_int8=True, qat=request.qat, qat_epochs=request.qat_epochs,
                                            recorded_model=Path(os.path.abspath(output)) / "model.keras"),
                            reporter)


def train(request: TrainRequest | None = None, reporter: Reporter | None = None, **options) -> TrainResult:
    """Check, read, build, cache, train the head, fine-tune, test, write; then quantize when asked.

    Pass a `TrainRequest`, or its fields as keywords: `mobikit.train(data="my_photos/", alpha=0.25)`.
    """
    request = request or TrainRequest(**options)
    reporter = reporter or Reporter()
    clock, started = _Clock(), time.perf_counter()
    output, settings = step1_check(request)
    begin = time.perf_counter()
    splits = step2_data(request, settings, reporter)
    clock.lap("read_images", begin)
    begin = time.perf_counter()
    network = step3_network(request, settings, len(splits.classes), reporter)
    clock.lap("build", begin)
    begin = time.perf_counter()
    cache = step4_cache(network, splits, settings, request, reporter)
    clock.lap("backbone_features", begin)
    train_part, classes = (cache["train"], splits.parts["train"].labels), len(splits.classes)
    val = (cache["val"], splits.parts["val"].labels) if "val" in cache else None
    begin = time.perf_counter()
    history = fit_head(network, *train_part, val, classes, settings, reporter)
    clock.lap("head", begin)
    begin = time.perf_counter()
    head_loss = min((row["val_loss"] for row in history if row["val_loss"] is not None), default=np.inf)
    history += fit_blocks(network, *train_part, val, classes, settings, reporter, head_loss)
    clock.lap("fine_tune", begin)
    test = step7_test(network, cache, splits)
    clock.lap("train_total", started)
    views = {"head": int(cache["train"].pooled.shape[1]),
             "fine_tune": int(cache["train"].activations.shape[1]) if network.cut else 0}
    description = train_description(request, settings, network, splits, history, test, clock.seconds, views)
    begin = time.perf_counter()
    reporter.info(f"writing {output} (model, report and plots)")
    quantized = None
    with written_together():  # the train folder and its int8 folder land together, after both succeeded
        written = write_train_output(output, network.model, splits.classes, description,
                                     (request.data, request.val, request.test))
        clock.lap("write", begin)
        if request.quantize:
            begin = time.perf_counter()
            quantized = step9_quantize(output, written, splits, request, reporter)
            clock.lap("quantize", begin)
    epochs = {phase: sum(1 for row in history if row["phase"] == phase) for phase in ("head", "fine-tune")}
    return TrainResult(output, output / "model.keras", output / "labels.txt", list(splits.classes),
                       {part: len(images.samples) for part, images in splits.parts.items()}, len(splits.skipped),
                       epochs, test, clock.seconds, peak_rss_mb(), quantized, description)


"""The `train` verb: class folders of photos → a MobileNet fine-tuned to those classes, tested on a held-out split.

Why it is fast on a CPU: the frozen part of the network is the same function in every epoch, so it runs once per
image *view* (the model's own center crop plus a few augmented crops), through LiteRT's float XNNPACK kernels. The
head (global pooling → dropout → dense softmax) then trains on the cached pooled features, and fine-tuning the last
K blocks runs only those blocks, forward and backward, on the cached activations at their input (BatchNorm in
inference mode, so the cached statistics stay valid). The exported model is the plain classifier: the augmentation
layers are not part of it, and it takes the same input as every other mobikit model (`mobikit.preprocess`).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .datasets import ClassFolders, DecodedImages, Sample, check_class_sizes, decode, discover, stratified_split
from .images import MAX_PIXELS
from .errors import MobikitError, UsageError
from .latency import peak_rss_mb
from .outputs import check_target, new_folder, write_bytes, write_text, written_together
from .progress import Reporter
from .runtime import library_versions

MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 4096
DESCRIPTION_FILE = "train.json"


@dataclass(frozen=True)
class Recipe:
    """The training defaults: the same for every dataset and model (nothing here is tuned per data set)."""

    views: int = 8  # cached views per training image: the center crop and (views - 1) augmented ones
    zoom: float = 0.3  # augmentation: zoom in by up to this fraction, then a random R×R crop of the square
    brightness: float = 0.1  # ± fraction of the value range
    contrast: float = 0.1
    dropout: float = 0.2
    label_smoothing: float = 0.1
    head_epochs: int = 40
    head_learning_rate: float = 1e-3
    fine_tune_blocks: int = 5
    fine_tune_epochs: int = 12
    fine_tune_learning_rate: float = 1e-4
    patience: int = 4  # early stopping: epochs without a lower validation loss
    batch_size: int = 32
    test_fraction: float = 0.2  # carved out of DATA when --test is not given
    val_fraction: float = 0.1  # carved out of DATA when --val is not given
    cache_budget_mb: int = 1536  # fine-tuning activations kept in memory; fewer views when they would not fit


RECIPE = Recipe()


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
    threads: int = 2
    recipe: Recipe = RECIPE

    def validate(self) -> None:
        from .architectures import Config, validate

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
        if self.qat and not self.quantize:
            raise UsageError("{qat} fine-tunes the int8 model {quantize} writes: add {quantize}", "qat", "quantize")

    def output_dir(self) -> Path:
        if self.output is not None:
            return Path(self.output)
        return Path("mobikit-out") / f"{Path(self.data).resolve().name}_{self.arch}_{self.alpha:g}_{self.resolution}"


@dataclass
class Settings:
    """The hyper-parameters of one run: the recipe with the request's overrides applied."""

    head_epochs: int
    fine_tune_epochs: int
    fine_tune_blocks: int
    batch_size: int
    seed: int
    recipe: Recipe


@dataclass
class Splits:
    classes: tuple[str, ...]
    parts: dict[str, DecodedImages]  # "train", "val", "test"
    sources: dict[str, str]  # part → where it came from
    skipped: list[Path] = field(default_factory=list)


@dataclass
class Network:
    """The exported classifier and the handles training needs on it."""

    model: object  # keras.Model: backbone → global_pool → head_dropout → predictions
    cut: str | None  # the layer whose output feeds the first fine-tuned block (None: head only)
    blocks: int  # how many blocks the backbone has


@dataclass
class Cache:
    """Backbone outputs computed once: pooled features per view, and block-input activations for fine-tuning."""

    pooled: dict[str, np.ndarray]  # part → N×V×C (val/test: V = 1, the center crop)
    activations: dict[str, np.ndarray]  # part → N×V'×h×w×c float16 (empty without fine-tuning)


@dataclass
class HeldOutScores:
    n: int
    accuracy: float | None
    per_class: list[dict]
    confusion: list[list[int]]
    predictions: list[dict]  # per test file: true class, predicted class, its probability


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


def settings_for(request: TrainRequest) -> Settings:
    recipe = request.recipe
    return Settings(head_epochs=request.epochs or recipe.head_epochs,
                    fine_tune_epochs=request.epochs or recipe.fine_tune_epochs,
                    fine_tune_blocks=recipe.fine_tune_blocks if request.fine_tune is None else request.fine_tune,
                    batch_size=request.batch_size or recipe.batch_size, seed=request.seed, recipe=recipe)


def step1_check(request: TrainRequest) -> tuple[Path, Settings]:
    """Every check that needs no image decoded and no network built: bad input stops here, before slow steps."""
    request.validate()
    settings = settings_for(request)
    blocks = len(block_inputs(request.arch, request.alpha, request.resolution)[0])
    if settings.fine_tune_blocks > blocks:
        raise UsageError("{fine_tune} {value}: MobileNet {arch} has {blocks} blocks", "fine_tune",
                         value=settings.fine_tune_blocks, arch=request.arch, blocks=blocks)
    if request.weights == "imagenet":
        from .architectures import Config
        from .models import imagenet_file_name

        imagenet_file_name(Config(request.arch, float(request.alpha), int(request.resolution)))
    output = request.output_dir()
    inputs = (request.data, request.val, request.test)
    check_target(output, "train", inputs)
    if request.quantize:
        check_target(int8_output_dir(output), "quantize", inputs)
    return output, settings


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
            reporter.warn(f"{len(found.outside)} class folders in {found.root} are links leading outside it "
                          f"({', '.join(map(repr, found.outside[:3]))}): not used as classes")
    if train_folders.loose_files:
        reporter.warn(f"{train_folders.loose_files} images directly in {request.data} carry no class (not in a "
                      "class folder) and are ignored")
    decoded = {}
    skipped: list[Path] = []
    folders: dict[str, ClassFolders] = {"data": train_folders, **given}
    for part, found in reporter.track(folders.items(), len(folders), "reading images"):
        decoded[part] = decode(found.samples, request.resolution, request.threads)
        skipped += decoded[part].skipped
    if skipped:
        total = sum(len(f.samples) for f in folders.values())
        reporter.warn(f"skipped {len(skipped)} of {total} files that are not readable images (or declare over "
                      f"{MAX_PIXELS // 1_000_000} MP) (first: {skipped[0]})")
    data = decoded.pop("data")
    counts = [int(n) for n in np.bincount(data.labels, minlength=len(classes))]
    for warning in check_class_sizes(counts, classes, str(request.data)):
        reporter.warn(warning)
    fractions = {part: getattr(settings.recipe, f"{part}_fraction") for part in ("test", "val") if part not in given}
    split = stratified_split(data.samples, fractions, settings.seed)
    index = {sample.path: i for i, sample in enumerate(data.samples)}
    parts = {part: _subset(data, [index[s.path] for s in samples]) for part, samples in split.items()}
    parts.update(decoded)
    for part in ("val", "test"):
        if not len(parts[part].samples):
            raise UsageError(f"the {part} folder has no readable images")
    sources = {part: (f"{folder} (given)" if part in given else
                      f"{100 * fractions.get(part, 0):g}% of {request.data}, stratified, seed {settings.seed}")
               for part, folder in (("val", request.val), ("test", request.test))}
    sources["train"] = f"the rest of {request.data}"
    return Splits(classes, parts, sources, skipped)


def _subset(images: DecodedImages, rows: list[int]) -> DecodedImages:
    return DecodedImages([images.samples[i] for i in rows], images.center[rows], images.square[rows])


def class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """Inverse-frequency weights (mean 1 over the samples), so unbalanced folders do not bias the classifier."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (classes * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


# 3. Network -------------------------------------------------------------------------------------------------------

_BLOCK = re.compile(r"^(?:conv_(?:dw|pw)_(\d+)|block_(\d+)_|(expanded_conv)_)")


def block_inputs(arch: str, alpha: float, resolution: int) -> tuple[list[str], str]:
    """(the layer feeding each block of the paper's table, in order; the last backbone layer).

    A block is a depthwise + pointwise pair in V1, a bottleneck in V2; V2's final 1×1 conv (Conv_1) belongs to the
    last block when fine-tuning.
    """
    from .architectures import Config, plan

    specs = plan(Config(arch, float(alpha), int(resolution), include_top=False))
    feeds, seen = [], set()
    for i, spec in enumerate(specs):
        match = _BLOCK.match(spec.name)
        if not match:
            continue
        block = next(g for g in match.groups() if g)
        if block not in seen:
            seen.add(block)
            previous = specs[i - 1]
            feeds.append(previous.add or previous.relu or previous.bn)
    last = specs[-1]
    return feeds, last.add or last.relu or last.bn


def _backbone(request: TrainRequest, last_layer: str):
    """The ImageNet (or given) backbone cut at the global pooling, layer names as keras.applications has them."""
    from .architectures import Config
    from .models import build_model, imagenet_file_name, keras_cache_dir
    from .runtime import tensorflow

    keras = tensorflow().keras
    if request.weights == "imagenet":
        no_top = keras_cache_dir() / imagenet_file_name(Config(request.arch, float(request.alpha),
                                                                int(request.resolution), include_top=False))
        if no_top.is_file():
            return build_model(request.arch, request.alpha, request.resolution, include_top=False,
                               weights="imagenet")
    full = build_model(request.arch, request.alpha, request.resolution, include_top=True, weights=request.weights)
    return keras.Model(full.input, full.get_layer(last_layer).output, name=full.name)


def step3_network(request: TrainRequest, settings: Settings, classes: int) -> Network:
    """Backbone + head (global_pool → head_dropout → predictions), one flat graph so layer names stay plain."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    feeds, last_layer = block_inputs(request.arch, request.alpha, request.resolution)
    keras.utils.set_random_seed(settings.seed)
    backbone = _backbone(request, last_layer)
    pooled = keras.layers.GlobalAveragePooling2D(name="global_pool")(backbone.output)
    dropped = keras.layers.Dropout(settings.recipe.dropout, name="head_dropout")(pooled)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(dropped)
    model = keras.Model(backbone.input, outputs, name=f"{backbone.name}_{classes}_classes")
    cut = feeds[-settings.fine_tune_blocks] if settings.fine_tune_blocks else None
    return Network(model, cut, len(feeds))


# 4. Cached backbone outputs ---------------------------------------------------------------------------------------

def augmenter(recipe: Recipe, resolution: int, seed: int):
    """Random crop of the square around the model's crop, random zoom-in, horizontal flip, small brightness and
    contrast jitter: Keras preprocessing layers, compiled as one graph (eager layers are several times slower).
    Used for the cached views only; not part of the exported model."""
    from .runtime import tensorflow

    tf = tensorflow()
    layers = tf.keras.layers
    pipeline = tf.keras.Sequential([
        layers.RandomCrop(resolution, resolution, seed=seed),
        layers.RandomZoom((-recipe.zoom, 0.0), fill_mode="reflect", seed=seed + 1),
        layers.RandomFlip("horizontal", seed=seed + 2),
        layers.RandomBrightness(recipe.brightness, value_range=(0, 255), seed=seed + 3),
        layers.RandomContrast(recipe.contrast, value_range=(0, 255), seed=seed + 4),
    ])
    return tf.function(lambda batch: pipeline(batch, training=True))


def _extractor(network: Network, threads: int):
    """The frozen part as a float LiteRT model: image → (block-input activations?, pooled features)."""
    from .runtime import captured_output, tensorflow
    from .inference import make_interpreter

    tf = tensorflow()
    model = network.model
    outputs = [model.get_layer("global_pool").output]
    if network.cut:
        outputs.insert(0, model.get_layer(network.cut).output)
    frozen = tf.keras.Model(model.input, outputs)
    try:
        with captured_output():
            blob = tf.lite.TFLiteConverter.from_keras_model(frozen).convert()
    except Exception as exc:
        raise MobikitError(f"the TFLite converter failed on the frozen backbone: {str(exc).splitlines()[0]}") from None
    interpreter = make_interpreter(blob, threads)
    source = interpreter.get_input_details()[0]["index"]
    by_rank = {len(d["shape"]): d["index"] for d in interpreter.get_output_details()}

    def run(batch: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        acts, pooled = [], []
        for image in batch:
            interpreter.set_tensor(source, image[None])
            interpreter.invoke()
            pooled.append(interpreter.get_tensor(by_rank[2])[0].copy())
            if network.cut:
                acts.append(interpreter.get_tensor(by_rank[4])[0].astype(np.float16))
        return (np.stack(acts) if acts else None), np.stack(pooled)

    return run


def _views_that_fit(network: Network, settings: Settings, images: int) -> int:
    if not network.cut:
        return 0
    shape = network.model.get_layer(network.cut).output.shape[1:]
    per_view = int(np.prod(shape)) * 2 * images
    fit = settings.recipe.cache_budget_mb * 2 ** 20 // max(per_view, 1)
    if fit < 1:
        raise UsageError(f"--fine-tune {settings.fine_tune_blocks} needs {per_view / 2 ** 20:.0f} MB per view of "
                         f"the training images at the input of the first tuned block, above the cache budget of "
                         f"{settings.recipe.cache_budget_mb} MB: fine-tune fewer blocks")
    return min(settings.recipe.views, fit)


def step4_cache(network: Network, splits: Splits, settings: Settings, request: TrainRequest,
                reporter: Reporter) -> Cache:
    """Run the frozen backbone once per view: train images × recipe views, val/test on the center crop only."""
    from .preprocess import normalize

    run = _extractor(network, request.threads)
    views = settings.recipe.views
    tuned_views = _views_that_fit(network, settings, len(splits.parts["train"].samples))
    if network.cut and tuned_views < views:
        reporter.info(f"fine-tuning on {tuned_views} of {views} views per image (activation cache budget "
                      f"{settings.recipe.cache_budget_mb} MB)")
    augment = augmenter(settings.recipe, request.resolution, settings.seed)
    pooled, activations = {}, {}
    batch_size = 32
    for part, images in splits.parts.items():
        count = views if part == "train" else 1
        n = len(images.samples)
        part_pooled, part_acts = [], []
        jobs = [(view, start) for view in range(count) for start in range(0, n, batch_size)]
        for view, start in reporter.track(jobs, len(jobs), f"backbone features: {part} ({count} view"
                                          f"{'s' if count > 1 else ''} of {n} images)"):
            if view == 0:
                pixels = normalize(images.center[start:start + batch_size])
            else:
                square = images.square[start:start + batch_size].astype(np.float32)
                pixels = normalize(np.asarray(augment(square)))
            acts, features = run(pixels)
            part_pooled.append(features)
            part_acts.append(acts if network.cut and view < max(tuned_views, 1) else None)
        per_view = -(-n // batch_size)
        pooled[part] = np.stack([np.concatenate(part_pooled[v * per_view:(v + 1) * per_view]) for v in range(count)],
                                axis=1)
        if network.cut:
            kept = min(count, tuned_views)
            activations[part] = np.stack([np.concatenate(part_acts[v * per_view:(v + 1) * per_view])
                                          for v in range(kept)], axis=1)
    return Cache(pooled, activations)


# 5–6. Training phases ---------------------------------------------------------------------------------------------

@dataclass
class Phase:
    """One training phase: a model on cached inputs, how to draw an epoch's inputs, and its budget."""

    name: str
    model: object
    epoch_inputs: object  # (epoch) -> (x, y_onehot, sample_weight)
    val: tuple
    epochs: int
    learning_rate: float


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[labels]


def run_phase(phase: Phase, settings: Settings, reporter: Reporter, best_so_far: float = np.inf) -> list[dict]:
    """Epochs with early stopping on validation loss; the best weights are restored at the end.

    `best_so_far` is the validation loss the model had before this phase: when no epoch beats it, the phase's
    starting weights are kept (fine-tuning that does not help is undone).
    """
    from .runtime import tensorflow

    keras = tensorflow().keras
    steps = -(-len(phase.epoch_inputs(0)[0]) // settings.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(phase.learning_rate, max(1, steps * phase.epochs))
    phase.model.compile(keras.optimizers.Adam(schedule),
                        keras.losses.CategoricalCrossentropy(label_smoothing=settings.recipe.label_smoothing),
                        metrics=["accuracy"])
    history: list[dict] = []
    best_loss, waited = best_so_far, 0
    best_weights = phase.model.get_weights() if np.isfinite(best_so_far) else None
    started = time.perf_counter()
    for epoch in reporter.track(range(phase.epochs), phase.epochs, phase.name):
        begin = time.perf_counter()
        x, y, weights = phase.epoch_inputs(epoch)
        fitted = phase.model.fit(x, y, sample_weight=weights, batch_size=settings.batch_size, epochs=1,
                                 shuffle=True, verbose=0)
        val_loss, val_accuracy = phase.model.evaluate(*phase.val, batch_size=256, verbose=0)
        row = {"phase": phase.name, "epoch": epoch + 1, "loss": float(fitted.history["loss"][0]),
               "accuracy": float(fitted.history["accuracy"][0]), "val_loss": float(val_loss),
               "val_accuracy": float(val_accuracy), "seconds": round(time.perf_counter() - begin, 3)}
        history.append(row)
        elapsed = time.perf_counter() - started
        eta = elapsed / (epoch + 1) * (phase.epochs - epoch - 1)
        reporter.info(f"{phase.name} epoch {epoch + 1}/{phase.epochs}: loss {row['loss']:.3f}, accuracy "
                      f"{100 * row['accuracy']:.1f}%, val loss {row['val_loss']:.3f}, val accuracy "
                      f"{100 * row['val_accuracy']:.1f}% ({row['seconds']:.1f} s, ETA {eta:.0f} s)")
        if val_loss < best_loss - 1e-4:
            best_loss, best_weights, waited = val_loss, phase.model.get_weights(), 0
        else:
            waited += 1
            if waited >= settings.recipe.patience:
                reporter.info(f"{phase.name}: validation loss has not improved for {waited} epochs: stopping")
                break
    if best_weights is not None:
        phase.model.set_weights(best_weights)
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    if history[best]["val_loss"] < best_so_far - 1e-4:
        history[best]["best"] = True
        reporter.info(f"{phase.name}: keeping epoch {best + 1} (validation loss {history[best]['val_loss']:.3f})")
    else:
        reporter.info(f"{phase.name}: no epoch beat the validation loss before it ({best_so_far:.3f}): "
                      "keeping the weights it started from")
    return history


def step5_head(network: Network, cache: Cache, splits: Splits, settings: Settings, reporter: Reporter) -> list[dict]:
    """Phase 1: the backbone frozen, the head trained on the pooled features of every cached view."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    model, classes = network.model, len(splits.classes)
    features = keras.Input(shape=(cache.pooled["train"].shape[-1],))
    head = keras.Model(features, model.get_layer("predictions")(model.get_layer("head_dropout")(features)))
    labels = splits.parts["train"].labels
    views = cache.pooled["train"].shape[1]
    x = cache.pooled["train"].reshape(-1, cache.pooled["train"].shape[-1])
    y = _one_hot(np.repeat(labels, views), classes)
    weights = class_weights(labels, classes)[np.repeat(labels, views)]
    val = (cache.pooled["val"][:, 0], _one_hot(splits.parts["val"].labels, classes))
    return run_phase(Phase("head", head, lambda epoch: (x, y, weights), val, settings.head_epochs,
                           settings.recipe.head_learning_rate), settings, reporter)


def top_model(network: Network):
    """The fine-tuned blocks and the head, from the cached activations on; BatchNorm stays in inference mode."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    model = network.model
    top = keras.Model(model.get_layer(network.cut).output, model.output)
    for layer in top.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    return top


def step6_fine_tune(network: Network, cache: Cache, splits: Splits, settings: Settings, reporter: Reporter,
                    best_so_far: float) -> list[dict]:
    """Phase 2: the last K blocks and the head at a lower learning rate; each epoch draws one view per image.
    Kept only when it lowers the validation loss the head reached (`best_so_far`)."""
    if not network.cut:
        return []
    top = top_model(network)
    classes = len(splits.classes)
    labels = splits.parts["train"].labels
    activations = cache.activations["train"]
    y, weights = _one_hot(labels, classes), class_weights(labels, classes)[labels]
    rng = np.random.default_rng(settings.seed)

    def epoch_inputs(epoch: int):
        chosen = rng.integers(activations.shape[1], size=len(labels))
        return activations[np.arange(len(labels)), chosen].astype(np.float32), y, weights

    val = (cache.activations["val"][:, 0].astype(np.float32), _one_hot(splits.parts["val"].labels, classes))
    return run_phase(Phase("fine-tune", top, epoch_inputs, val, settings.fine_tune_epochs,
                           settings.recipe.fine_tune_learning_rate), settings, reporter, best_so_far)


# 7. Test ----------------------------------------------------------------------------------------------------------

def scores_from_confusion(confusion: np.ndarray, classes: tuple[str, ...]) -> list[dict]:
    """Per-class precision, recall, F1 and support from a confusion matrix (rows: true, columns: predicted)."""
    rows = []
    for i, name in enumerate(classes):
        true_positive = float(confusion[i, i])
        predicted, actual = float(confusion[:, i].sum()), float(confusion[i].sum())
        precision = true_positive / predicted if predicted else None
        recall = true_positive / actual if actual else None
        f1 = 2 * true_positive / (predicted + actual) if predicted + actual else None  # = 2PR / (P + R)
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": int(actual)})
    return rows


def step7_test(network: Network, cache: Cache, splits: Splits) -> HeldOutScores:
    """The trained classifier on the test split's center crops (exactly the deployed model's input)."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    model = network.model
    if network.cut:
        scores = np.asarray(top_model(network).predict(cache.activations["test"][:, 0].astype(np.float32),
                                                       batch_size=64, verbose=0))
    else:
        features = keras.Input(shape=(cache.pooled["test"].shape[-1],))
        head = keras.Model(features, model.get_layer("predictions")(features))
        scores = np.asarray(head.predict(cache.pooled["test"][:, 0], batch_size=256, verbose=0))
    labels = splits.parts["test"].labels
    classes = len(splits.classes)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, np.argmax(scores, axis=1)), 1)
    accuracy = float(np.trace(confusion) / len(labels)) if len(labels) else None
    predicted = np.argmax(scores, axis=1)
    files = [{"file": str(sample.path), "class": splits.classes[sample.label],
              "predicted": splits.classes[int(p)], "confidence": round(float(row[p]), 6)}
             for sample, p, row in zip(splits.parts["test"].samples, predicted, scores)]
    return HeldOutScores(len(labels), accuracy, scores_from_confusion(confusion, splits.classes), confusion.tolist(),
                      files)


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
        "data": str(request.data), "split": _split_listing(splits, Path(request.data)),
        "skipped_files": [str(p) for p in splits.skipped],
        "hyper_parameters": {**asdict(settings.recipe), "head_epochs": settings.head_epochs,
                             "fine_tune_epochs": settings.fine_tune_epochs,
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

def link_folder(folder: Path, samples: list[Sample], classes: tuple[str, ...]) -> Path:
    """Class folders of symlinks to the given images (never copies), for quantize's folder-based inputs."""
    for number, sample in enumerate(samples):
        target = folder / classes[sample.label]
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{number:06d}_{sample.path.name}").symlink_to(sample.path.resolve())
    return folder


def step9_quantize(output: Path, written: Path, splits: Splits, request: TrainRequest, reporter: Reporter):
    """Full-integer int8 of the trained model (read from `written`, where the train folder waits to land with the
    int8 one): calibrated on training images, verified on the test split."""
    from .quantization import QuantizeRequest, quantize

    reporter.info(f"int8: full-integer (no float fallback), calibrated on the training images, verified on the "
                  f"{len(splits.parts['test'].samples)} test images → {int8_output_dir(output)}")
    with tempfile.TemporaryDirectory(prefix="train-links-") as scratch:  # inside the run's private TMPDIR
        scratch = Path(scratch)
        named = scratch / f"{output.name}.keras"  # the int8 model is named after the training output
        named.symlink_to((written / "model.keras").resolve())
        calib = link_folder(scratch / "train", splits.parts["train"].samples, splits.classes)
        test = link_folder(scratch / "test", splits.parts["test"].samples, splits.classes)
        return quantize(QuantizeRequest(model=named, labels=written / "labels.txt", calib=calib, eval=test,
                                        output=int8_output_dir(output), threads=request.threads,
                                        strict_int8=True, qat=request.qat), reporter)


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
    network = step3_network(request, settings, len(splits.classes))
    clock.lap("build", begin)
    begin = time.perf_counter()
    cache = step4_cache(network, splits, settings, request, reporter)
    clock.lap("backbone_features", begin)
    begin = time.perf_counter()
    history = step5_head(network, cache, splits, settings, reporter)
    clock.lap("head", begin)
    begin = time.perf_counter()
    history += step6_fine_tune(network, cache, splits, settings, reporter,
                               min(row["val_loss"] for row in history))
    clock.lap("fine_tune", begin)
    test = step7_test(network, cache, splits)
    clock.lap("train_total", started)
    views = {"head": int(cache.pooled["train"].shape[1]),
             "fine_tune": int(cache.activations["train"].shape[1]) if network.cut else 0}
    description = train_description(request, settings, network, splits, history, test, clock.seconds, views)
    begin = time.perf_counter()
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


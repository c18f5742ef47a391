"""The classifier `train` builds, and its frozen part's outputs computed once per image view.

The frozen part of the network is the same function in every epoch, so it runs once per image *view* (the model's
own center crop plus a few augmented crops), through LiteRT's float XNNPACK kernels. The head then trains on the
cached pooled features, and fine-tuning the last K blocks runs only those blocks on the cached activations at their
input (BatchNorm in inference mode, so the cached statistics stay valid). The cache is per image, so one cache of
a whole folder serves every split of it (cross-validation folds included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .datasets import DecodedImages
from .errors import MobikitError, UsageError
from .progress import Reporter
from .recipe import Recipe

_BLOCK = re.compile(r"^(?:conv_(?:dw|pw)_(\d+)|block_(\d+)_|(expanded_conv)_)")
BATCH = 32


@dataclass
class Network:
    """The exported classifier and the handles training needs on it."""

    model: object  # keras.Model: backbone → global_pool → head_dropout → predictions
    cut: str | None  # the layer whose output feeds the first fine-tuned block (None: head only)
    blocks: int  # how many blocks the backbone has


@dataclass
class Features:
    """Backbone outputs of N images: pooled features per view, and the activations at the cut per view."""

    pooled: np.ndarray  # N×V×C float32; view 0 is the center crop (the deployed model's input)
    activations: np.ndarray | None  # N×V'×h×w×c float16 (None without fine-tuning)

    def rows(self, index, views: int | None = None) -> "Features":
        """These images' features (`index`: row numbers), their first `views` views only when given."""
        index = np.asarray(index)
        cut = slice(None) if views is None else slice(0, views)
        return Features(self.pooled[index][:, cut],
                        None if self.activations is None else self.activations[index][:, cut])


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


def _backbone(arch: str, alpha: float, resolution: int, weights: str | None, last_layer: str):
    """The ImageNet (or given) backbone cut at the global pooling, layer names as keras.applications has them."""
    from .architectures import Config
    from .models import build_model, imagenet_file_name, keras_cache_dir
    from .runtime import tensorflow

    keras = tensorflow().keras
    if weights == "imagenet":
        no_top = keras_cache_dir() / imagenet_file_name(Config(arch, float(alpha), int(resolution),
                                                                include_top=False))
        if no_top.is_file():
            return build_model(arch, alpha, resolution, include_top=False, weights="imagenet")
    full = build_model(arch, alpha, resolution, include_top=True, weights=weights)
    return keras.Model(full.input, full.get_layer(last_layer).output, name=full.name)


def build_network(arch: str, alpha: float, resolution: int, weights: str | None, classes: int, dropout: float,
                  fine_tune_blocks: int, seed: int) -> Network:
    """Backbone + head (global_pool → head_dropout → predictions), one flat graph so layer names stay plain."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    feeds, last_layer = block_inputs(arch, alpha, resolution)
    keras.utils.set_random_seed(seed)
    backbone = _backbone(arch, alpha, resolution, weights, last_layer)
    pooled = keras.layers.GlobalAveragePooling2D(name="global_pool")(backbone.output)
    dropped = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(dropped)
    model = keras.Model(backbone.input, outputs, name=f"{backbone.name}_{classes}_classes")
    return Network(model, feeds[-fine_tune_blocks] if fine_tune_blocks else None, len(feeds))


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


def extractor(network: Network, threads: int):
    """The frozen part as a float LiteRT model: image batch → (block-input activations or None, pooled features)."""
    from .inference import make_interpreter
    from .runtime import captured_output, tensorflow

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


def views_that_fit(network: Network, recipe: Recipe, images: int, fine_tune_blocks: int) -> int:
    """How many views of `images` training images the activation cache can hold (0 without fine-tuning)."""
    if not network.cut:
        return 0
    shape = network.model.get_layer(network.cut).output.shape[1:]
    per_view = int(np.prod(shape)) * 2 * images
    fit = recipe.cache_budget_mb * 2 ** 20 // max(per_view, 1)
    if fit < 1:
        raise UsageError(f"--fine-tune {fine_tune_blocks} needs {per_view / 2 ** 20:.0f} MB per view of the training "
                         f"images at the input of the first tuned block, above the cache budget of "
                         f"{recipe.cache_budget_mb} MB: fine-tune fewer blocks")
    return min(recipe.views, fit)


def backbone_features(run, images: DecodedImages, views: int, tuned_views: int, augment, reporter: Reporter,
                      label: str) -> Features:
    """`run` (an `extractor`) once per image and view: view 0 is the center crop, the others `augment`ed crops of
    the square around it; activations are kept for the first `tuned_views` views."""
    from .preprocess import normalize

    n = len(images.samples)
    pooled = np.zeros((n, views, 0), np.float32)
    kept, activations = min(views, tuned_views), None
    jobs = [(view, start) for view in range(views) for start in range(0, n, BATCH)]
    description = f"backbone features: {label} ({views} view{'s' if views > 1 else ''} of {n} images)"
    for view, start in reporter.track(jobs, n * views, description, count=lambda job: min(BATCH, n - job[1])):
        if view == 0:
            pixels = normalize(images.center[start:start + BATCH])
        else:
            pixels = normalize(np.asarray(augment(images.square[start:start + BATCH].astype(np.float32))))
        acts, features = run(pixels)
        if not pooled.shape[2]:
            pooled = np.zeros((n, views, features.shape[1]), np.float32)
        pooled[start:start + len(features), view] = features
        if acts is not None and view < kept:
            if activations is None:
                activations = np.zeros((n, kept, *acts.shape[1:]), np.float16)
            activations[start:start + len(acts), view] = acts
    return Features(pooled, activations)

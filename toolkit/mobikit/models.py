"""MobileNet V1 and V2 written as the papers' tables, and the Keras builder that walks them.

The tables are turned into a *layer plan* (`plan`), a list of `LayerSpec` that needs no TensorFlow: the builder
turns the plan into Keras layers, and `mobikit.profile` counts the plan's cost. Layer names, padding and weight
order follow `keras.applications.MobileNet` / `MobileNetV2`, so the official ImageNet weight files load unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import MobikitError, UsageError

ARCHS = ("v1", "v2")
MIN_RESOLUTION = 32


@dataclass(frozen=True)
class V1Row:
    """One row of the V1 paper's Table 1: a full conv, a depthwise conv or a pointwise conv."""

    op: str  # "conv" | "dw" | "pw"
    stride: int
    filters: int = 0  # output channels at α = 1; a depthwise row keeps its input channels


# MobileNet V1, Table 1 (Howard et al. 2017). Avg pool, FC and softmax follow the last row.
V1_TABLE = (
    V1Row("conv", 2, 32),
    V1Row("dw", 1), V1Row("pw", 1, 64),
    V1Row("dw", 2), V1Row("pw", 1, 128),
    V1Row("dw", 1), V1Row("pw", 1, 128),
    V1Row("dw", 2), V1Row("pw", 1, 256),
    V1Row("dw", 1), V1Row("pw", 1, 256),
    V1Row("dw", 2), V1Row("pw", 1, 512),
    *(V1Row(op, 1, 512 if op == "pw" else 0) for _ in range(5) for op in ("dw", "pw")),
    V1Row("dw", 2), V1Row("pw", 1, 1024),
    V1Row("dw", 1), V1Row("pw", 1, 1024),
)


@dataclass(frozen=True)
class V2Row:
    """One row of the V2 paper's Table 2: `n` bottleneck blocks with expansion t, c outputs, first stride s."""

    t: int
    c: int
    n: int
    s: int


# MobileNet V2, Table 2 (Sandler et al. 2018): conv2d 32 /2, the bottleneck rows, conv2d 1×1 1280, pool, classifier.
V2_STEM_FILTERS = 32
V2_TABLE = (
    V2Row(1, 16, 1, 1),
    V2Row(6, 24, 2, 2),
    V2Row(6, 32, 3, 2),
    V2Row(6, 64, 4, 2),
    V2Row(6, 96, 3, 1),
    V2Row(6, 160, 3, 2),
    V2Row(6, 320, 1, 1),
)
V2_HEAD_FILTERS = 1280

# ImageNet weight files published for keras.applications (alpha → resolutions).
KERAS_IMAGENET = {
    "v1": {alpha: (128, 160, 192, 224) for alpha in (0.25, 0.5, 0.75, 1.0)},
    "v2": {
        **{alpha: (96, 128, 160, 192, 224) for alpha in (0.35, 0.5, 0.75, 1.0)},
        1.3: (224,),
        1.4: (224,),
    },
}
_KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class LayerSpec:
    """One weighted layer (conv / depthwise / pointwise / fully connected) with its BN and ReLU6, as built."""

    name: str
    type: str  # "conv" | "dw" | "pw" | "fc"
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    pad: tuple | None = None  # explicit ((top, bottom), (left, right)) zero padding before a "valid" conv
    pad_name: str | None = None
    bn: str | None = None
    relu: str | None = None
    block_input: bool = False  # this layer reads the input of a residual block
    add: str | None = None  # after this layer, add the block input (V2 residual connection)
    padding: str = "same"  # keras padding when no explicit `pad` precedes the layer


@dataclass(frozen=True)
class Config:
    arch: str
    alpha: float = 1.0
    resolution: int = 224
    classes: int = 1000
    include_top: bool = True
    standard_conv: bool = False

    @property
    def name(self) -> str:
        prefix = {"v1": "mobilenet", "v2": "mobilenetv2"}[self.arch]
        return f"{prefix}_{self.alpha:0.2f}_{self.resolution}" + ("_conv" if self.standard_conv else "")


def validate(config: Config) -> None:
    """Reject configurations no MobileNet can have, with a one-line reason."""
    if config.arch not in ARCHS:
        raise UsageError(f"unknown arch {config.arch!r}: choose v1 or v2")
    if not config.alpha > 0:
        raise UsageError(f"alpha must be > 0, got {config.alpha}")
    if config.resolution < MIN_RESOLUTION:
        raise UsageError(f"resolution must be >= {MIN_RESOLUTION}, got {config.resolution}")
    if config.classes < 1:
        raise UsageError(f"classes must be >= 1, got {config.classes}")
    if config.standard_conv and config.arch != "v1":
        raise UsageError("--standard-conv exists only for v1 (the V1 paper's Conv MobileNet)")


def _same(size: int, stride: int) -> int:
    return -(-size // stride)


def _valid(size: int, pad: tuple, kernel: int, stride: int) -> int:
    return (size + sum(pad[0]) - kernel) // stride + 1


def make_divisible(value: float, divisor: int = 8) -> int:
    """V2's channel rounding: nearest multiple of `divisor`, never more than 10% below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _v1_plan(config: Config) -> list[LayerSpec]:
    alpha, size, channels = config.alpha, config.resolution, 3
    layers: list[LayerSpec] = []
    block = 0
    rows = list(V1_TABLE)
    i = 0
    while i < len(rows):
        row = rows[i]
        if row.op == "conv":
            out = int(row.filters * alpha)
            new = _same(size, row.stride)
            layers.append(LayerSpec("conv1", "conv", 3, row.stride, channels, out, size, new,
                                    bn="conv1_bn", relu="conv1_relu"))
            size, channels, i = new, out, i + 1
            continue
        block += 1
        dw, pw = row, rows[i + 1]
        pad = ((0, 1), (0, 1)) if dw.stride == 2 else None
        new = _valid(size, pad, 3, 2) if pad else size
        out = int(pw.filters * alpha)
        pad_name = f"conv_pad_{block}" if pad else None
        if config.standard_conv:
            layers.append(LayerSpec(f"conv_{block}", "conv", 3, dw.stride, channels, out, size, new, pad, pad_name,
                                    bn=f"conv_{block}_bn", relu=f"conv_{block}_relu"))
        else:
            layers.append(LayerSpec(f"conv_dw_{block}", "dw", 3, dw.stride, channels, channels, size, new, pad,
                                    pad_name, bn=f"conv_dw_{block}_bn", relu=f"conv_dw_{block}_relu"))
            layers.append(LayerSpec(f"conv_pw_{block}", "pw", 1, 1, channels, out, new, new,
                                    bn=f"conv_pw_{block}_bn", relu=f"conv_pw_{block}_relu"))
        size, channels, i = new, out, i + 2
    if config.include_top:
        layers.append(LayerSpec("conv_preds", "fc", 1, 1, channels, config.classes, 1, 1))
    return layers


def _v2_plan(config: Config) -> list[LayerSpec]:
    alpha, size = config.alpha, config.resolution
    channels = make_divisible(V2_STEM_FILTERS * alpha)
    layers = [LayerSpec("Conv1", "conv", 3, 2, 3, channels, size, _same(size, 2), bn="bn_Conv1", relu="Conv1_relu")]
    size = _same(size, 2)
    block = 0
    for row in V2_TABLE:
        out = make_divisible(int(row.c * alpha))
        for repeat in range(row.n):
            stride = row.s if repeat == 0 else 1
            prefix = f"block_{block}_" if block else "expanded_conv_"
            residual = stride == 1 and channels == out
            expanded = channels * row.t
            if block:
                layers.append(LayerSpec(prefix + "expand", "pw", 1, 1, channels, expanded, size, size,
                                        bn=prefix + "expand_BN", relu=prefix + "expand_relu", block_input=residual))
            pad = None
            if stride == 2:
                pad = ((size % 2, 1), (size % 2, 1))  # keras' correct_pad
            new = _valid(size, pad, 3, 2) if pad else size
            layers.append(LayerSpec(prefix + "depthwise", "dw", 3, stride, expanded, expanded, size, new, pad,
                                    prefix + "pad" if pad else None, bn=prefix + "depthwise_BN",
                                    relu=prefix + "depthwise_relu", block_input=residual and not block))
            layers.append(LayerSpec(prefix + "project", "pw", 1, 1, expanded, out, new, new, bn=prefix + "project_BN",
                                    add=prefix + "add" if residual else None))
            size, channels, block = new, out, block + 1
    head = make_divisible(V2_HEAD_FILTERS * alpha) if alpha > 1.0 else V2_HEAD_FILTERS
    layers.append(LayerSpec("Conv_1", "pw", 1, 1, channels, head, size, size, bn="Conv_1_bn", relu="out_relu",
                            padding="valid"))
    if config.include_top:
        layers.append(LayerSpec("predictions", "fc", 1, 1, head, config.classes, 1, 1))
    return layers


def plan(config: Config) -> list[LayerSpec]:
    """The weighted layers of a configuration, in network order, with their shapes (no TensorFlow needed)."""
    validate(config)
    return _v1_plan(config) if config.arch == "v1" else _v2_plan(config)


def _keras_layers(config: Config, specs: list[LayerSpec]):
    from ._tf import tensorflow

    keras = tensorflow().keras
    bn_args = {"epsilon": 1e-3, "momentum": 0.999} if config.arch == "v2" else {}
    inputs = keras.layers.Input(shape=(config.resolution, config.resolution, 3))
    x = block_input = inputs
    for spec in specs:
        if spec.type == "fc":
            break
        if spec.block_input:
            block_input = x
        if spec.pad:
            x = keras.layers.ZeroPadding2D(spec.pad, name=spec.pad_name)(x)
        padding = "valid" if spec.pad else spec.padding
        if spec.type == "dw":
            x = keras.layers.DepthwiseConv2D(spec.kernel, strides=spec.stride, padding=padding, use_bias=False,
                                             name=spec.name)(x)
        else:
            x = keras.layers.Conv2D(spec.out_channels, spec.kernel, strides=spec.stride, padding=padding,
                                    use_bias=False, name=spec.name)(x)
        x = keras.layers.BatchNormalization(axis=-1, name=spec.bn, **bn_args)(x)
        if spec.relu:
            x = keras.layers.ReLU(6.0, name=spec.relu)(x)
        if spec.add:
            x = keras.layers.Add(name=spec.add)([block_input, x])
    if config.include_top:
        x = _classifier(keras, config, x)
    return keras.Model(inputs, x, name=config.name)


def _classifier(keras, config: Config, x):
    """The two papers' heads as keras.applications writes them (V1: 1×1 conv; V2: Dense)."""
    if config.arch == "v1":
        x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = keras.layers.Dropout(1e-3, name="dropout")(x)
        x = keras.layers.Conv2D(config.classes, 1, padding="same", name="conv_preds")(x)
        x = keras.layers.Reshape((config.classes,), name="reshape_2")(x)
        return keras.layers.Activation("softmax", name="predictions")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(config.classes, activation="softmax", name="predictions")(x)


def imagenet_file_name(config: Config) -> str:
    """The keras.applications file name of a configuration's ImageNet weights; a UsageError if none exists."""
    if config.standard_conv:
        raise UsageError("no ImageNet weights exist for the standard-conv V1; use --weights none or a weights file")
    available = KERAS_IMAGENET[config.arch]
    if config.alpha not in available or config.resolution not in available[config.alpha]:
        listing = "; ".join(f"alpha {a}: {', '.join(map(str, r))}" for a, r in available.items())
        raise UsageError(f"keras has no ImageNet weights for {config.arch} alpha {config.alpha} resolution "
                         f"{config.resolution} (it has {listing}); use --weights none or a weights file")
    if config.classes != 1000 and config.include_top:
        raise UsageError("ImageNet weights have 1000 classes; use include_top=False or --weights none")
    suffix = "" if config.include_top else "_no_top"
    if config.arch == "v1":
        alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}[config.alpha]
        return f"mobilenet_{alpha_text}_{config.resolution}_tf{suffix}.h5"
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(config.alpha)}_{config.resolution}{suffix}.h5"


def keras_cache_dir() -> Path:
    """Where keras.applications caches weights: `$KERAS_HOME/models`, else `~/.keras/models`."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def resolve_imagenet_weights(config: Config) -> Path:
    """Find the ImageNet weight file: the keras cache, then the files shipped with mobikit, then download as keras does."""
    file_name = imagenet_file_name(config)
    candidates = [keras_cache_dir() / file_name, Path("/tmp/.keras/models") / file_name,
                  Path(str(resources.files("mobikit") / "data" / file_name))]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    from ._tf import tensorflow

    subdir = "mobilenet/" if config.arch == "v1" else "mobilenet_v2/"
    try:
        return Path(tensorflow().keras.utils.get_file(file_name, _KERAS_BASE_URL + subdir + file_name,
                                                      cache_subdir="models"))
    except Exception as exc:  # keras raises a bare Exception when the download fails
        raise MobikitError(
            f"ImageNet weights {file_name} are not in the keras cache ({candidates[0]}) and could not be "
            f"downloaded ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}). Either run with "
            f"--weights none (random initialisation), or put {file_name} into {candidates[0].parent} "
            "(set KERAS_HOME to use another cache folder)."
        ) from None


def build_model(arch: str, alpha: float = 1.0, resolution: int = 224, classes: int = 1000,
                include_top: bool = True, weights: str | os.PathLike | None = "imagenet",
                standard_conv: bool = False):
    """Build MobileNet `arch` ("v1" or "v2") from the paper's table; `weights` is "imagenet", None or a file path."""
    config = Config(arch, float(alpha), int(resolution), int(classes), include_top, standard_conv)
    specs = plan(config)
    weights_path = None
    if weights == "imagenet":
        weights_path = resolve_imagenet_weights(config)
    elif weights not in (None, "none"):
        weights_path = Path(weights)
        if not weights_path.is_file():
            raise UsageError(f"weights file not found: {weights_path}")
        if not weights_path.name.endswith((".h5", ".keras")):
            raise UsageError(f"weights must be a .h5, .weights.h5 or .keras file, got {weights_path.name}")
    model = _keras_layers(config, specs)
    if weights_path is not None:
        try:
            model.load_weights(str(weights_path))
        except Exception as exc:
            raise MobikitError(f"cannot load weights {weights_path} into {config.name}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return model


def save_model(output: str | os.PathLike, arch: str, alpha: float = 1.0, resolution: int = 224,
               classes: int = 1000, weights: str | os.PathLike | None = "imagenet",
               standard_conv: bool = False) -> Path:
    """Build a model and save it atomically as a .keras file."""
    from . import atomic

    model = build_model(arch, alpha, resolution, classes, True, weights, standard_conv)
    with atomic.atomic_path(output) as tmp:
        model.save(tmp)
    return Path(output)

"""MobileNet V1 and V2 written as the papers' tables, and the layer plan they turn into.

The tables become a *layer plan* (`plan`), a list of `LayerSpec` that needs no TensorFlow: `mobikit.models` turns
the plan into Keras layers and `mobikit.cost` counts its cost. Layer names and padding follow
`keras.applications.MobileNet` / `MobileNetV2`, so the official ImageNet weight files load unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UsageError

ARCHS = ("v1", "v2")
MIN_RESOLUTION = 32
MAX_RESOLUTION = 4096  # beyond this a MobileNet input is a mistake, not a model
MAX_ALPHA = 8.0
MAX_CLASSES = 100_000


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
    """Reject configurations no MobileNet can have, with a one-line reason naming the parameter."""
    if config.arch not in ARCHS:
        raise UsageError("unknown {arch} {value!r}: choose v1 or v2", "arch", value=config.arch)
    if not (math.isfinite(config.alpha) and 0 < config.alpha <= MAX_ALPHA):
        raise UsageError("{alpha} must be > 0 and <= {most:g}, got {value:g}", "alpha", most=MAX_ALPHA,
                         value=config.alpha)
    narrowest = int(min(V1_TABLE[0].filters, V2_STEM_FILTERS) * config.alpha)
    if narrowest < 1:
        raise UsageError("{alpha} {value:g} leaves the first layer without channels: use {alpha} >= {least:g}",
                         "alpha", value=config.alpha, least=1 / min(V1_TABLE[0].filters, V2_STEM_FILTERS))
    if not MIN_RESOLUTION <= config.resolution <= MAX_RESOLUTION:
        raise UsageError("{resolution} must be between {least} and {most}, got {value}", "resolution",
                         least=MIN_RESOLUTION, most=MAX_RESOLUTION, value=config.resolution)
    if not 1 <= config.classes <= MAX_CLASSES:
        raise UsageError("{classes} must be between 1 and {most}, got {value}", "classes", most=MAX_CLASSES,
                         value=config.classes)
    if config.standard_conv and config.arch != "v1":
        raise UsageError("{standard_conv} exists only for v1 (the V1 paper's Conv MobileNet)", "standard_conv")


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

"""The `profile` verb: a MobileNet's cost counted the way the papers count it, from the layer plan (no TensorFlow).

Mult-adds: conv Hout·Wout·K²·Cin·Cout, depthwise Hout·Wout·K²·C, fully connected Cin·Cout; batch norm,
activations and pooling are not counted. Params are those keras counts (kernel, bias and the four batch-norm
vectors per channel), so totals equal `model.count_params()` exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .architectures import Config, LayerSpec, plan

# Row labels as the V1 paper's Table 1 writes them.
TYPE_LABELS = {"conv": "Conv", "dw": "Conv dw", "pw": "Conv", "fc": "FC"}


@dataclass(frozen=True)
class LayerCost:
    name: str
    type: str
    stride: int
    filter_shape: list[int]
    input_shape: list[int]
    output_shape: list[int]
    params: int
    macs: int


@dataclass(frozen=True)
class Profile:
    arch: str
    alpha: float
    resolution: int
    params: int
    macs: int
    layers: list[LayerCost] = field(default_factory=list)

    def to_json(self) -> dict:
        """The `mobikit profile --json` object."""
        keys = ("name", "type", "stride", "input_shape", "output_shape", "params", "macs")
        return {"arch": self.arch, "alpha": self.alpha, "resolution": self.resolution, "params": self.params,
                "macs": self.macs, "layers": [{k: asdict(layer)[k] for k in keys} for layer in self.layers]}


def layer_cost(spec: LayerSpec) -> LayerCost:
    k, cin, cout, out = spec.kernel, spec.in_channels, spec.out_channels, spec.out_size
    if spec.type == "dw":
        filter_shape, weights, macs = [k, k, cin, 1], k * k * cin, out * out * k * k * cin
    elif spec.type == "fc":
        filter_shape, weights, macs = [cin, cout], cin * cout + cout, cin * cout
    else:
        filter_shape, weights, macs = [k, k, cin, cout], k * k * cin * cout, out * out * k * k * cin * cout
    batch_norm = 4 * spec.out_channels if spec.bn else 0
    return LayerCost(spec.name, TYPE_LABELS[spec.type], spec.stride, filter_shape,
                     [spec.in_size, spec.in_size, cin] if spec.type != "fc" else [cin],
                     [out, out, cout] if spec.type != "fc" else [cout], weights + batch_norm, macs)


def profile(arch: str = "v1", alpha: float = 1.0, resolution: int = 224, classes: int = 1000,
            standard_conv: bool = False, include_top: bool = True) -> Profile:
    """Per-layer params and mult-adds of a configuration, with totals (no TensorFlow needed).

    Args are those of `mobikit.build_model`; the result's `layers` follow the paper's table row by row.
    """
    config = Config(arch, float(alpha), int(resolution), int(classes), include_top, standard_conv)
    costs = [layer_cost(spec) for spec in plan(config)]
    return Profile(arch, config.alpha, config.resolution, sum(c.params for c in costs),
                   sum(c.macs for c in costs), costs)

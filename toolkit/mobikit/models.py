"""The Keras builder that walks the layer plan of `mobikit.architectures`, and the ImageNet weights it loads.

Layer names, padding and weight order follow `keras.applications.MobileNet` / `MobileNetV2`, so the official
ImageNet weight files load unchanged.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .architectures import Config, LayerSpec, plan
from .errors import MobikitError, UsageError, first_line
from .outputs import check_target, new_file

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



def _keras_layers(config: Config, specs: list[LayerSpec]):
    from .runtime import tensorflow

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
        raise UsageError("no ImageNet weights exist for the standard-conv V1: set {weights} to none or a weights "
                         "file", "weights")
    available = KERAS_IMAGENET[config.arch]
    if config.alpha not in available or config.resolution not in available[config.alpha]:
        listing = "; ".join(f"alpha {a}: {', '.join(map(str, r))}" for a, r in available.items())
        raise UsageError("keras publishes no ImageNet weights for {arch} {alpha_name} {alpha:g} at {resolution_name} "
                         "{resolution} (it has {listing}): set {weights} to none or a weights file", "weights",
                         arch=config.arch, alpha_name="alpha", alpha=config.alpha, resolution_name="resolution",
                         resolution=config.resolution, listing=listing)
    if config.classes != 1000 and config.include_top:
        raise UsageError("ImageNet weights have 1000 classes: set {classes} to 1000, or {weights} to none",
                         "classes", "weights")
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
    from .runtime import tensorflow

    subdir = "mobilenet/" if config.arch == "v1" else "mobilenet_v2/"
    try:
        return Path(tensorflow().keras.utils.get_file(file_name, _KERAS_BASE_URL + subdir + file_name,
                                                      cache_subdir="models"))
    except Exception as exc:  # keras raises a bare Exception when the download fails
        raise MobikitError(
            "ImageNet weights {file} are not in the keras cache ({cached}) and could not be downloaded ({reason}). "
            "Either set {weights} to none (random initialisation), or put {file} into {folder} (set KERAS_HOME to "
            "use another cache folder).", "weights", file=file_name, cached=str(candidates[0]),
            reason=first_line(exc), folder=str(candidates[0].parent)) from None


def build_model(arch: str = "v1", alpha: float = 1.0, resolution: int = 224, classes: int = 1000,
                include_top: bool = True, weights: str | os.PathLike | None = "imagenet",
                standard_conv: bool = False):
    """Build MobileNet V1 or V2 from its paper's table, layer for layer as `keras.applications` builds it.

    Args:
        arch: "v1" (Howard et al. 2017, Table 1) or "v2" (Sandler et al. 2018, Table 2).
        alpha: width multiplier α: every layer's channel count is scaled by it (V2 rounds to multiples of 8).
        resolution: input size R of the square R×R×3 RGB input, values in [-1, 1] (`mobikit.preprocess`).
        classes: classifier outputs (ImageNet weights need 1000).
        include_top: end with global pooling, dropout and the softmax classifier; False stops at the last
            feature map (the backbone a new head is trained on).
        weights: "imagenet" (the keras cache, then the files mobikit ships, then keras' download), None / "none"
            (random initialisation), or a `.h5` / `.weights.h5` / `.keras` file.
        standard_conv: V1 only: full 3×3 convolutions instead of depthwise + pointwise (the paper's Table 4).

    Returns:
        An uncompiled `keras.Model` named like keras' own (`mobilenet_0.25_128`, `mobilenetv2_1.00_224`).
    """
    config = Config(arch, float(alpha), int(resolution), int(classes), include_top, standard_conv)
    specs = plan(config)
    weights_path = None
    if weights == "imagenet":
        weights_path = resolve_imagenet_weights(config)
    elif weights not in (None, "none"):
        weights_path = weights_file(weights)
    model = _keras_layers(config, specs)
    if weights_path is not None:
        try:
            model.load_weights(str(weights_path))
        except Exception as exc:
            raise MobikitError("cannot load weights {path} into {model}: {reason}", path=str(weights_path),
                               model=config.name, reason=first_line(exc)) from None
    return model


def weights_file(weights: str | os.PathLike) -> Path:
    """A weights file given by path: it must exist and be .h5, .weights.h5 or .keras."""
    path = Path(weights)
    if path.is_dir():
        raise UsageError("{weights} takes a weights file, not a folder: {path}", "weights", path=str(path))
    if not path.is_file():
        raise UsageError("{weights} file not found: {path}", "weights", path=str(path))
    if not path.name.endswith((".h5", ".keras")):
        raise UsageError("{weights} must be imagenet, none, or a .h5, .weights.h5 or .keras file, got {name}",
                         "weights", name=path.name)
    check_keras_archive(path, "weights")
    return path


def check_given_weights(weights: str | os.PathLike | None) -> None:
    """A `--weights` value the user gave, checked before TensorFlow loads: a file Keras would refuse only after the
    model is built is a usage error here (a corrupt file in keras' cache stays a runtime failure of the build);
    "imagenet" and none pass."""
    if weights in (None, "none", "imagenet"):
        return
    path = weights_file(weights)
    check_keras_format(path, "weights")
    if path.suffix == ".keras":
        import zipfile

        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                raise UsageError("{weights} {path} holds no model.weights.h5: not a model Keras saved", "weights",
                                 path=str(path))


MAX_KERAS_BYTES = 1 << 30  # a MobileNet .keras holds tens of MB (V2 α1.4 float: ~25 MB); more is not one


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_keras_format(path: Path, param: str) -> None:
    """What Keras 3 loads, told before TensorFlow is imported (its own message runs on for lines): a `.keras` file
    is a zip archive, a legacy `.h5`/`.hdf5` file an HDF5 file."""
    import zipfile

    suffix = path.suffix.lower()
    if suffix == ".keras" and zipfile.is_zipfile(path):
        return
    if suffix in (".h5", ".hdf5"):
        with open(path, "rb") as stream:
            if stream.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return
    what = {".keras": "a .keras file is a zip archive and this one is not",
            ".h5": "a .h5 file is an HDF5 file and this one is not",
            ".hdf5": "an .hdf5 file is an HDF5 file and this one is not"}.get(
        suffix, "expected a .keras file (as model.save writes) or a legacy .h5 file")
    raise UsageError("{%s} {path} is not a Keras model: %s" % (param, what), param, path=str(path))


def check_keras_archive(path: Path, param: str) -> None:
    """Refuse, from its zip directory alone, a .keras archive whose members would unpack to more than
    MAX_KERAS_BYTES (Keras reads whole members into memory: a few GB declared cost GBs before any error)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return  # not a .keras archive (an .h5 file, or garbage Keras will name)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    declared = sum(member.file_size for member in members)
    if declared > MAX_KERAS_BYTES or len(members) > 100_000:
        raise UsageError("{%s} {path} declares {size} GB in {count} members; a MobileNet .keras holds tens of MB, "
                         "so mobikit does not unpack it" % param, param, path=str(path),
                         size=f"{declared / 1e9:.1f}", count=len(members))


def save_model(model, output: str | os.PathLike, inputs=()) -> Path:
    """Save a Keras model as a `.keras` file through the output policy (atomic; replaces only mobikit's own)."""
    with new_file(output, "keras-model", inputs) as tmp:
        model.save(tmp)
    return Path(output)


def build_to_file(output: str | os.PathLike, arch: str = "v1", alpha: float = 1.0, resolution: int = 224,
                  classes: int = 1000, weights: str | os.PathLike | None = "imagenet",
                  standard_conv: bool = False) -> Path:
    """`build_model`, saved as a `.keras` file; the output is checked before anything is built."""
    check_target(output, "keras-model", (weights if weights not in (None, "none", "imagenet") else None,))
    check_given_weights(weights)
    return save_model(build_model(arch, alpha, resolution, classes, True, weights, standard_conv), output)


def load_keras_image_model(path: str | os.PathLike, param: str = "model"):
    """A saved Keras classifier with one square RGB image input, or a UsageError saying what is wrong."""
    from .runtime import tensorflow

    if not Path(path).is_file():
        raise UsageError("{model} not found: {path}", param, path=str(path))
    check_keras_format(Path(path), param)
    check_keras_archive(Path(path), param)
    try:
        model = tensorflow().keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise UsageError("{model} {path} is not a Keras model: {reason}", param, path=str(path),
                         reason=first_line(exc)) from None
    shape = model.input_shape
    if not (isinstance(shape, tuple) and len(shape) == 4 and shape[3] == 3 and shape[1] == shape[2] and shape[1]):
        raise UsageError("{model} {path} does not take a square RGB image: input shape {shape}", param,
                         path=str(path), shape=shape)
    if len(model.output_shape) != 2:
        raise UsageError("{model} {path} is not a classifier: output shape {shape}", param, path=str(path),
                         shape=model.output_shape)
    return as_functional(model)


def as_functional(model):
    """A Sequential model rebuilt as a functional one of fresh layers with the same weights: the graph walks (the
    input grid's fold, the QAT simulation) read a model from its InputLayer along each layer's own inbound node,
    which a Sequential model lacks."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    if not isinstance(model, keras.Sequential):
        return model
    inputs = keras.Input(batch_shape=model.input_shape)
    x = inputs
    for layer in model.layers:
        fresh = layer.__class__.from_config(layer.get_config())
        x = fresh(x)
        fresh.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name=model.name)


def ends_in_softmax(model) -> bool:
    """Whether the model's last layer is a softmax (the phone app then shows its outputs as probabilities)."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") == "softmax"

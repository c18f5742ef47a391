"""Host inference: quantizing inputs, dequantizing outputs, the host delegate, and the classifier over an image set,
on tiny real TFLite models of every I/O kind (fast, in-process, TensorFlow never imported: benchmarks/mutation.py
runs this file against each mutant of mobikit.inference)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mobikit.errors import MobikitError, UsageError
from mobikit.images import ImageSet
from mobikit.inference import (BATCH, HOST_DELEGATE_ENV, Predictions, TFLiteClassifier, default_host_delegate,
                               dequantize_array, labels_of, make_interpreter, predict_all, quantize_array, replay)
from mobikit.labels import ClassList, generic, imagenet
from mobikit.progress import Reporter

from support import noise_images

KINDS = ("float32", "int8", "uint8", "int8_float_io")
SYNSETS = ("n01440764", "n01443537", "n01484850")  # ImageNet classes 0, 1, 2


def test_quantize_array_rounds_half_to_even_and_clamps():
    real = np.array([-100.0, -1.0, -0.25, 0.25, 0.75, 1.25, 100.0])
    q = quantize_array(real, np.int8, 0.5, 1)  # round(real / 0.5) + 1, numpy rounding: -0.5 → -0, 0.5 → 0, 1.5 → 2
    assert q.dtype == np.int8 and q.tolist() == [-128, -1, 1, 1, 3, 3, 127]
    u = quantize_array(real, np.uint8, 0.5, 128)
    assert u.dtype == np.uint8 and u.tolist() == [0, 126, 128, 128, 130, 130, 255]
    assert quantize_array(np.array([-129.0, 128.0]), np.int8, 1.0, 0).tolist() == [-128, 127]
    assert quantize_array(np.array([-0.5, 0.5]), np.int8, 1.0, 0).tolist() == [0, 0]


def test_quantize_array_passes_floats_and_unquantized_tensors_through():
    real = np.array([0.123456789, -2.5])
    as_float = quantize_array(real, np.float32, 0.5, 3)
    assert as_float.dtype == np.float32 and as_float.tolist() == real.astype(np.float32).tolist()
    unscaled = quantize_array(np.array([3.0, -2.0]), np.int8, 0.0, 0)  # scale 0: no quantization parameters
    assert unscaled.dtype == np.int8 and unscaled.tolist() == [3, -2]


def test_dequantize_array():
    values = dequantize_array(np.array([-128, 0, 127], dtype=np.int8), 0.5, -128)
    assert values.dtype == np.float32 and values.tolist() == [0.0, 64.0, 127.5]
    assert dequantize_array(np.array([0, 255], dtype=np.uint8), 1 / 256, 0).tolist() == [0.0, 255 / 256]
    floats = dequantize_array(np.array([0.25, -1.5], dtype=np.float64), 0.5, 7)
    assert floats.dtype == np.float32 and floats.tolist() == [0.25, -1.5]
    unscaled = dequantize_array(np.array([3, -2], dtype=np.int8), 0.0, 5)
    assert unscaled.dtype == np.float32 and unscaled.tolist() == [3.0, -2.0]


def test_default_host_delegate_from_the_environment(monkeypatch):
    monkeypatch.delenv(HOST_DELEGATE_ENV, raising=False)
    assert default_host_delegate() == "xnnpack"
    for value, expected in ((" CPU ", "cpu"), ("xnnpack", "xnnpack"), ("", "xnnpack"), ("  ", "xnnpack")):
        monkeypatch.setenv(HOST_DELEGATE_ENV, value)
        assert default_host_delegate() == expected
    monkeypatch.setenv(HOST_DELEGATE_ENV, "gpu")
    with pytest.raises(UsageError) as info:
        default_host_delegate()
    assert str(info.value) == "$MOBIKIT_HOST_DELEGATE is 'gpu': choose xnnpack or cpu"


def test_make_interpreter_from_a_path_or_bytes_with_either_delegate(tiny_kinds, monkeypatch):
    path = tiny_kinds / "int8.tflite"
    for source in (path, str(path), path.read_bytes(), bytearray(path.read_bytes())):
        for delegate in ("xnnpack", "cpu", None):
            interpreter = make_interpreter(source, threads=1, delegate=delegate)
            assert interpreter.get_input_details()[0]["shape"].tolist() == [1, 8, 8, 3]
            interpreter.invoke()  # tensors are allocated
    monkeypatch.setenv(HOST_DELEGATE_ENV, "cpu")
    assert make_interpreter(path).get_input_details()[0]["dtype"] == np.int8
    with pytest.raises(UsageError) as info:
        make_interpreter(path, delegate="gpu")
    assert str(info.value) == "unknown host delegate 'gpu': choose xnnpack or cpu"
    with pytest.raises(MobikitError) as info:
        make_interpreter(b"not a flatbuffer")
    assert str(info.value) == "LiteRT cannot load the model: The model is not a valid Flatbuffer buffer"


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc (Linux)")
def test_the_thread_count_reaches_the_interpreter(tiny_kinds):
    """XNNPACK starts threads - 1 workers as the interpreter is made (the reference kernels start theirs lazily):
    the thread count is what makes them, so it must arrive."""
    path = tiny_kinds / "int8.tflite"
    for threads, delegate, workers in ((1, "xnnpack", 0), (3, "xnnpack", 2), (3, "cpu", 0)):
        before = _threads()
        interpreter = make_interpreter(path, threads, delegate)
        assert _threads() - before == workers, (threads, delegate)
        del interpreter
    before = _threads()
    default = make_interpreter(path, delegate="xnnpack")
    assert _threads() - before == 1  # 2 threads by default
    classifier = TFLiteClassifier(path)
    assert _threads() - before == 2  # and the classifier's default is 2 as well
    four = TFLiteClassifier(path, threads=4)
    assert _threads() - before == 5
    del default, classifier, four


def _by_hand(path, images):
    """Scores computed without mobikit: LiteRT's own interpreter, quantization written out in the test. A model
    without metadata takes its pixels p as (p − 127.5) / 127.5, quantized with its input scale and zero point,
    except a uint8 input, which takes p itself (its own quantization is its normalization)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scores = []
    for image in images:
        pixels = np.rint(image.astype(np.float64) * 127.5 + 127.5)
        value = ((pixels - 127.5) / 127.5)[None]
        if source["dtype"] == np.float32:
            value = value.astype(np.float32)
        elif source["dtype"] == np.uint8:
            value = pixels[None].astype(np.uint8)
        else:
            scale, zero = source["quantization"]
            info = np.iinfo(source["dtype"])
            value = np.clip(np.rint(value / scale) + zero, info.min, info.max).astype(source["dtype"])
        interpreter.set_tensor(source["index"], value)
        interpreter.invoke()
        out = interpreter.get_tensor(target["index"])[0]
        if target["dtype"] != np.float32:
            scale, zero = target["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        scores.append(out)
    return np.stack(scores)


@pytest.mark.parametrize("kind", KINDS)
def test_classifier_scores_equal_the_interpreter_by_hand(tiny_kinds, kind):
    probe = np.load(tiny_kinds / "probe.npy")
    classifier = TFLiteClassifier(tiny_kinds / f"{kind}.tflite", threads=1)
    assert (classifier.resolution, classifier.classes) == (8, 3)
    scores = classifier(probe)
    assert scores.dtype == np.float32 and scores.shape == (4, 3)
    np.testing.assert_array_equal(scores, _by_hand(tiny_kinds / f"{kind}.tflite", probe))
    # and close to the Keras model it was converted from: float exactly, int8 within 4 steps of the 1/256 output
    # scale (measured: at most 2 steps on this model)
    keras_scores = np.load(tiny_kinds / "keras_scores.npy")
    assert np.abs(scores - keras_scores).max() <= (1e-5 if kind == "float32" else 4 / 256)


@pytest.mark.parametrize("kind,shape", [("vector", "[1, 10]"), ("wide", "[1, 8, 6, 3]"), ("gray", "[1, 8, 8, 1]")])
def test_classifier_refuses_a_model_that_takes_no_square_rgb_image(tiny_kinds, kind, shape):
    with pytest.raises(UsageError) as info:
        TFLiteClassifier(tiny_kinds / f"{kind}.tflite")
    assert str(info.value) == f"not an image classifier: input shape {shape}, expected [1, R, R, 3]"


def test_keras_predictor_runs_the_model_in_inference_mode():
    from mobikit.inference import keras_predictor
    from mobikit.runtime import tensorflow

    keras = tensorflow().keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dropout(0.5)(keras.layers.Dense(8)(inputs)))  # dropout: training only
    images = np.random.default_rng(0).uniform(-1, 1, (3, 4)).astype(np.float32)
    scores = keras_predictor(model)(images)
    assert isinstance(scores, np.ndarray) and scores.shape == (3, 8)
    np.testing.assert_allclose(scores, images @ model.layers[1].kernel.numpy() + model.layers[1].bias.numpy(),
                               rtol=1e-5, atol=1e-6)


def test_replay_hands_back_earlier_scores_in_order():
    scores = np.arange(10.0).reshape(5, 2)
    predict = replay(scores)
    np.testing.assert_array_equal(predict(np.zeros((2, 1))), scores[:2])
    np.testing.assert_array_equal(predict(np.zeros((3, 1))), scores[2:5])


def test_predictions_labelled_only_when_every_image_has_a_label():
    assert not Predictions().labelled
    assert not Predictions(labels=[1, None]).labelled
    assert Predictions(labels=[0, 2]).labelled


def test_predict_all_streams_every_model_over_the_images_in_order(tiny_kinds, tmp_path):
    names = [f"{SYNSETS[i % 3]}_{i:02d}.png" for i in range(BATCH + 3)]  # two batches
    folder = noise_images(tmp_path / "images", names, size=12)
    (folder / "n01440764_99.png").write_bytes(b"not an image")  # skipped, with a warning
    paths = sorted(folder.iterdir())
    images = ImageSet(paths, 8, folder)
    int8, float_model = (TFLiteClassifier(tiny_kinds / f"{kind}.tflite") for kind in ("int8", "float32"))
    reporter = Reporter()
    result = predict_all(images, {"int8": int8, "float": float_model}, imagenet(), reporter)
    readable = [p for p in paths if p.name != "n01440764_99.png"]
    assert result.paths == readable
    assert result.labels == [SYNSETS.index(p.name[:9]) for p in readable] and result.labelled
    stacked = np.stack([image for _, image in ImageSet(readable, 8, folder).items()])
    for name, model in (("int8", int8), ("float", float_model)):
        assert result.scores[name].shape == (len(readable), 3)
        np.testing.assert_array_equal(result.scores[name], model(stacked))
    assert reporter.warnings == [images.skipped_message()]  # the image set's own words, once
    assert images.skipped_message().startswith(f"skipped 1 of {len(paths)} files")
    assert labels_of(images, imagenet()) == [SYNSETS.index(p.name[:9]) for p in paths]  # the unreadable one too
    assert labels_of(images, generic(3)) == [None] * len(paths)


class Recording(Reporter):
    """A reporter that keeps what predict_all tells it: (total, description) and the units of each item."""

    def __init__(self):
        super().__init__()
        self.tracked, self.units = [], []

    def track(self, items, total, description, count=lambda item: 1):
        self.tracked.append((total, description))
        for item in super().track(items, total, description, count):
            self.units.append(count(item))
            yield item


def test_predict_all_reports_progress_in_images_per_batch(tiny_kinds, tmp_path):
    folder = noise_images(tmp_path / "images", [f"{i:02d}.png" for i in range(BATCH + 3)], size=12)
    images = ImageSet(sorted(folder.iterdir()), 8, folder)
    reporter = Recording()
    predict_all(images, {"m": TFLiteClassifier(tiny_kinds / "float32.tflite")}, generic(3), reporter)
    assert reporter.tracked == [(BATCH + 3, "evaluating")] and reporter.units == [BATCH, 3]
    predict_all(images, {"m": TFLiteClassifier(tiny_kinds / "float32.tflite")}, generic(3), reporter, "checking")
    assert reporter.tracked[-1] == (BATCH + 3, "checking")


def test_class_folders_label_images_relative_to_the_root_or_the_working_folder(tiny_kinds, tmp_path, monkeypatch):
    classes = ClassList(("", "", ""), ("daisy", "roses", "tulips"))
    for name in classes.names:
        noise_images(tmp_path / "data" / name, [f"{name}.png"], size=12)
    paths = sorted((tmp_path / "data").rglob("*.png"))
    model = {"m": TFLiteClassifier(tiny_kinds / "float32.tflite")}
    rooted = ImageSet(paths, 8, tmp_path / "data")
    assert labels_of(rooted, classes) == [0, 1, 2] and predict_all(rooted, model, classes).labels == [0, 1, 2]
    monkeypatch.chdir(tmp_path / "data")  # no root: paths relative to the working folder
    relative = ImageSet([p.relative_to(tmp_path / "data") for p in paths], 8)
    assert labels_of(relative, classes) == [0, 1, 2] and predict_all(relative, model, classes).labels == [0, 1, 2]


def test_a_synset_name_that_is_not_a_class_leaves_the_label_to_the_folder(tmp_path):
    """ImageNet photos copied into a user's class folders keep their synset file names: for a model of the user's
    classes the folder labels them; for an ImageNet model the synset in the name still does."""
    from mobikit.labels import label_of

    root = tmp_path / "data"
    photo = root / "tulips" / "n01440764_10026.JPEG"
    flowers = ClassList(("", "", ""), ("daisy", "roses", "tulips"))
    assert label_of(photo, root, flowers) == 2
    assert label_of(photo, root, imagenet()) == imagenet().index_of("n01440764") == 0
    assert label_of(root / "n99999999_1.JPEG", root, flowers) is None  # no folder, no class of this model
    assert label_of(root / "N01440764_10026.JPEG", root, imagenet()) == 0  # a synset in capitals, as a folder may be


def test_a_folder_named_after_two_imagenet_classes_labels_nothing(tmp_path):
    """ImageNet has two classes named "crane" (the bird, the machine) and two "maillot": a folder of that name took
    whichever came last, silently. It labels nothing now; the synset (file name or folder) still does."""
    from mobikit.labels import label_of

    root = tmp_path / "data"
    crane = imagenet().index_of("n02012849")
    assert imagenet().names[crane] == "crane" and imagenet().names.count("crane") == 2
    assert label_of(root / "crane" / "bird.JPEG", root, imagenet()) is None
    assert label_of(root / "crane" / "n02012849_1.JPEG", root, imagenet()) == crane
    assert label_of(root / "n02012849" / "bird.JPEG", root, imagenet()) == crane
    assert label_of(root / "white stork" / "bird.JPEG", root, imagenet()) == imagenet().index_of("white_stork")


def test_predict_all_of_no_images_gives_empty_scores_per_class(tmp_path):
    class Nothing(ImageSet):
        def batches(self, size=32):
            return iter(())

    result = predict_all(Nothing([], 8, tmp_path), {"m": lambda batch: batch}, generic(5))
    assert result.scores["m"].shape == (0, 5) and result.paths == [] and not result.labelled


def test_the_input_normalization_comes_from_the_model_metadata(tiny_kinds, tmp_path):
    """A model whose metadata records one mean and std takes its pixels that way; no metadata, or metadata that
    cannot be read, means the float rule; per-channel values mobikit cannot feed are refused."""
    from mobikit.input_grid import FLOAT_INPUT, GRID, Normalization
    from mobikit.inference import model_normalization
    from mobikit.metadata import ClassifierMetadata, attach_metadata

    plain = (tiny_kinds / "int8.tflite").read_bytes()
    assert model_normalization(plain) == FLOAT_INPUT and model_normalization(tiny_kinds / "int8.tflite") == FLOAT_INPUT
    grid = attach_metadata(plain, ClassifierMetadata("tiny", ("a", "b", "c"), (128.0,) * 3, (128.0,) * 3))
    (tmp_path / "grid.tflite").write_bytes(grid)
    assert model_normalization(grid) == GRID == Normalization(128.0, 128.0)
    assert model_normalization(str(tmp_path / "grid.tflite")) == GRID  # a path, read from the file
    assert TFLiteClassifier(grid).normalization == GRID
    assert TFLiteClassifier(grid, normalization=FLOAT_INPUT).normalization == FLOAT_INPUT  # an override wins
    odd = attach_metadata(plain, ClassifierMetadata("tiny", ("a", "b", "c"), (127.0, 128.0, 129.0), (128.0,) * 3))
    with pytest.raises(UsageError) as info:
        model_normalization(odd)
    assert str(info.value) == ("the model's metadata normalizes channels differently (mean [127.0, 128.0, 129.0], "
                               "std [128.0, 128.0, 128.0]); mobikit feeds one mean and std to all three")

"""Tiny TFLite classifiers (8×8×3 → 3 classes) made by the real TensorFlow converter in a child process and cached:
the fast tests of inference and latency load them with LiteRT without importing TensorFlow themselves, so a mutation
run (benchmarks/mutation.py) can run those tests once per mutant in a second or two."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

KINDS = ("float32", "int8", "uint8", "int8_float_io")

_SCRIPT = r'''
import json, sys
from pathlib import Path
import numpy as np
import tensorflow as tf

folder = Path(sys.argv[1])
tf.keras.utils.set_random_seed(0)
inputs = tf.keras.Input((8, 8, 3), batch_size=1)
x = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
x = tf.keras.layers.GlobalAveragePooling2D()(x)
outputs = tf.keras.layers.Softmax()(tf.keras.layers.Dense(3)(x))
model = tf.keras.Model(inputs, outputs)
rng = np.random.default_rng(0)
samples = [rng.uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32) for _ in range(16)]
for kind in ("float32", "int8", "uint8", "int8_float_io"):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([s] for s in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = {"int8": tf.int8, "uint8": tf.uint8, "int8_float_io": tf.float32}[kind]
        converter.inference_input_type = converter.inference_output_type = io
    (folder / f"{kind}.tflite").write_bytes(converter.convert())
for kind, shape in (("wide", (8, 6, 3)), ("gray", (8, 8, 1))):  # not a square RGB image: refused as classifiers
    other_in = tf.keras.Input(shape, batch_size=1)
    other = tf.keras.Model(other_in, tf.keras.layers.Dense(3)(tf.keras.layers.GlobalAveragePooling2D()(other_in)))
    (folder / f"{kind}.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(other).convert())
vector_in = tf.keras.Input((10,), batch_size=1)
vector = tf.keras.Model(vector_in, tf.keras.layers.Dense(3)(vector_in))
(folder / "vector.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(vector).convert())
probe = (rng.integers(0, 256, (4, 8, 8, 3)).astype(np.float32) - 127.5) / 127.5  # host images: pixels normalized
np.save(folder / "probe.npy", probe)
np.save(folder / "keras_scores.npy", model.predict(probe, verbose=0))
'''


def tiny_models(cache_root: Path) -> Path:
    """The folder holding `<kind>.tflite` for every kind, `vector.tflite`, `wide.tflite` (8×6×3), `gray.tflite` (8×8×1) (not RGB image classifiers), `probe.npy` (4 host images: pixels p as p / 127.5 − 1) and `keras_scores.npy` (the float
    Keras model's scores on them); made once per script and TensorFlow version."""
    from importlib.metadata import version

    key = hashlib.sha256((_SCRIPT + version("tensorflow")).encode()).hexdigest()[:12]
    folder = cache_root / f"tiny-models-{key}"
    if not (folder / "keras_scores.npy").is_file():
        scratch = cache_root / f".tiny-models-{key}.partial"
        scratch.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", _SCRIPT, str(scratch)], check=True, capture_output=True, timeout=600)
        (scratch / "made.json").write_text(json.dumps({"kinds": KINDS}))
        scratch.rename(folder)
    return folder

"""Lazy, quiet TensorFlow import: the CLI stays instant and the console free of TF's start-up noise."""

import os
import sys
from contextlib import contextmanager


@contextmanager
def silenced_stderr():
    """Send file descriptor 2 to /dev/null: TF's C++ start-up logging ignores TF_CPP_MIN_LOG_LEVEL."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tensorflow():
    """Import TensorFlow with its C++ and Python log noise silenced, and return the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    with silenced_stderr():
        import absl.logging
        import tensorflow as tf

        absl.logging.set_verbosity(absl.logging.ERROR)
        tf.get_logger().setLevel("ERROR")
        tf.keras.layers.Input(shape=(1,))  # first Keras use logs once more from C++
    return tf

"""The runtime around the library: lazy, quiet TensorFlow (so the CLI stays instant and the console free of
TensorFlow's noise) and a private temporary folder per run.

TensorFlow's C++ runtime and its converter print straight to file descriptors 1 and 2 (TF_CPP_MIN_LOG_LEVEL does
not silence all of it), so the noisy calls run inside `captured_output`, which keeps the text for error reports.
"""

import os
import sys
import tempfile
import warnings
from contextlib import contextmanager


class CapturedOutput:
    text: str = ""


@contextmanager
def captured_output():
    """Collect everything written to fds 1 and 2 (C++ and Python alike) while the block runs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    captured = CapturedOutput()
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")


_stop_signal: list[int] = []  # the signal that asked the run to stop, once one did


def request_stop(signal_number: int) -> None:
    """Record that the run must stop (the CLI's SIGINT/SIGTERM handler calls this, then raises KeyboardInterrupt)."""
    if not _stop_signal:
        _stop_signal.append(signal_number)


def stop_requested() -> int | None:
    return _stop_signal[0] if _stop_signal else None


def raise_if_stopped() -> None:
    """Stop here if a stop was requested. Library code a KeyboardInterrupt may pass through without surviving (e.g.
    TensorFlow turning it into another error) calls this, so a requested stop always stops the run."""
    if _stop_signal:
        raise KeyboardInterrupt


def tensorflow():
    """Import TensorFlow with its start-up noise silenced, and return the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    with captured_output():
        import absl.logging
        import tensorflow as tf

        absl.logging.set_verbosity(absl.logging.ERROR)
        tf.get_logger().setLevel("ERROR")
        tf.keras.layers.Input(shape=(1,))  # first Keras use logs once more from C++
    return tf


@contextmanager
def private_tempdir():
    """Point every temporary file of the run (TensorFlow's SavedModel exports, autograph modules, mobikit's own
    scratch files) into one fresh folder, removed when the block ends — however it ends."""
    import shutil

    folder = tempfile.mkdtemp(prefix="mobikit-")
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = folder
    os.environ["TMPDIR"] = folder
    try:
        yield folder
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(folder, ignore_errors=True)


def library_versions() -> dict:
    """The versions of mobikit and the libraries behind its numbers, as output folders record them."""
    from importlib import metadata

    from . import __version__

    versions = {"mobikit": __version__}
    for name in ("tensorflow", "keras", "ai-edge-litert", "numpy", "opencv-python"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def wait_for_stop() -> None:
    """Block until SIGINT/SIGTERM (the CLI turns both into KeyboardInterrupt)."""
    import threading

    while True:
        raise_if_stopped()
        threading.Event().wait(0.5)

"""A simulated Android phone for the device tests: a Python adbd that the real adb server talks to over TCP."""

from .device import SimDevice

__all__ = ["SimDevice"]

"""mobikit: MobileNet from the papers' tables to an int8 model measured on a phone.

Importing the package is cheap: TensorFlow is imported only by the functions that need it.
"""

__version__ = "0.1.0"

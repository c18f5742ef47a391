"""The numbers every entry point (Python API, command line, benchmarks) defaults to, defined once."""

CALIBRATION_SAMPLES = 200  # calibration images taken from a larger folder (seeded sample)
HOLDOUT_SAMPLES = 1000  # verification images taken from a calibration folder's leftovers, at most
MAX_DROP = 0.4  # fallback target: top-1 points below float, with labelled evaluation images
MIN_TARGET_IMAGES = 200  # the default target applies only from here: one image must weigh under ~0.5 points
MIN_AGREEMENT = 97.0  # fallback target: % top-1 agreement with float, unlabelled images (bias-corrected int8
# reaches 92–97 % on the benchmarks)
MAX_FALLBACK_LAYERS = 5
MAX_LATENCY_RATIO = 1.15  # a fallback candidate may cost at most this × the full-integer model's latency
THREADS = 2

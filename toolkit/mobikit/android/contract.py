"""The contract between mobikit and the demo Android app, defined once.

The app's Kotlin `core` mirrors every constant here (`org.mobikit.demo.core.Contract`); a cross-language test
compares them. Paths are the app's external files folders (`getExternalFilesDir(...)`), which adb can write into
once the app has created them.
"""

PACKAGE = "org.mobikit.demo"
MAIN_ACTIVITY = f"{PACKAGE}.MainActivity"
BENCHMARK_ACTIVITY = f"{PACKAGE}.BenchmarkActivity"

EXTERNAL_FILES_DIR = f"/sdcard/Android/data/{PACKAGE}/files"
MODELS_SUBDIR = "models"  # getExternalFilesDir("models"): one folder per deployed model
RESULTS_SUBDIR = "bench"  # getExternalFilesDir("bench"): one <result_id>.json per benchmark run
MODELS_DIR = f"{EXTERNAL_FILES_DIR}/{MODELS_SUBDIR}"
RESULTS_DIR = f"{EXTERNAL_FILES_DIR}/{RESULTS_SUBDIR}"

# The files of a quantize output folder that the app reads.
MODEL_FILE = "model.tflite"
LABELS_FILE = "labels.txt"
MODEL_JSON = "model.json"
MODEL_FILES = (MODEL_FILE, LABELS_FILE, MODEL_JSON)

# Intent extras (`am start ... --es/--ei`).
EXTRA_MODEL = "model"  # model folder name under MODELS_DIR (both activities)
EXTRA_DELEGATE = "delegate"
EXTRA_THREADS = "threads"
EXTRA_WARMUP_RUNS = "warmup_runs"
EXTRA_NUM_RUNS = "num_runs"
EXTRA_RESULT_ID = "result_id"  # BenchmarkActivity: the result's name; both activities: echoed in their logcat line
EXTRA_WARMUP_MIN_SECS = "warmup_min_secs"  # benchmark_model's --warmup_min_secs
EXTRA_MIN_SECS = "min_secs"  # benchmark_model's --min_secs
EXTRA_MAX_SECS = "max_secs"  # benchmark_model's --max_secs
EXTRA_SHA256 = "sha256"  # MainActivity imports the deployed model only when model.tflite has this sha256

DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi")

# Benchmark result JSON written to RESULTS_DIR/<result_id>.json: the host bench keys plus the device's identity.
RESULT_KEYS = ("device", "model", "threads", "delegate", "runs", "init_ms", "first_ms", "mean_ms", "median_ms",
               "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms", "std_ms", "size_bytes", "peak_rss_mb", "error",
               "device_model", "soc", "android", "timing", "wall_mean_ms", "wall_median_ms", "warmup_runs",
               "warmup_mean_ms", "interrupted", "delegate_used", "delegate_nodes", "graph_nodes", "delegate_note",
               "result_id")
RESULT_SUFFIX = ".json"
LOGCAT_TAG = "mobikit"
LOGCAT_PREFIX = "MOBIKIT_BENCH"  # one line "MOBIKIT_BENCH <json>" per finished benchmark
LOGCAT_MODEL_PREFIX = "MOBIKIT_MODEL"  # one line "MOBIKIT_MODEL <json>" each time the camera screen loads a model
MODEL_KEYS = ("model", "sha256", "origin", "delegate", "delegate_used", "delegate_nodes", "graph_nodes", "error",
              "result_id")  # result_id: the extra of the intent that asked for this model, so deploy finds its line

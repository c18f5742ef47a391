package org.mobikit.demo.core

/**
 * The app side of `mobikit.android.contract`: the names mobikit uses over adb to push models, start the
 * activities and collect benchmark results. A cross-language test keeps every constant equal to the Python ones.
 */
object Contract {
    const val PACKAGE = "org.mobikit.demo"
    const val MAIN_ACTIVITY = "$PACKAGE.MainActivity"
    const val BENCHMARK_ACTIVITY = "$PACKAGE.BenchmarkActivity"

    const val EXTERNAL_FILES_DIR = "/sdcard/Android/data/$PACKAGE/files"
    const val MODELS_SUBDIR = "models"
    const val RESULTS_SUBDIR = "bench"
    const val MODELS_DIR = "$EXTERNAL_FILES_DIR/$MODELS_SUBDIR"
    const val RESULTS_DIR = "$EXTERNAL_FILES_DIR/$RESULTS_SUBDIR"

    const val MODEL_FILE = "model.tflite"
    const val LABELS_FILE = "labels.txt"
    const val MODEL_JSON = "model.json"
    val MODEL_FILES = listOf(MODEL_FILE, LABELS_FILE, MODEL_JSON)

    const val EXTRA_MODEL = "model"
    const val EXTRA_DELEGATE = "delegate"
    const val EXTRA_THREADS = "threads"
    const val EXTRA_WARMUP_RUNS = "warmup_runs"
    const val EXTRA_NUM_RUNS = "num_runs"
    const val EXTRA_RESULT_ID = "result_id"
    const val EXTRA_WARMUP_MIN_SECS = "warmup_min_secs"
    const val EXTRA_MIN_SECS = "min_secs"
    const val EXTRA_MAX_SECS = "max_secs"
    const val EXTRA_SHA256 = "sha256"

    val DELEGATES = listOf("cpu", "xnnpack", "gpu", "nnapi")

    val RESULT_KEYS = listOf(
        "device", "model", "threads", "delegate", "runs", "init_ms", "first_ms", "mean_ms", "median_ms",
        "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms", "std_ms", "size_bytes", "peak_rss_mb", "error",
        "device_model", "soc", "android", "timing", "wall_mean_ms", "wall_median_ms", "warmup_runs", "warmup_mean_ms",
        "interrupted",
        "delegate_used", "delegate_nodes", "graph_nodes", "delegate_note", "result_id",
    )
    const val RESULT_SUFFIX = ".json"
    const val LOGCAT_TAG = "mobikit"
    const val LOGCAT_PREFIX = "MOBIKIT_BENCH"
    const val LOGCAT_MODEL_PREFIX = "MOBIKIT_MODEL"
    val MODEL_KEYS = listOf("model", "sha256", "origin", "delegate", "delegate_used", "delegate_nodes", "graph_nodes",
        "error", "result_id")
}

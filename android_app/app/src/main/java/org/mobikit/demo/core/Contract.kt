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

    val DELEGATES = listOf("cpu", "xnnpack", "gpu", "nnapi")

    val RESULT_KEYS = listOf(
        "device", "model", "threads", "delegate", "runs", "init_ms", "first_ms", "mean_ms", "median_ms",
        "p5_ms", "p90_ms", "p95_ms", "min_ms", "max_ms", "std_ms", "size_bytes", "peak_rss_mb", "error",
        "device_model", "soc", "android",
    )
    const val RESULT_SUFFIX = ".json"
    const val LOGCAT_TAG = "mobikit"
    const val LOGCAT_PREFIX = "MOBIKIT_BENCH"
}

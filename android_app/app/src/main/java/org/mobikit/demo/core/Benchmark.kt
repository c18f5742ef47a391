package org.mobikit.demo.core

import java.io.File
import java.nio.ByteBuffer
import java.util.concurrent.atomic.AtomicBoolean

/** What `mobikit bench --tool app` asked for, read from the intent extras named in [Contract]. */
data class BenchmarkRequest(
    val model: String?,
    val delegateId: String,
    val threads: Int,
    val warmupRuns: Int,
    val numRuns: Int,
    val resultId: String?,
) {
    val delegate: Delegate? get() = Delegate.fromId(delegateId)

    /** Why this request cannot run, or null when it can. */
    fun problem(): String? = when {
        resultId == null || !SAFE_NAME.matches(resultId) -> "missing or unsafe ${Contract.EXTRA_RESULT_ID} $resultId"
        model == null || !SAFE_NAME.matches(model) -> "missing or unsafe ${Contract.EXTRA_MODEL} $model"
        delegate == null -> "unknown delegate $delegateId: choose one of ${Contract.DELEGATES.joinToString()}"
        threads < 1 || warmupRuns < 0 || numRuns < 1 -> "threads and num_runs must be >= 1, warmup_runs >= 0"
        else -> null
    }

    /** Where the result goes under the app's results folder. */
    fun resultFile(resultsFolder: File): File? = resultId?.takeIf { SAFE_NAME.matches(it) }
        ?.let { File(resultsFolder, it + Contract.RESULT_SUFFIX) }

    companion object {
        const val DEFAULT_THREADS = 2
        const val DEFAULT_WARMUP_RUNS = 5
        const val DEFAULT_NUM_RUNS = 50

        /** A file or folder name without path tricks. */
        private val SAFE_NAME = Regex("[A-Za-z0-9_][A-Za-z0-9._-]*")

        /**
         * Reads the extras, whatever way they were typed on the `am start` line: `--ei threads 4` gives an Int,
         * `--es threads 4` a String; both mean 4. Unreadable numbers become -1 so [problem] reports them.
         */
        fun fromExtras(extras: Map<String, Any?>): BenchmarkRequest = BenchmarkRequest(
            model = extras[Contract.EXTRA_MODEL]?.toString(),
            delegateId = extras[Contract.EXTRA_DELEGATE]?.toString() ?: Delegate.DEFAULT.id,
            threads = intExtra(extras, Contract.EXTRA_THREADS, DEFAULT_THREADS),
            warmupRuns = intExtra(extras, Contract.EXTRA_WARMUP_RUNS, DEFAULT_WARMUP_RUNS),
            numRuns = intExtra(extras, Contract.EXTRA_NUM_RUNS, DEFAULT_NUM_RUNS),
            resultId = extras[Contract.EXTRA_RESULT_ID]?.toString(),
        )

        private fun intExtra(extras: Map<String, Any?>, key: String, default: Int): Int =
            when (val value = extras[key]) {
                null -> default
                is Number -> value.toInt()
                else -> value.toString().trim().toIntOrNull() ?: -1
            }
    }
}

/** The phone as the result JSON names it. */
data class DeviceIdentity(val device: String, val manufacturer: String, val model: String, val soc: String,
                          val androidRelease: String, val sdkLevel: Int) {
    val deviceModel: String
        get() = if (model.startsWith(manufacturer, ignoreCase = true)) model else "$manufacturer $model"
    val android: String get() = "$androidRelease (API $sdkLevel)"

    companion object {
        /** What Android reports for a property it does not know (`Build.UNKNOWN`). */
        private const val UNKNOWN = "unknown"

        /** The SoC name (Android 12+ reports it), else the hardware name older releases give. */
        fun socName(socManufacturer: String?, socModel: String?, hardware: String): String =
            listOfNotNull(socManufacturer, socModel).filter { it.isNotBlank() && it != UNKNOWN }
                .joinToString(" ").ifEmpty { hardware }
    }
}

/** Timings of one benchmark run, in milliseconds. */
data class Measurement(val initMs: Double, val firstMs: Double, val latenciesMs: List<Double>)

/**
 * The protocol of TFLite's benchmark_model and host `mobikit bench`: time creating the interpreter (init), one
 * first inference, untimed warm-up runs, then [BenchmarkRequest.numRuns] timed runs of inference alone. The
 * session is closed whatever happens.
 */
fun <T> measure(request: BenchmarkRequest, open: () -> T, invoke: (T) -> Unit, close: (T) -> Unit,
                clockNanos: () -> Long = System::nanoTime): Measurement {
    fun elapsedMs(since: Long) = (clockNanos() - since) / 1e6
    var start = clockNanos()
    val session = open()
    val initMs = elapsedMs(start)
    try {
        start = clockNanos()
        invoke(session)
        val firstMs = elapsedMs(start)
        repeat(request.warmupRuns) { invoke(session) }
        val latencies = List(request.numRuns) {
            start = clockNanos()
            invoke(session)
            elapsedMs(start)
        }
        return Measurement(initMs, firstMs, latencies)
    } finally {
        close(session)
    }
}

/**
 * One benchmark launch from request to result, the platform's parts passed in: [loadModel] gives the model bytes
 * (null when no such model), [open]/[invoke]/[close] drive the interpreter, [peakRssMb] reads the process's peak
 * memory. Whatever fails — a bad request, a missing model, a delegate whose native library is absent, an invoke
 * error — becomes a result with `error` set and no timings, so the host never waits for a result that never comes.
 */
fun <S> runBenchmark(
    request: BenchmarkRequest,
    identity: DeviceIdentity,
    loadModel: (String) -> ByteBuffer?,
    open: (ByteBuffer, Delegate, Int) -> S,
    invoke: (S) -> Unit,
    close: (S) -> Unit,
    peakRssMb: () -> Double?,
): BenchmarkResult {
    request.problem()?.let { return BenchmarkResult.failed(request, identity, null, it) }
    val name = checkNotNull(request.model)
    val delegate = checkNotNull(request.delegate)
    var sizeBytes: Long? = null
    return try {
        val model = loadModel(name)
            ?: return BenchmarkResult.failed(request, identity, null, modelNotFound(name))
        sizeBytes = model.capacity().toLong()
        val measurement = measure(request, open = { open(model, delegate, request.threads) }, invoke, close)
        BenchmarkResult(request, identity, measurement, sizeBytes, peakRssMb(), null)
    } catch (failure: Throwable) {
        BenchmarkResult.failed(request, identity, sizeBytes, failureText(failure))
    }
}

/**
 * At most one benchmark per process at a time, and none from a recreated activity: a second run would share
 * the CPU with the first, contaminate both timings and write the result twice.
 */
class BenchmarkGate {
    private val running = AtomicBoolean(false)

    /** True when this launch may start the benchmark; [recreated] is an activity rebuilt from saved state. */
    fun tryStart(recreated: Boolean): Boolean = !recreated && running.compareAndSet(false, true)

    fun finished() = running.set(false)
}

/** One benchmark result with exactly the keys of [Contract.RESULT_KEYS]; null where not measured. */
data class BenchmarkResult(
    val request: BenchmarkRequest,
    val identity: DeviceIdentity,
    val measurement: Measurement?,
    val sizeBytes: Long?,
    val peakRssMb: Double?,
    val error: String?,
) {
    fun toJsonObject(): Map<String, Any?> {
        val stats = measurement?.let { LatencyStats.of(it.latenciesMs) }
        val values = mapOf(
            "device" to identity.device, "model" to request.model, "threads" to request.threads,
            "delegate" to request.delegateId, "runs" to stats?.runs, "init_ms" to measurement?.initMs,
            "first_ms" to measurement?.firstMs, "mean_ms" to stats?.meanMs, "median_ms" to stats?.medianMs,
            "p5_ms" to stats?.p5Ms, "p90_ms" to stats?.p90Ms, "p95_ms" to stats?.p95Ms, "min_ms" to stats?.minMs,
            "max_ms" to stats?.maxMs, "std_ms" to stats?.stdMs, "size_bytes" to sizeBytes,
            "peak_rss_mb" to peakRssMb, "error" to error, "device_model" to identity.deviceModel,
            "soc" to identity.soc, "android" to identity.android,
        )
        check(values.keys.toList() == Contract.RESULT_KEYS) { "result keys drifted from the contract" }
        return values
    }

    fun toJson(): String = toJson(toJsonObject())

    /** The one logcat line mobikit greps for. */
    fun logcatLine(): String = "${Contract.LOGCAT_PREFIX} ${toJson()}"

    companion object {
        /** A run that could not measure: the error says why, and no number pretends otherwise. */
        fun failed(request: BenchmarkRequest, identity: DeviceIdentity, sizeBytes: Long?, error: String) =
            BenchmarkResult(request, identity, null, sizeBytes, null, error)
    }
}

/** Linux's per-process status file; its VmHWM line is the peak resident set size. */
const val PROC_SELF_STATUS = "/proc/self/status"

/** Peak RSS in MB from the text of [PROC_SELF_STATUS], or null when the line is missing. */
fun peakRssMb(procStatus: String): Double? = procStatus.lineSequence()
    .firstOrNull { it.startsWith("VmHWM:") }
    ?.let { Regex("(\\d+)\\s*kB").find(it)?.groupValues?.get(1)?.toDouble() }
    ?.let { it / 1024.0 }

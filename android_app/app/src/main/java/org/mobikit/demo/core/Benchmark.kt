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
    val warmupMinSecs: Double = DEFAULT_WARMUP_MIN_SECS,
    val minSecs: Double = DEFAULT_MIN_SECS,
    val maxSecs: Double = DEFAULT_MAX_SECS,
) {
    val delegate: Delegate? get() = Delegate.fromId(delegateId)

    /** benchmark_model's warm-up: at least [warmupRuns] runs and at least [warmupMinSecs] seconds. */
    val warmup: RunBudget get() = RunBudget(warmupRuns, warmupMinSecs, maxSecs)

    /** benchmark_model's timed phase: at least [numRuns] runs and at least [minSecs] seconds. */
    val timed: RunBudget get() = RunBudget(numRuns, minSecs, maxSecs)

    /** Why this request cannot run, or null when it can. */
    fun problem(): String? = when {
        resultId == null || !isSafeName(resultId) -> "missing or unsafe ${Contract.EXTRA_RESULT_ID} $resultId"
        model == null || !isModelName(model) -> "missing or unsafe ${Contract.EXTRA_MODEL} $model"
        delegate == null -> "unknown delegate $delegateId: choose one of ${Contract.DELEGATES.joinToString()}"
        threads < 1 || warmupRuns < 0 || numRuns < 1 -> "threads and num_runs must be >= 1, warmup_runs >= 0"
        !(warmupMinSecs >= 0 && minSecs >= 0 && maxSecs > 0) ->
            "warmup_min_secs and min_secs must be >= 0 and max_secs > 0"
        else -> null
    }

    /** Where the result goes under the app's results folder. */
    fun resultFile(resultsFolder: File): File? = resultId?.takeIf { isSafeName(it) }
        ?.let { File(resultsFolder, it + Contract.RESULT_SUFFIX) }

    companion object {
        const val DEFAULT_THREADS = 2
        const val DEFAULT_WARMUP_RUNS = 5
        const val DEFAULT_NUM_RUNS = 50

        /** benchmark_model's defaults for `--warmup_min_secs`, `--min_secs` and `--max_secs`. */
        const val DEFAULT_WARMUP_MIN_SECS = 0.5
        const val DEFAULT_MIN_SECS = 1.0
        const val DEFAULT_MAX_SECS = 150.0

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
            warmupMinSecs = secondsExtra(extras, Contract.EXTRA_WARMUP_MIN_SECS, DEFAULT_WARMUP_MIN_SECS),
            minSecs = secondsExtra(extras, Contract.EXTRA_MIN_SECS, DEFAULT_MIN_SECS),
            maxSecs = secondsExtra(extras, Contract.EXTRA_MAX_SECS, DEFAULT_MAX_SECS),
        )

        private fun intExtra(extras: Map<String, Any?>, key: String, default: Int): Int =
            when (val value = extras[key]) {
                null -> default
                is Number -> value.toInt()
                else -> value.toString().trim().toIntOrNull() ?: -1
            }

        private fun secondsExtra(extras: Map<String, Any?>, key: String, default: Double): Double =
            when (val value = extras[key]) {
                null -> default
                is Number -> value.toDouble()
                else -> value.toString().trim().toDoubleOrNull() ?: -1.0
            }
    }
}

/** A file name without path tricks, for names the app makes up (result ids). */
private val SAFE_NAME = Regex("[A-Za-z0-9_][A-Za-z0-9._-]*")

fun isSafeName(name: String): Boolean = SAFE_NAME.matches(name)

/**
 * A model folder name as `mobikit deploy` allows it (the user's folder name, spaces and quotes included): one path
 * component, not hidden (hidden names are the importer's own), no control characters.
 */
fun isModelName(name: String): Boolean =
    name.isNotEmpty() && !name.startsWith(".") && '/' !in name && name.none { it.isISOControl() }

/**
 * benchmark_model's stopping rule for one phase: go on while fewer than [minRuns] runs or fewer than [minSeconds]
 * seconds have passed, but never past [maxSeconds].
 */
data class RunBudget(val minRuns: Int, val minSeconds: Double, val maxSeconds: Double) {
    fun keepGoing(runs: Int, elapsedSeconds: Double): Boolean =
        elapsedSeconds < maxSeconds && (runs < minRuns || elapsedSeconds < minSeconds)
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

/**
 * An interpreter opened for a benchmark. Opening it is the timed init (interpreter creation and delegate
 * application, as benchmark_model's init); [allocate] makes the input and output buffers outside that time.
 * [run] runs inference once and returns LiteRT's native inference time in nanoseconds
 * (`Interpreter.getLastNativeInferenceDurationNanoseconds()`), or null when the runtime does not give it.
 */
interface BenchmarkSession : AutoCloseable {
    /** Which delegate took how many nodes; read from LiteRT's log in [allocate], outside the timed init. */
    val delegateReport: DelegateReport?

    fun allocate()

    fun run(): Long?
}

/**
 * Timings of one benchmark, in milliseconds. [latenciesMs] is the inference time per timed run: LiteRT's native
 * time when every run gave it ([timing] "native"), else the wall time of the call ([timing] "wall"); [wallMs] is
 * always the wall time of each call, copies and JNI included. [interruption] says why timing stopped early.
 */
data class Measurement(
    val initMs: Double,
    val firstMs: Double,
    val latenciesMs: List<Double>,
    val wallMs: List<Double> = latenciesMs,
    val warmupRuns: Int = 0,
    val timing: String = TIMING_WALL,
    val interruption: String? = null,
    val warmupMeanMs: Double? = null,  // benchmark_model's "Warmup (avg)": the warm-up phase's wall time per run
)

const val TIMING_NATIVE = "native"
const val TIMING_WALL = "wall"

/** The activity left the foreground: the numbers after that are not a clean run. */
fun interruptionText(timedRuns: Int, wanted: Int): String =
    "interrupted: the benchmark activity left the foreground after $timedRuns of at least $wanted timed runs"

/**
 * The protocol of TFLite's benchmark_model: time opening the interpreter (init, no buffer allocation), one first
 * inference, warm-up runs until both the run count and the seconds of [BenchmarkRequest.warmup] are reached, then
 * timed runs until both of [BenchmarkRequest.timed] are. Before each run [inForeground] is asked; once false, the
 * measurement stops and records the interruption. The session is closed whatever happens.
 */
fun <S : BenchmarkSession> measure(request: BenchmarkRequest, open: () -> S, clockNanos: () -> Long = System::nanoTime,
                                   inForeground: () -> Boolean = { true }): Measurement {
    fun elapsedMs(since: Long) = (clockNanos() - since) / 1e6
    var start = clockNanos()
    val session = open()
    session.use {
        val initMs = elapsedMs(start)
        session.allocate()
        start = clockNanos()
        session.run()
        val firstMs = elapsedMs(start)
        var warmups = 0
        val warmStart = clockNanos()
        while (request.warmup.keepGoing(warmups, elapsedMs(warmStart) / 1e3)) {
            if (!inForeground()) return Measurement(initMs, firstMs, emptyList(), emptyList(), warmups,
                TIMING_WALL, interruptionText(0, request.numRuns))
            session.run()
            warmups++
        }
        val warmupMeanMs = if (warmups > 0) elapsedMs(warmStart) / warmups else null
        val native = mutableListOf<Double>()
        val wall = mutableListOf<Double>()
        var allNative = true
        val timedStart = clockNanos()
        var interruption: String? = null
        while (request.timed.keepGoing(wall.size, elapsedMs(timedStart) / 1e3)) {
            if (!inForeground()) {
                interruption = interruptionText(wall.size, request.numRuns)
                break
            }
            start = clockNanos()
            val nanos = session.run()
            wall += elapsedMs(start)
            if (nanos == null || nanos <= 0) allNative = false else native += nanos / 1e6
        }
        return if (allNative && native.isNotEmpty()) {
            Measurement(initMs, firstMs, native, wall, warmups, TIMING_NATIVE, interruption, warmupMeanMs)
        } else {
            Measurement(initMs, firstMs, wall, wall, warmups, TIMING_WALL, interruption, warmupMeanMs)
        }
    }
}

/**
 * One benchmark launch from request to result, the platform's parts passed in: [loadModel] gives the model bytes
 * (null when no such model), [open] creates the interpreter, [peakRssMb] reads the process's peak memory and
 * [inForeground] whether the activity is still in front. Whatever fails — a bad request, a missing model, a
 * delegate whose native library is absent, an invoke error — becomes a result with `error` set and no timings, so
 * the host never waits for a result that never comes; an interruption keeps its numbers but is an error too.
 */
fun <S : BenchmarkSession> runBenchmark(
    request: BenchmarkRequest,
    identity: DeviceIdentity,
    loadModel: (String) -> ByteBuffer?,
    open: (ByteBuffer, Delegate, Int) -> S,
    peakRssMb: () -> Double?,
    inForeground: () -> Boolean = { true },
    clockNanos: () -> Long = System::nanoTime,
): BenchmarkResult {
    request.problem()?.let { return BenchmarkResult.failed(request, identity, null, it) }
    val name = checkNotNull(request.model)
    val delegate = checkNotNull(request.delegate)
    var sizeBytes: Long? = null
    var session: S? = null
    return try {
        val model = loadModel(name)
            ?: return BenchmarkResult.failed(request, identity, null, modelNotFound(name))
        sizeBytes = model.capacity().toLong()
        val measurement = measure(request, open = { open(model, delegate, request.threads).also { session = it } },
            clockNanos, inForeground)
        BenchmarkResult(request, identity, measurement, sizeBytes, peakRssMb(), measurement.interruption,
            session?.delegateReport)
    } catch (failure: Throwable) {
        if (!isReportable(failure)) throw failure
        BenchmarkResult.failed(request, identity, sizeBytes, failureText(failure), session?.delegateReport)
    }
}

/**
 * At most one benchmark per process at a time, and none from a recreated activity: a second run would share
 * the CPU with the first, contaminate both timings and write the result twice.
 */
class BenchmarkGate {
    private val running = AtomicBoolean(false)
    private val foreground = AtomicBoolean(false)

    /** True when this launch may start the benchmark; [recreated] is an activity rebuilt from saved state. */
    fun tryStart(recreated: Boolean): Boolean {
        if (recreated || !running.compareAndSet(false, true)) return false
        foreground.set(true)
        return true
    }

    /** The running benchmark's activity left the foreground: the run is interrupted and stays so. */
    fun leftForeground() = foreground.set(false)

    fun inForeground(): Boolean = foreground.get()

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
    val delegateReport: DelegateReport? = null,
) {
    fun toJsonObject(): Map<String, Any?> {
        val stats = measurement?.latenciesMs?.takeIf { it.isNotEmpty() }?.let { LatencyStats.of(it) }
        val wall = measurement?.wallMs?.takeIf { it.isNotEmpty() }?.let { LatencyStats.of(it) }
        val values = mapOf(
            "device" to identity.device, "model" to request.model, "threads" to request.threads,
            "delegate" to request.delegateId, "runs" to stats?.runs, "init_ms" to measurement?.initMs,
            "first_ms" to measurement?.firstMs, "mean_ms" to stats?.meanMs, "median_ms" to stats?.medianMs,
            "p5_ms" to stats?.p5Ms, "p90_ms" to stats?.p90Ms, "p95_ms" to stats?.p95Ms, "min_ms" to stats?.minMs,
            "max_ms" to stats?.maxMs, "std_ms" to stats?.stdMs, "size_bytes" to sizeBytes,
            "peak_rss_mb" to peakRssMb, "error" to error, "device_model" to identity.deviceModel,
            "soc" to identity.soc, "android" to identity.android,
            "timing" to measurement?.timing, "wall_mean_ms" to wall?.meanMs, "wall_median_ms" to wall?.medianMs,
            "warmup_runs" to measurement?.warmupRuns,
            "warmup_mean_ms" to measurement?.warmupMeanMs, "interrupted" to (measurement?.interruption != null),
            "delegate_used" to delegateReport?.used?.id, "delegate_nodes" to delegateReport?.nodes,
            "graph_nodes" to delegateReport?.totalNodes, "delegate_note" to delegateReport?.note,
            "result_id" to request.resultId,
        )
        check(values.keys.toList() == Contract.RESULT_KEYS) { "result keys drifted from the contract" }
        return values
    }

    fun toJson(): String = toJson(toJsonObject())

    /** The one logcat line mobikit waits for. */
    fun logcatLine(): String = "${Contract.LOGCAT_PREFIX} ${toJson()}"

    companion object {
        /** A run that could not measure: the error says why, and no number pretends otherwise. */
        fun failed(request: BenchmarkRequest, identity: DeviceIdentity, sizeBytes: Long?, error: String,
                   report: DelegateReport? = null) =
            BenchmarkResult(request, identity, null, sizeBytes, null, error, report)
    }
}

/** Linux's per-process status file; its VmHWM line is the peak resident set size. */
const val PROC_SELF_STATUS = "/proc/self/status"

/** Peak RSS in MB from the text of [PROC_SELF_STATUS], or null when the line is missing. */
fun peakRssMb(procStatus: String): Double? = procStatus.lineSequence()
    .firstOrNull { it.startsWith("VmHWM:") }
    ?.let { Regex("(\\d+)\\s*kB").find(it)?.groupValues?.get(1)?.toDouble() }
    ?.let { it / 1024.0 }

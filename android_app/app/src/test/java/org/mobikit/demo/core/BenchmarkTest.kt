package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

class BenchmarkTest {
    @get:Rule
    val folder = TemporaryFolder()

    private val identity = DeviceIdentity("oriole", "Google", "Pixel 6", "Tensor", "15", 35)

    private fun request(vararg extras: Pair<String, Any?>) = BenchmarkRequest.fromExtras(
        mapOf(Contract.EXTRA_MODEL to "v1_025_128", Contract.EXTRA_RESULT_ID to "run-1") + extras,
    )

    @Test
    fun extrasTypedEitherWayMeanTheSame() {
        val typedAsInt = request(Contract.EXTRA_THREADS to 4, Contract.EXTRA_NUM_RUNS to 20)
        val typedAsText = request(Contract.EXTRA_THREADS to "4", Contract.EXTRA_NUM_RUNS to "20")
        assertEquals(typedAsInt, typedAsText)
        assertEquals(BenchmarkRequest.DEFAULT_WARMUP_RUNS, typedAsInt.warmupRuns)
        assertEquals(Delegate.DEFAULT, typedAsInt.delegate)
        assertNull(typedAsInt.problem())
    }

    @Test
    fun badRequestsSayWhy() {
        assertTrue(request(Contract.EXTRA_DELEGATE to "hexagon").problem()!!.contains("hexagon"))
        assertTrue(request(Contract.EXTRA_THREADS to "many").problem()!!.contains("threads"))
        assertTrue(request(Contract.EXTRA_MODEL to "../etc").problem()!!.contains(Contract.EXTRA_MODEL))
        val withoutId = BenchmarkRequest.fromExtras(mapOf(Contract.EXTRA_MODEL to "m"))
        assertTrue(withoutId.problem()!!.contains(Contract.EXTRA_RESULT_ID))
        assertNull(withoutId.resultFile(folder.root))
    }

    /** A session on a fake clock: opening costs 5 ms, allocating 7 ms (not init), each run [runNanos] wall. */
    private class FakeSession(val clock: LongArray, val native: Long?, val runNanos: Long = 1_000_000) :
        BenchmarkSession {
        var runs = 0
        var closed = 0
        var allocated = false
        override val delegateReport = DelegateReport(Delegate.GPU, Delegate.GPU, 28, 31, 2, null)

        override fun allocate() {
            allocated = true
            clock[0] += 7_000_000
        }

        override fun run(): Long? {
            runs++
            clock[0] += runNanos
            return native
        }

        override fun close() {
            closed++
        }
    }

    @Test
    fun initExcludesAllocationAndTimesAreNativeBesideWall() {
        val clock = longArrayOf(0)
        val session = FakeSession(clock, native = 400_000)
        val measurement = measure(
            request(Contract.EXTRA_WARMUP_RUNS to 2, Contract.EXTRA_NUM_RUNS to 3,
                Contract.EXTRA_WARMUP_MIN_SECS to 0, Contract.EXTRA_MIN_SECS to 0),
            open = { clock[0] += 5_000_000; session }, clockNanos = { clock[0] },
        )
        assertTrue(session.allocated)
        assertEquals(1, session.closed)
        assertEquals(5.0, measurement.initMs, 0.0)
        assertEquals(1.0, measurement.firstMs, 0.0)
        assertEquals(2, measurement.warmupRuns)
        assertEquals(1.0, measurement.warmupMeanMs!!, 0.0)  // each warm-up run: 1 ms of wall time
        assertEquals(TIMING_NATIVE, measurement.timing)
        assertEquals(listOf(0.4, 0.4, 0.4), measurement.latenciesMs)
        assertEquals(listOf(1.0, 1.0, 1.0), measurement.wallMs)
        assertEquals(6, session.runs)
    }

    @Test
    fun warmupAndTimedPhasesRunForTheirSecondsToo() {
        val clock = longArrayOf(0)
        val session = FakeSession(clock, native = null, runNanos = 100_000_000)  // 0.1 s a run
        val measurement = measure(
            request(Contract.EXTRA_WARMUP_RUNS to 1, Contract.EXTRA_NUM_RUNS to 2,
                Contract.EXTRA_WARMUP_MIN_SECS to "0.5", Contract.EXTRA_MIN_SECS to 1),
            open = { session }, clockNanos = { clock[0] },
        )
        assertEquals(5, measurement.warmupRuns)  // 1 run asked, but 0.5 s of warm-up
        assertEquals(10, measurement.latenciesMs.size)  // 2 runs asked, but 1 s of timing
        assertEquals(TIMING_WALL, measurement.timing)
        val capped = measure(request(Contract.EXTRA_NUM_RUNS to 1000, Contract.EXTRA_MAX_SECS to 1),
            open = { FakeSession(clock, native = 1, runNanos = 100_000_000) }, clockNanos = { clock[0] })
        assertEquals(10, capped.latenciesMs.size)  // max_secs stops it, as benchmark_model's --max_secs
    }

    @Test
    fun leavingTheForegroundStopsTimingAndIsRecorded() {
        val clock = longArrayOf(0)
        var checks = 0
        val session = FakeSession(clock, native = 500_000)
        val measurement = measure(
            request(Contract.EXTRA_WARMUP_RUNS to 0, Contract.EXTRA_WARMUP_MIN_SECS to 0, Contract.EXTRA_NUM_RUNS to 50),
            open = { session }, clockNanos = { clock[0] }, inForeground = { ++checks <= 4 },
        )
        assertEquals(4, measurement.latenciesMs.size)
        assertEquals(interruptionText(4, 50), measurement.interruption)
        assertEquals(1, session.closed)
        val result = runBenchmark(request(), identity, loadModel = { ByteBuffer.allocate(3) },
            open = { _, _, _ -> FakeSession(clock, native = 500_000) }, peakRssMb = { null },
            inForeground = { false }, clockNanos = { clock[0] })
        val json = result.toJsonObject()
        assertEquals(true, json["interrupted"])
        assertTrue(json["error"].toString(), json["error"].toString().startsWith("interrupted"))
    }

    @Test
    fun sessionIsClosedWhenARunFails() {
        val failing = object : BenchmarkSession {
            var closed = 0
            override val delegateReport = DelegateReport(Delegate.CPU, Delegate.CPU, null, null, null, null)
            override fun allocate() = Unit
            override fun run(): Long? = error("invoke failed")
            override fun close() {
                closed++
            }
        }
        assertThrows(IllegalStateException::class.java) { measure(request(), open = { failing }) }
        assertEquals(1, failing.closed)
    }

    @Test
    fun socNameFallsBackToHardware() {
        assertEquals("Google Tensor G2", DeviceIdentity.socName("Google", "Tensor G2", "gs201"))
        assertEquals("qcom", DeviceIdentity.socName(null, null, "qcom"))
        assertEquals("qcom", DeviceIdentity.socName("unknown", "unknown", "qcom"))
    }

    @Test
    fun resultHasExactlyTheContractKeys() {
        val result = BenchmarkResult(request(), identity, Measurement(10.0, 3.0, listOf(1.0, 2.0)), 470_000, 55.5, null)
        val json = result.toJsonObject()
        assertEquals(Contract.RESULT_KEYS, json.keys.toList())
        assertEquals(1.5, json["median_ms"])
        assertEquals("Google Pixel 6", json["device_model"])
        assertEquals("15 (API 35)", json["android"])
        assertTrue(result.logcatLine().startsWith(Contract.LOGCAT_PREFIX + " {"))
    }

    @Test
    fun failedRunCarriesNoNumbers() {
        val json = BenchmarkResult.failed(request(), identity, 1L, delegateUnavailable(Delegate.GPU, "no OpenCL"))
            .toJsonObject()
        assertNull(json["mean_ms"])
        assertNull(json["runs"])
        assertEquals("gpu delegate unavailable on this device: no OpenCL", json["error"])
    }

    @Test
    fun resultFileIsWrittenAtomically() {
        val target = request().resultFile(File(folder.root, Contract.RESULTS_SUBDIR))!!
        writeAtomically(target, "{\"a\": 1}")
        writeAtomically(target, "{\"a\": 2}")
        assertEquals("run-1" + Contract.RESULT_SUFFIX, target.name)
        assertEquals("{\"a\": 2}", target.readText())
        assertEquals(listOf(target.name), target.parentFile.list()!!.toList())
    }

    @Test
    fun jsonEscapesAndNulls() {
        assertEquals("{\"a\": \"q\\\"\\n\", \"b\": null, \"c\": [1, 2.5, true]}",
            toJson(mapOf("a" to "q\"\n", "b" to Double.NaN, "c" to listOf(1, 2.5, true))))
    }

    @Test
    fun peakRssFromProcStatus() {
        assertEquals(100.0, peakRssMb("Name:\tx\nVmHWM:\t  102400 kB\nVmRSS:\t1 kB\n")!!, 0.0)
        assertNull(peakRssMb("Name:\tx\n"))
        if (File(PROC_SELF_STATUS).isFile) assertTrue(peakRssMb(File(PROC_SELF_STATUS).readText())!! > 1.0)
    }

    @Test
    fun randomInputIsValidForItsType() {
        val floats = randomInput(ElementType.FLOAT32, 4 * 1000).order(ByteOrder.nativeOrder()).asFloatBuffer()
        val values = FloatArray(1000).also { floats.get(it) }
        assertTrue(values.all { it in -1f..1f })
        assertFalse(values.all { it == values[0] })
        assertEquals(randomInput(ElementType.INT8, 64), randomInput(ElementType.INT8, 64))
    }
}

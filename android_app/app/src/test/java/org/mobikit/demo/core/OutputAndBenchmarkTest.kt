package org.mobikit.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.nio.ByteBuffer
import kotlin.math.exp
import kotlin.random.Random

class OutputAndBenchmarkTest {
    private val identity = DeviceIdentity("oriole", "Google", "Pixel 6", "Tensor", "15", 35)

    private fun request(vararg extras: Pair<String, Any?>) = BenchmarkRequest.fromExtras(
        mapOf(Contract.EXTRA_MODEL to "m", Contract.EXTRA_RESULT_ID to "r", Contract.EXTRA_NUM_RUNS to 3) + extras,
    )

    @Test
    fun partialTopKEqualsAFullSortIncludingTies() {
        val random = Random(3)
        repeat(200) {
            val values = DoubleArray(random.nextInt(1, 60)) { random.nextInt(0, 8).toDouble() }
            val count = random.nextInt(0, 8)
            val sorted = values.indices.sortedWith(compareByDescending<Int> { values[it] }.thenBy { it }).take(count)
            assertEquals(sorted, topK(values, count))
        }
    }

    @Test
    fun decoderReusesItsScoresWithoutLeakingBetweenFrames() {
        val model = describedModel(softmax = false)
        val decoder = OutputDecoder(model.output, model.outputIsSoftmax, emptyList())
        fun frame(vararg stored: Int) =
            ByteBuffer.allocateDirect(stored.size).apply { stored.forEach { put(it.toByte()) } }
        val first = decoder.top(frame(100, 0, 0, 0, 0), 1).single()
        val second = decoder.top(frame(0, 0, 0, 0, 100), 1).single()
        assertEquals(0, first.index)
        assertEquals(4, second.index)
        assertEquals(first.score, second.score, 1e-15)
    }

    @Test
    fun softmaxInPlaceIsStableForLargeLogits() {
        val values = doubleArrayOf(1000.0, 1001.0, 1002.0)
        softmaxInPlace(values)
        val total = exp(-2.0) + exp(-1.0) + 1.0
        assertArrayEquals(doubleArrayOf(exp(-2.0) / total, exp(-1.0) / total, 1.0 / total), values, 1e-15)
    }

    @Test
    fun failedFrameKeepsTheNotes() {
        assertEquals("classification failed: IllegalArgumentException: pixel stride 3\nnote",
            frameFailureOverlay(IllegalArgumentException("pixel stride 3"), listOf("note")))
    }

    private class Session(val name: String, val closed: MutableList<String>) : BenchmarkSession {
        override val delegateReport = DelegateReport(Delegate.GPU, Delegate.XNNPACK, 31, 31, 1, "gpu took 0")
        override fun allocate() = Unit
        override fun run(): Long = 1000
        override fun close() {
            closed += name
        }
    }

    @Test
    fun benchmarkMeasuresAndClosesTheSession() {
        val closed = mutableListOf<String>()
        val opened = mutableListOf<Triple<Int, Delegate, Int>>()
        val result = runBenchmark(
            request(Contract.EXTRA_DELEGATE to "gpu", Contract.EXTRA_THREADS to 4, Contract.EXTRA_MIN_SECS to 0,
                Contract.EXTRA_WARMUP_MIN_SECS to 0), identity,
            loadModel = { ByteBuffer.allocate(if (it == "m") 10 else 0) },
            open = { model, delegate, threads ->
                opened += Triple(model.capacity(), delegate, threads)
                Session("s", closed)
            },
            peakRssMb = { 12.5 },
        )
        assertEquals(listOf(Triple(10, Delegate.GPU, 4)), opened)
        assertEquals(listOf("s"), closed)
        assertNull(result.error)
        assertEquals(3, result.measurement!!.latenciesMs.size)
        assertEquals(10L, result.sizeBytes)
        assertEquals(12.5, result.peakRssMb!!, 0.0)
        val json = result.toJsonObject()
        assertEquals("xnnpack", json["delegate_used"])
        assertEquals(31, json["graph_nodes"])
        assertEquals("native", json["timing"])
        assertEquals(false, json["interrupted"])
    }

    @Test
    fun missingNativeLibraryStillWritesAResultWithTheError() {
        val result = runBenchmark<Session>(
            request(Contract.EXTRA_DELEGATE to "gpu"), identity, loadModel = { ByteBuffer.allocate(7) },
            open = { _, _, _ -> throw UnsatisfiedLinkError("libtensorflowlite_gpu_jni.so") }, peakRssMb = { 1.0 },
        )
        val json = result.toJsonObject()
        assertEquals("UnsatisfiedLinkError: libtensorflowlite_gpu_jni.so", json["error"])
        assertEquals(7L, json["size_bytes"])
        assertNull(json["mean_ms"])
        assertNull(json["peak_rss_mb"])
    }

    @Test
    fun missingModelAndBadRequestsAreResultsToo() {
        val missing = runBenchmark<Session>(request(), identity, loadModel = { null },
            open = { _, _, _ -> error("not opened") }, peakRssMb = { null })
        assertEquals(modelNotFound("m"), missing.error)
        val bad = runBenchmark<Session>(request(Contract.EXTRA_THREADS to 0), identity,
            loadModel = { error("not loaded") }, open = { _, _, _ -> error("not opened") }, peakRssMb = { null })
        assertNotNull(bad.error)
        assertTrue(bad.error!!.contains("threads"))
    }

    @Test
    fun oneBenchmarkAtATimeAndNoneFromARecreatedActivity() {
        val gate = BenchmarkGate()
        assertFalse(gate.tryStart(recreated = true))
        assertTrue(gate.tryStart(recreated = false))
        assertFalse(gate.tryStart(recreated = false))
        assertTrue(gate.inForeground())
        gate.leftForeground()
        assertFalse(gate.inForeground())  // stays interrupted: the run cannot be clean any more
        gate.finished()
        assertTrue(gate.tryStart(recreated = false))
        assertTrue(gate.inForeground())
    }
}

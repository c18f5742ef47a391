package org.mobikit.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import org.mobikit.demo.core.BenchmarkRequest
import org.mobikit.demo.core.BenchmarkResult
import org.mobikit.demo.core.Contract
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.DelegateUnavailableException
import org.mobikit.demo.core.DeviceIdentity
import org.mobikit.demo.core.ElementType
import org.mobikit.demo.core.PROC_SELF_STATUS
import org.mobikit.demo.core.measure
import org.mobikit.demo.core.modelNotFound
import org.mobikit.demo.core.peakRssMb
import org.mobikit.demo.core.randomInput
import org.mobikit.demo.core.writeAtomically
import java.io.File
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.concurrent.Executors

/**
 * Benchmark mode, driven by `mobikit bench --tool app` over adb (like TFLite's BenchmarkModelActivity): started
 * with the [Contract] extras, it times the model on random input in the foreground, writes the result JSON
 * atomically into the results folder, logs one `MOBIKIT_BENCH <json>` line and finishes. No UI.
 */
class BenchmarkActivity : Activity() {
    private val worker = Executors.newSingleThreadExecutor()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val request = BenchmarkRequest.fromExtras(intent.extras.toMap())
        worker.execute {
            report(request, benchmark(request))
            runOnUiThread { finish() }
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        worker.shutdown()
    }

    /** Runs on the worker thread, which opens, runs and closes the interpreter (the GPU delegate needs that). */
    private fun benchmark(request: BenchmarkRequest): BenchmarkResult {
        val identity = deviceIdentity()
        request.problem()?.let { return BenchmarkResult.failed(request, identity, null, it) }
        val store = ModelStore(this)
        val entry = store.find(checkNotNull(request.model))
            ?: return BenchmarkResult.failed(request, identity, null, modelNotFound(request.model))
        var sizeBytes: Long? = null
        return try {
            val model = store.modelBuffer(entry)
            sizeBytes = model.capacity().toLong()
            val delegate = checkNotNull(request.delegate)
            val measurement = measure(
                request,
                open = { BenchmarkSession.open(model, delegate, request.threads) },
                invoke = BenchmarkSession::run,
                close = BenchmarkSession::close,
            )
            val peakRss = peakRssMb(File(PROC_SELF_STATUS).readText())
            BenchmarkResult(request, identity, measurement, sizeBytes, peakRss, null)
        } catch (unavailable: DelegateUnavailableException) {
            BenchmarkResult.failed(request, identity, sizeBytes, unavailable.message.orEmpty())
        } catch (failure: Exception) {
            BenchmarkResult.failed(request, identity, sizeBytes, failure.toString())
        }
    }

    private fun report(request: BenchmarkRequest, result: BenchmarkResult) {
        val target = getExternalFilesDir(Contract.RESULTS_SUBDIR)?.let(request::resultFile)
        try {
            target?.let { writeAtomically(it, result.toJson()) }
        } catch (failure: IOException) {
            Log.e(Contract.LOGCAT_TAG, failure.toString())
        }
        Log.i(Contract.LOGCAT_TAG, result.logcatLine())
    }

    private fun deviceIdentity(): DeviceIdentity {
        val soc = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            DeviceIdentity.socName(Build.SOC_MANUFACTURER, Build.SOC_MODEL, Build.HARDWARE)
        } else {
            DeviceIdentity.socName(null, null, Build.HARDWARE)
        }
        return DeviceIdentity(Build.DEVICE, Build.MANUFACTURER, Build.MODEL, soc, Build.VERSION.RELEASE,
            Build.VERSION.SDK_INT)
    }
}

/** An interpreter fed random input of its own input type, as benchmark_model and host `mobikit bench` do. */
private class BenchmarkSession private constructor(
    private val session: LiteRtSession,
    private val input: ByteBuffer,
    private val output: ByteBuffer,
) {
    fun run() = session.run(input, output)

    fun close() = session.close()

    companion object {
        fun open(model: ByteBuffer, delegate: Delegate, threads: Int): BenchmarkSession {
            val session = LiteRtSession.open(model, delegate, threads)
            try {
                val inputTensor = session.interpreter.getInputTensor(0)
                val type = requireNotNull(ElementType.fromId(inputTensor.dataType().name)) {
                    "unsupported input type ${inputTensor.dataType()}"
                }
                val output = ByteBuffer.allocateDirect(session.interpreter.getOutputTensor(0).numBytes())
                    .order(ByteOrder.nativeOrder())
                return BenchmarkSession(session, randomInput(type, inputTensor.numBytes()), output)
            } catch (failure: RuntimeException) {
                session.close()
                throw failure
            }
        }
    }
}

/** The intent extras as a map, whatever type `am start` gave each (`--es` text, `--ei` numbers). */
@Suppress("DEPRECATION")
private fun Bundle?.toMap(): Map<String, Any?> = this?.keySet()?.associateWith { get(it) }.orEmpty()

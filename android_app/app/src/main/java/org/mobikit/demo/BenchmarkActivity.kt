package org.mobikit.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import org.mobikit.demo.core.BenchmarkGate
import org.mobikit.demo.core.BenchmarkRequest
import org.mobikit.demo.core.BenchmarkResult
import org.mobikit.demo.core.Contract
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.DeviceIdentity
import org.mobikit.demo.core.PROC_SELF_STATUS
import org.mobikit.demo.core.peakRssMb
import org.mobikit.demo.core.randomInput
import org.mobikit.demo.core.runBenchmark
import org.mobikit.demo.core.writeAtomically
import java.io.File
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.concurrent.Executors

/**
 * Benchmark mode, driven by `mobikit bench --tool app` over adb (like TFLite's BenchmarkModelActivity): started
 * with the [Contract] extras, it times the model on random input in the foreground with the screen kept on,
 * writes the result JSON atomically into the results folder, logs one `MOBIKIT_BENCH <json>` line and finishes.
 * No UI. One run per launch: rotation does not recreate it (manifest `configChanges`), and a recreated or second
 * instance never starts another run while one is going (core's [BenchmarkGate]). Only holders of
 * `android.permission.DUMP` (adb's shell, not apps) may start it (manifest `android:permission`).
 */
class BenchmarkActivity : Activity() {

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        if (!gate.tryStart(recreated = savedInstanceState != null)) {
            finish()
            return
        }
        window?.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        val request = BenchmarkRequest.fromExtras(intent.extras.toMap())
        val identity = deviceIdentity()
        val store = ModelStore(this)
        worker.execute {
            try {
                val result = runBenchmark(
                    request, identity,
                    loadModel = { name -> store.find(name)?.let(store::modelBuffer) },
                    open = { model, delegate, threads -> BenchmarkSession.open(model, delegate, threads) },
                    invoke = BenchmarkSession::run,
                    close = BenchmarkSession::close,
                    peakRssMb = { runCatching { peakRssMb(File(PROC_SELF_STATUS).readText()) }.getOrNull() },
                )
                report(request, result)
            } finally {
                gate.finished()
                runOnUiThread { finish() }
            }
        }
    }

    /** Runs on the worker thread: the results folder is storage. */
    private fun report(request: BenchmarkRequest, result: BenchmarkResult) {
        try {
            getExternalFilesDir(Contract.RESULTS_SUBDIR)?.let(request::resultFile)?.let {
                writeAtomically(it, result.toJson())
            }
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

    private companion object {
        /** Process-wide, like the run it guards: it outlives any one instance of the activity. */
        val gate = BenchmarkGate()

        /** Opens, runs and closes the interpreter on one thread (the GPU delegate needs that). */
        val worker = Executors.newSingleThreadExecutor()
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
                val type = session.input.type
                val output = ByteBuffer.allocateDirect(session.outputBytes).order(ByteOrder.nativeOrder())
                return BenchmarkSession(session, randomInput(type, session.inputBytes), output)
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

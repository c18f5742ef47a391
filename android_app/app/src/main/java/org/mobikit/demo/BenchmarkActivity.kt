package org.mobikit.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import org.mobikit.demo.core.BenchmarkGate
import org.mobikit.demo.core.BenchmarkRequest
import org.mobikit.demo.core.BenchmarkResult
import org.mobikit.demo.core.BenchmarkSession
import org.mobikit.demo.core.Contract
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.DelegateReport
import org.mobikit.demo.core.DeviceIdentity
import org.mobikit.demo.core.ImportOutcome
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
 * with the [Contract] extras, it imports the deployed model (verified by its sha256), times it on random input in
 * the foreground with the screen kept on, following benchmark_model's method (core's [runBenchmark]), writes the
 * result JSON atomically into the results folder, logs one `MOBIKIT_BENCH <json>` line and finishes. No UI. One
 * run per launch: rotation does not recreate it (manifest `configChanges`), and a recreated or second instance
 * never starts another run while one is going (core's [BenchmarkGate]). Leaving the foreground ([onPause]) stops
 * the timing, and the result says it was interrupted. Only holders of `android.permission.DUMP` (adb's shell, not
 * apps) may start it (manifest `android:permission`).
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
        val sha256 = intent.getStringExtra(Contract.EXTRA_SHA256)
        worker.execute {
            try {
                val refused = request.model?.takeIf { sha256 != null }?.let { name ->
                    store.importDeployed(name, sha256) as? ImportOutcome.Refused
                }
                val result = if (refused != null) {
                    BenchmarkResult.failed(request, identity, null, refused.reason)
                } else {
                    runBenchmark(
                        request, identity,
                        loadModel = { name -> store.find(name)?.let(store::modelBuffer) },
                        open = { model, delegate, threads -> LiteRtBenchmark.open(model, delegate, threads) },
                        peakRssMb = { runCatching { peakRssMb(File(PROC_SELF_STATUS).readText()) }.getOrNull() },
                        inForeground = gate::inForeground,
                    )
                }
                report(request, result)
            } finally {
                gate.finished()
                runOnUiThread { finish() }
            }
        }
    }

    /** Leaving the foreground (home, another app, screen off) interrupts the run: its numbers are not clean. */
    override fun onPause() {
        super.onPause()
        gate.leftForeground()
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

/**
 * An interpreter fed random input of its own input type, as benchmark_model and host `mobikit bench` do. Opening
 * it is the timed init; the buffers are allocated, and the delegate coverage read from LiteRT's log, in [allocate].
 */
private class LiteRtBenchmark private constructor(private val session: LiteRtSession) : BenchmarkSession {
    private var input: ByteBuffer? = null
    private var output: ByteBuffer? = null
    override var delegateReport: DelegateReport? = null
        private set

    override fun allocate() {
        input = randomInput(session.input.type, session.inputBytes)
        output = ByteBuffer.allocateDirect(session.outputBytes).order(ByteOrder.nativeOrder())
        delegateReport = session.delegateReport(logBefore = "")
    }

    override fun run(): Long? {
        session.run(checkNotNull(input), checkNotNull(output))
        return session.lastNativeNanos
    }

    override fun close() = session.close()

    companion object {
        fun open(model: ByteBuffer, delegate: Delegate, threads: Int) =
            LiteRtBenchmark(LiteRtSession.open(model, delegate, threads))
    }
}

/** The intent extras as a map, whatever type `am start` gave each (`--es` text, `--ei` numbers). */
@Suppress("DEPRECATION")
private fun Bundle?.toMap(): Map<String, Any?> = this?.keySet()?.associateWith { get(it) }.orEmpty()

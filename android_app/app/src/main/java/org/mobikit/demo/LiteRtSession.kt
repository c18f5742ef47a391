package org.mobikit.demo

import android.os.Build
import android.os.Process
import org.mobikit.demo.core.DelegateReport
import org.mobikit.demo.core.DelegateUnavailableException
import org.mobikit.demo.core.DelegatedSession
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.ElementType
import org.mobikit.demo.core.TensorSpec
import org.mobikit.demo.core.delegatePrecondition
import org.mobikit.demo.core.delegateReport
import org.mobikit.demo.core.logSince
import org.mobikit.demo.core.openingFailure
import org.mobikit.demo.core.rewound
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.io.IOException
import java.nio.ByteBuffer

/**
 * A LiteRT interpreter and the delegate it runs on, closed together in LiteRT's order (core's [DelegatedSession]).
 * Open, run and close it on one thread: the GPU delegate refuses to run on another thread than the one that
 * created it.
 */
class LiteRtSession private constructor(
    private val resources: DelegatedSession<Interpreter>,
    val delegate: Delegate,
) : AutoCloseable {
    private val interpreter: Interpreter get() = resources.interpreter

    val input: TensorSpec get() = interpreter.getInputTensor(0).spec()
    val output: TensorSpec get() = interpreter.getOutputTensor(0).spec()
    val inputBytes: Int get() = interpreter.getInputTensor(0).numBytes()
    val outputBytes: Int get() = interpreter.getOutputTensor(0).numBytes()

    /** Inference alone in the last [run], as LiteRT's native code timed it (no copies, no JNI); null if unknown. */
    val lastNativeNanos: Long? get() = interpreter.lastNativeInferenceDurationNanoseconds?.takeIf { it > 0 }

    fun run(input: ByteBuffer, output: ByteBuffer) {
        interpreter.run(input.rewound(), output.rewound())
    }

    /** Which delegate took how many nodes, from the LiteRT log lines written since [logBefore] was read. */
    fun delegateReport(logBefore: String): DelegateReport = delegateReport(delegate, logSince(logBefore, liteRtLog()))

    override fun close() = resources.close()

    companion object {
        /**
         * An interpreter on [delegate] with [threads] CPU threads (XNNPACK on or off as the delegate's table
         * says). Everything that can fail for a missing or broken accelerator — the compatibility list, the
         * delegate's constructor and its native library, the interpreter applying it — happens inside one guard and
         * becomes a [DelegateUnavailableException]; a CPU choice's failure is the model's and passes through.
         */
        fun open(model: ByteBuffer, delegate: Delegate, threads: Int): LiteRtSession {
            var accelerator: AutoCloseable? = null
            try {
                delegatePrecondition(delegate, Build.VERSION.SDK_INT, ::gpuOnCompatibilityList)?.let {
                    throw DelegateUnavailableException(delegate, it)
                }
                val options = Interpreter.Options().setNumThreads(threads).setUseXNNPACK(delegate.xnnpack)
                when (delegate) {
                    Delegate.CPU, Delegate.XNNPACK -> Unit
                    Delegate.GPU -> gpuDelegate().also { options.addDelegate(it); accelerator = it }
                    Delegate.NNAPI -> NnApiDelegate().also { options.addDelegate(it); accelerator = it }
                }
                return LiteRtSession(DelegatedSession(Interpreter(model.rewound(), options), accelerator), delegate)
            } catch (failure: Throwable) {
                accelerator?.close()
                throw openingFailure(delegate, failure)
            }
        }

        /**
         * This process's LiteRT log (tag `tflite`): apps may read their own log lines. Empty when logcat cannot be
         * run, which the delegate report then states as "logged no node replacement".
         */
        fun liteRtLog(): String = try {
            val logcat = ProcessBuilder(LOGCAT, "-d", "-v", "brief", "--pid=${Process.myPid()}", "$LITERT_TAG:V", "*:S")
                .redirectErrorStream(true).start()
            logcat.inputStream.bufferedReader().use { it.readText() }.also { logcat.waitFor() }
        } catch (failure: IOException) {
            ""
        }

        private const val LOGCAT = "logcat"
        private const val LITERT_TAG = "tflite"

        private fun gpuOnCompatibilityList(): Boolean = withCompatibilityList { it.isDelegateSupportedOnThisDevice }

        /** The GPU delegate with the options LiteRT recommends for this phone's GPU. */
        private fun gpuDelegate(): GpuDelegate = withCompatibilityList { GpuDelegate(it.bestOptionsForThisDevice) }

        private fun <T> withCompatibilityList(use: (CompatibilityList) -> T): T {
            val compatibility = CompatibilityList()
            try {
                return use(compatibility)
            } finally {
                compatibility.close()
            }
        }
    }
}

/** A tensor as core compares it with model.json; a type the app cannot feed is named in the failure. */
private fun Tensor.spec(): TensorSpec {
    val quantization = quantizationParams()
    val type = requireNotNull(ElementType.fromId(dataType().name)) { "unsupported tensor type ${dataType()}" }
    return TensorSpec(type, shape().toList(), quantization.scale.toDouble(), quantization.zeroPoint)
}

package org.mobikit.demo

import android.os.Build
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.DelegateUnavailableException
import org.mobikit.demo.core.delegatePrecondition
import org.mobikit.demo.core.rewound
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.nio.ByteBuffer

/**
 * A LiteRT interpreter and the delegate it runs on, closed together. Open, run and close it on one thread: the
 * GPU delegate refuses to run on another thread than the one that created it.
 */
class LiteRtSession private constructor(
    val interpreter: Interpreter,
    private val closeDelegate: () -> Unit,
) : AutoCloseable {

    fun run(input: ByteBuffer, output: ByteBuffer) {
        interpreter.run(input.rewound(), output.rewound())
    }

    override fun close() {
        interpreter.close()
        closeDelegate()
    }

    companion object {
        /**
         * An interpreter on [delegate] with [threads] CPU threads (used by CPU and XNNPACK, and by any op a
         * delegate leaves on the CPU). Throws [DelegateUnavailableException] when the delegate cannot run here.
         */
        fun open(model: ByteBuffer, delegate: Delegate, threads: Int): LiteRtSession {
            delegatePrecondition(delegate, Build.VERSION.SDK_INT, ::gpuOnCompatibilityList)?.let {
                throw DelegateUnavailableException(delegate, it)
            }
            val options = Interpreter.Options()
                .setNumThreads(threads)
                .setUseXNNPACK(delegate == Delegate.XNNPACK)
            val closeDelegate: () -> Unit = when (delegate) {
                Delegate.CPU, Delegate.XNNPACK -> ({})
                Delegate.GPU -> gpuDelegate().also { options.addDelegate(it) }::close
                Delegate.NNAPI -> NnApiDelegate().also { options.addDelegate(it) }::close
            }
            return try {
                LiteRtSession(Interpreter(model.rewound(), options), closeDelegate)
            } catch (failure: RuntimeException) {
                closeDelegate()
                if (delegate == Delegate.CPU || delegate == Delegate.XNNPACK) throw failure
                throw DelegateUnavailableException(delegate, failure.message ?: failure.toString())
            }
        }

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

package org.mobikit.demo

import android.os.Build
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.DelegateUnavailableException
import org.mobikit.demo.core.ElementType
import org.mobikit.demo.core.TensorSpec
import org.mobikit.demo.core.delegatePrecondition
import org.mobikit.demo.core.openingFailure
import org.mobikit.demo.core.rewound
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.nio.ByteBuffer

/**
 * A LiteRT interpreter and the delegate it runs on, closed together. Open, run and close it on one thread: the
 * GPU delegate refuses to run on another thread than the one that created it.
 */
class LiteRtSession private constructor(
    private val interpreter: Interpreter,
    private val closeDelegate: () -> Unit,
) : AutoCloseable {

    val input: TensorSpec get() = interpreter.getInputTensor(0).spec()
    val output: TensorSpec get() = interpreter.getOutputTensor(0).spec()
    val inputBytes: Int get() = interpreter.getInputTensor(0).numBytes()
    val outputBytes: Int get() = interpreter.getOutputTensor(0).numBytes()

    fun run(input: ByteBuffer, output: ByteBuffer) {
        interpreter.run(input.rewound(), output.rewound())
    }

    override fun close() {
        interpreter.close()
        closeDelegate()
    }

    companion object {
        /**
         * An interpreter on [delegate] with [threads] CPU threads (XNNPACK on or off as the delegate's table
         * says). Everything that can fail for a missing or broken accelerator — the compatibility list, the
         * delegate's constructor and its native library, the interpreter applying it — happens inside one guard and
         * becomes a [DelegateUnavailableException]; a CPU choice's failure is the model's and passes through.
         */
        fun open(model: ByteBuffer, delegate: Delegate, threads: Int): LiteRtSession {
            var closeDelegate: () -> Unit = {}
            try {
                delegatePrecondition(delegate, Build.VERSION.SDK_INT, ::gpuOnCompatibilityList)?.let {
                    throw DelegateUnavailableException(delegate, it)
                }
                val options = Interpreter.Options().setNumThreads(threads).setUseXNNPACK(delegate.xnnpack)
                when (delegate) {
                    Delegate.CPU, Delegate.XNNPACK -> Unit
                    Delegate.GPU -> gpuDelegate().also { options.addDelegate(it) }.let { closeDelegate = it::close }
                    Delegate.NNAPI -> NnApiDelegate().also { options.addDelegate(it) }.let { closeDelegate = it::close }
                }
                return LiteRtSession(Interpreter(model.rewound(), options), closeDelegate)
            } catch (failure: Throwable) {
                closeDelegate()
                throw openingFailure(delegate, failure)
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

/** A tensor as core compares it with model.json; a type the app cannot feed is named in the failure. */
private fun Tensor.spec(): TensorSpec {
    val quantization = quantizationParams()
    val type = requireNotNull(ElementType.fromId(dataType().name)) { "unsupported tensor type ${dataType()}" }
    return TensorSpec(type, shape().toList(), quantization.scale.toDouble(), quantization.zeroPoint)
}

package org.mobikit.demo

import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.DelegateUnavailableException
import org.mobikit.demo.core.FramePreprocessor
import org.mobikit.demo.core.ModelEntry
import org.mobikit.demo.core.OutputDecoder
import org.mobikit.demo.core.Prediction
import org.mobikit.demo.core.RgbaFrame
import org.mobikit.demo.core.cpuFallbackNote
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** What one camera frame gave: the best classes and the time inference alone took. */
class Classification(val predictions: List<Prediction>, val inferenceMs: Double)

/**
 * One model ready for camera frames. Everything model-specific comes from model.json through core; [note] says
 * when the requested delegate could not run and the CPU is used instead.
 */
class Classifier private constructor(
    private val session: LiteRtSession,
    private val preprocessor: FramePreprocessor,
    private val decoder: OutputDecoder,
    private val input: ByteBuffer,
    private val output: ByteBuffer,
    val note: String?,
) : AutoCloseable {

    fun classify(frame: RgbaFrame): Classification {
        preprocessor.fill(frame, input)
        val start = System.nanoTime()
        session.run(input, output)
        val inferenceMs = (System.nanoTime() - start) / 1e6
        return Classification(decoder.top(output, TOP_COUNT), inferenceMs)
    }

    override fun close() = session.close()

    companion object {
        const val TOP_COUNT = 3

        fun open(store: ModelStore, entry: ModelEntry, delegate: Delegate, threads: Int): Classifier {
            val description = store.description(entry)
            val labels = store.labels(entry)
            val model = store.modelBuffer(entry)
            var note: String? = null
            val session = try {
                LiteRtSession.open(model, delegate, threads)
            } catch (unavailable: DelegateUnavailableException) {
                note = cpuFallbackNote(delegate, unavailable.reason)
                LiteRtSession.open(model, Delegate.CPU, threads)
            }
            val inputBytes = session.interpreter.getInputTensor(0).numBytes()
            val outputBytes = session.interpreter.getOutputTensor(0).numBytes()
            description.mismatch(inputBytes, outputBytes)?.let { problem ->
                session.close()
                throw IllegalArgumentException(problem)
            }
            return Classifier(
                session,
                FramePreprocessor(description),
                OutputDecoder(description.output, description.outputIsSoftmax, labels),
                ByteBuffer.allocateDirect(inputBytes).order(ByteOrder.nativeOrder()),
                ByteBuffer.allocateDirect(outputBytes).order(ByteOrder.nativeOrder()),
                note,
            )
        }
    }
}

package org.mobikit.demo

import org.mobikit.demo.core.CropGeometry
import org.mobikit.demo.core.Delegate
import org.mobikit.demo.core.DelegateReport
import org.mobikit.demo.core.FramePreprocessor
import org.mobikit.demo.core.ModelEntry
import org.mobikit.demo.core.OutputDecoder
import org.mobikit.demo.core.Prediction
import org.mobikit.demo.core.RgbaFrame
import org.mobikit.demo.core.openWithCpuFallback
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** What one camera frame gave: the best classes and the time inference alone took. */
class Classification(val predictions: List<Prediction>, val inferenceMs: Double)

/**
 * One model ready for camera frames. Everything model-specific comes from model.json through core; [note] says
 * when the requested delegate could not run or took no node, and [report] how many nodes it took.
 */
class Classifier private constructor(
    val entry: ModelEntry,
    private val session: LiteRtSession,
    private val preprocessor: FramePreprocessor,
    private val decoder: OutputDecoder,
    private val input: ByteBuffer,
    private val output: ByteBuffer,
    val report: DelegateReport,
    fallbackNote: String?,
) : AutoCloseable {
    val note: String? = listOfNotNull(fallbackNote, report.summary()).joinToString("; ")

    fun classify(frame: RgbaFrame): Classification {
        preprocessor.fill(frame, input)
        val start = System.nanoTime()
        session.run(input, output)
        val inferenceMs = session.lastNativeNanos?.let { it / 1e6 } ?: ((System.nanoTime() - start) / 1e6)
        return Classification(decoder.top(output, TOP_COUNT), inferenceMs)
    }

    /** The square of an upright frame of this size that the model sees. */
    fun cropOf(uprightWidth: Int, uprightHeight: Int): CropGeometry = preprocessor.geometry(uprightWidth, uprightHeight)

    override fun close() = session.close()

    companion object {
        const val TOP_COUNT = 3

        /**
         * Opens [entry] on [delegate], falling back to the CPU with a note when the delegate cannot run, and refuses
         * a model whose model.json disagrees with the interpreter's tensors or the file's size.
         */
        fun open(store: ModelStore, entry: ModelEntry, delegate: Delegate, threads: Int): Classifier {
            val description = store.description(entry)
            val labels = store.labels(entry)
            val model = store.modelBuffer(entry)
            val logBefore = LiteRtSession.liteRtLog()
            val opened = openWithCpuFallback(delegate) { LiteRtSession.open(model, it, threads) }
            val session = opened.session
            try {
                description.mismatch(session.input, session.output, model.capacity().toLong())?.let { problem ->
                    throw IllegalArgumentException(problem)
                }
                return Classifier(
                    entry,
                    session,
                    FramePreprocessor(description),
                    OutputDecoder(description.output, description.outputIsSoftmax, labels),
                    ByteBuffer.allocateDirect(session.inputBytes).order(ByteOrder.nativeOrder()),
                    ByteBuffer.allocateDirect(session.outputBytes).order(ByteOrder.nativeOrder()),
                    session.delegateReport(logBefore),
                    opened.note,
                )
            } catch (failure: RuntimeException) {
                session.close()
                throw failure
            }
        }
    }
}

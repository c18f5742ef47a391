package org.mobikit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.exp

/** One line of the on-screen answer. */
data class Prediction(val index: Int, val label: String, val score: Double)

/**
 * Reads the model's output tensor into class probabilities and names the best ones. It runs once per camera
 * frame, so the scores live in one reused array and the best classes are picked without sorting all of them.
 */
class OutputDecoder(private val output: TensorSpec, private val isSoftmax: Boolean, private val labels: List<String>) {
    private val scores = DoubleArray(output.elements)

    /** The [count] most probable classes, best first (softmax applied when the model does not end in one). */
    fun top(buffer: ByteBuffer, count: Int): List<Prediction> {
        val values = readScores(buffer)
        if (!isSoftmax) softmaxInPlace(values)
        return topK(values, count).map { Prediction(it, labelOf(it), values[it]) }
    }

    /** Real values of the output tensor, (q - zero_point) × scale for quantized outputs, into the reused array. */
    private fun readScores(buffer: ByteBuffer): DoubleArray {
        buffer.rewound().order(ByteOrder.nativeOrder())
        for (i in scores.indices) {
            scores[i] = when {
                output.type == ElementType.FLOAT32 -> buffer.getFloat().toDouble()
                !output.quantized -> storedInteger(buffer.get()).toDouble()
                else -> (storedInteger(buffer.get()) - output.zeroPoint) * output.scale
            }
        }
        return scores
    }

    private fun labelOf(index: Int): String = labels.getOrNull(index) ?: "#$index"

    private fun storedInteger(byte: Byte): Int =
        if (output.type == ElementType.UINT8) byte.toInt() and 0xFF else byte.toInt()
}

/**
 * Indices of the [count] largest values, largest first; equal values keep the lower index first. One pass with a
 * small sorted window (count is 3–5, values 1000): no boxing and no sort of the whole array.
 */
fun topK(values: DoubleArray, count: Int): List<Int> {
    val size = minOf(count, values.size)
    val best = IntArray(size)
    var filled = 0
    for (index in values.indices) {
        val value = values[index]
        if (filled == size && (size == 0 || value <= values[best[size - 1]])) continue
        var slot = if (filled < size) filled++ else size - 1
        while (slot > 0 && value > values[best[slot - 1]]) {
            best[slot] = best[slot - 1]
            slot--
        }
        best[slot] = index
    }
    return best.asList()
}

/** Numerically stable softmax, overwriting [values]. */
fun softmaxInPlace(values: DoubleArray) {
    val largest = values.maxOrNull() ?: return
    var total = 0.0
    for (i in values.indices) {
        values[i] = exp(values[i] - largest)
        total += values[i]
    }
    for (i in values.indices) values[i] /= total
}

/** labels.txt: one class name per line, in output order. */
fun parseLabels(text: String): List<String> = text.lines().map { it.trim() }.dropLastWhile { it.isEmpty() }

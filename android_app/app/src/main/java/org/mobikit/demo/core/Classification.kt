package org.mobikit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.exp

/** One line of the on-screen answer. */
data class Prediction(val index: Int, val label: String, val score: Double)

/** Reads the model's output tensor into class probabilities and names the best ones. */
class OutputDecoder(private val output: TensorSpec, private val isSoftmax: Boolean, private val labels: List<String>) {

    /** Real values of the output tensor: (q - zero_point) × scale for quantized outputs. */
    fun dequantize(buffer: ByteBuffer): DoubleArray {
        buffer.rewound().order(ByteOrder.nativeOrder())
        return DoubleArray(output.elements) {
            when {
                output.type == ElementType.FLOAT32 -> buffer.getFloat().toDouble()
                !output.quantized -> storedInteger(buffer.get()).toDouble()
                else -> (storedInteger(buffer.get()) - output.zeroPoint) * output.scale
            }
        }
    }

    /** The [count] most probable classes, best first (softmax applied when the model does not end in one). */
    fun top(buffer: ByteBuffer, count: Int): List<Prediction> {
        val raw = dequantize(buffer)
        val probabilities = if (isSoftmax) raw else softmax(raw)
        return topK(probabilities, count).map { Prediction(it, labelOf(it), probabilities[it]) }
    }

    private fun labelOf(index: Int): String = labels.getOrNull(index) ?: "#$index"

    private fun storedInteger(byte: Byte): Int =
        if (output.type == ElementType.UINT8) byte.toInt() and 0xFF else byte.toInt()
}

/** Indices of the [count] largest values, largest first; equal values keep the lower index first. */
fun topK(values: DoubleArray, count: Int): List<Int> =
    values.indices.sortedWith(compareByDescending<Int> { values[it] }.thenBy { it }).take(count)

/** Numerically stable softmax. */
fun softmax(values: DoubleArray): DoubleArray {
    val largest = values.maxOrNull() ?: return values
    val exponentials = values.map { exp(it - largest) }
    val total = exponentials.sum()
    return exponentials.map { it / total }.toDoubleArray()
}

/** labels.txt: one class name per line, in output order. */
fun parseLabels(text: String): List<String> = text.lines().map { it.trim() }.dropLastWhile { it.isEmpty() }

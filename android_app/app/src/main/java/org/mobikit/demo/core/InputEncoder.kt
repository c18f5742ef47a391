package org.mobikit.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.round
import kotlin.random.Random

/**
 * Turns 0..255 channel values into the model's input bytes: real = (pixel - mean) / std from model.json, then,
 * for int8/uint8 inputs, q = round(real / scale) + zero_point clamped to the type's range (round half to even),
 * both in double. There are only 256 possible pixels, so each is encoded once into a table: the same 256-entry
 * rule as the host's `mobikit.input_grid.input_table` (tests/test_android_app.py holds them equal on the scales
 * of models mobikit writes). mobikit's quantized models use mean = std = 128 with input scale 1/128, where every
 * pixel is its own integer (q = p - 128 for int8, p for uint8): no value is decided by rounding.
 */
class InputEncoder(private val input: TensorSpec, private val preprocessing: Preprocessing) {
    private val quantizedTable = IntArray(256) { quantize(normalize(it)) }
    private val floatTable = FloatArray(256) { normalize(it).toFloat() }

    /** The real value a pixel stands for. */
    fun normalize(pixel: Int): Double = (pixel - preprocessing.mean) / preprocessing.std

    /** The stored integer of [real] in the input tensor (only meaningful for quantized inputs). */
    fun quantize(real: Double): Int {
        if (!input.quantized) return 0
        val stored = round(real / input.scale) + input.zeroPoint
        return stored.coerceIn(input.type.min.toDouble(), input.type.max.toDouble()).toInt()
    }

    /** The value written for a pixel: the stored integer, or the float itself for float inputs. */
    fun encodedValue(pixel: Int): Number = if (input.quantized) quantizedTable[pixel] else floatTable[pixel]

    /** Writes channel values (as [AreaResampler] produces them) into [buffer] from its start, native byte order. */
    fun write(rgb: IntArray, buffer: ByteBuffer) {
        require(rgb.size == input.elements) { "${rgb.size} values for an input of ${input.elements}" }
        buffer.cleared().order(ByteOrder.nativeOrder())
        if (input.quantized) {
            for (pixel in rgb) buffer.put(quantizedTable[pixel].toByte())
        } else {
            for (pixel in rgb) buffer.putFloat(floatTable[pixel])
        }
        buffer.rewound()
    }
}

/**
 * Random input valid for the element type, as host `mobikit bench` feeds: any byte pattern for integer types,
 * uniform [-1, 1] for float32. Seeded so repeated benchmarks feed the same data.
 */
fun randomInput(type: ElementType, byteCount: Int, seed: Int = 0): ByteBuffer {
    val random = Random(seed)
    val buffer = ByteBuffer.allocateDirect(byteCount).order(ByteOrder.nativeOrder())
    if (type == ElementType.FLOAT32) {
        repeat(byteCount / Float.SIZE_BYTES) { buffer.putFloat(random.nextDouble(-1.0, 1.0).toFloat()) }
    } else {
        val bytes = ByteArray(byteCount)
        random.nextBytes(bytes)
        buffer.put(bytes)
    }
    return buffer.rewound()
}

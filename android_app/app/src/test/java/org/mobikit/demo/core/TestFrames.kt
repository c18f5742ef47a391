package org.mobikit.demo.core

import java.nio.ByteBuffer

/**
 * A deterministic textured RGBA image, also rebuilt in numpy by the cross-language test: channel c of pixel
 * (x, y) = ((x·31 + y·17 + c·89) xor (x·y)) and 255.
 */
fun patternChannel(x: Int, y: Int, channel: Int): Int = ((x * 31 + y * 17 + channel * 89) xor (x * y)) and 0xFF

fun patternFrame(width: Int, height: Int, rotationDegrees: Int, rowPadding: Int = 0): RgbaFrame {
    val rowStride = width * RgbaFrame.BYTES_PER_PIXEL + rowPadding
    val pixels = ByteBuffer.allocate(rowStride * height)
    for (y in 0 until height) for (x in 0 until width) for (channel in 0 until 4) {
        val value = if (channel == 3) 255 else patternChannel(x, y, channel)
        pixels.put(y * rowStride + x * RgbaFrame.BYTES_PER_PIXEL + channel, value.toByte())
    }
    return RgbaFrame(pixels, width, height, rowStride, RgbaFrame.BYTES_PER_PIXEL, rotationDegrees)
}

/** A model description as `mobikit quantize` writes it, parsed the way the app parses it. */
fun describedModel(inputType: String = "int8", scale: Double = 0.0078125, zeroPoint: Int = -1,
                   resolution: Int = 8, softmax: Boolean = true): ModelDescription = ModelDescription.fromJson(
    mapOf(
        "name" to "test", "resolution" to resolution,
        "input" to mapOf("dtype" to inputType, "shape" to listOf(1, resolution, resolution, 3), "scale" to scale,
            "zero_point" to zeroPoint),
        "output" to mapOf("dtype" to "int8", "shape" to listOf(1, 5), "scale" to 0.00390625, "zero_point" to -128,
            "softmax" to softmax),
        "preprocessing" to mapOf("color" to "RGB", "resize_shorter_side_to" to 9, "crop_fraction" to 0.875,
            "interpolation" to "area", "crop" to "center", "mean" to 127.5, "std" to 127.5, "layout" to "NHWC"),
        "size_bytes" to 1234,
    ),
    fallbackName = "folder",
)

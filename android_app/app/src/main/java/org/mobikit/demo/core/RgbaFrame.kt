package org.mobikit.demo.core

import java.nio.ByteBuffer

/**
 * A camera frame in RGBA_8888 (4 bytes per pixel, rows [rowStride] bytes apart) seen upright: the camera delivers
 * it unrotated and says how many degrees clockwise it must turn, and this view applies that turn on read.
 * [pixelStride] is what the camera reports; any other value than 4 would make every read land on the wrong byte.
 */
class RgbaFrame(
    private val pixels: ByteBuffer,
    val width: Int,
    val height: Int,
    private val rowStride: Int,
    pixelStride: Int,
    val rotationDegrees: Int,
) {
    init {
        require(pixelStride == BYTES_PER_PIXEL) { "pixel stride $pixelStride, RGBA_8888 needs $BYTES_PER_PIXEL" }
        require(rotationDegrees in RIGHT_ANGLES) { "rotation $rotationDegrees is not a multiple of 90" }
        require(rowStride >= width * BYTES_PER_PIXEL) { "row stride $rowStride too small for width $width" }
    }

    private val quarterTurns = rotationDegrees / 90
    val uprightWidth: Int get() = if (quarterTurns % 2 == 0) width else height
    val uprightHeight: Int get() = if (quarterTurns % 2 == 0) height else width

    /** Byte offset of the upright pixel (x, y) in the buffer; its R, G, B follow at +0, +1, +2. */
    fun offset(x: Int, y: Int): Int {
        val sourceX: Int
        val sourceY: Int
        when (quarterTurns) {
            0 -> { sourceX = x; sourceY = y }
            1 -> { sourceX = y; sourceY = height - 1 - x }
            2 -> { sourceX = width - 1 - x; sourceY = height - 1 - y }
            else -> { sourceX = width - 1 - y; sourceY = x }
        }
        return sourceY * rowStride + sourceX * BYTES_PER_PIXEL
    }

    /** The unsigned byte at [offset]. */
    fun byteAt(offset: Int): Int = pixels.get(offset).toInt() and 0xFF

    companion object {
        const val BYTES_PER_PIXEL = 4
        private val RIGHT_ANGLES = setOf(0, 90, 180, 270)
    }
}

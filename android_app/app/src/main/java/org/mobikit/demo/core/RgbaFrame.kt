package org.mobikit.demo.core

import java.nio.ByteBuffer

/**
 * A camera frame or decoded picture in RGBA_8888 (4 bytes per pixel, rows [rowStride] bytes apart) seen upright:
 * on read, the stored pixels are mirrored left-right when [mirrored] (only image files ask for that, see
 * [ExifOrientation]) and then turned [rotationDegrees] clockwise (what the camera says a frame needs).
 * [pixelStride] is what the camera reports; any other value than 4 would make every read land on the wrong byte.
 */
class RgbaFrame(
    private val pixels: ByteBuffer,
    val width: Int,
    val height: Int,
    private val rowStride: Int,
    pixelStride: Int,
    val rotationDegrees: Int,
    val mirrored: Boolean = false,
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
        val storedX = if (mirrored) width - 1 - sourceX else sourceX
        return sourceY * rowStride + storedX * BYTES_PER_PIXEL
    }

    /**
     * This view mirrored left-right first when [mirror], then turned [degrees] clockwise: the same pixels, not a
     * copy. A mirror after a turn equals the opposite turn after a mirror, so the two steps fold into one.
     */
    fun turned(mirror: Boolean, degrees: Int): RgbaFrame {
        require(degrees in RIGHT_ANGLES) { "rotation $degrees is not a multiple of 90" }
        val carried = if (mirror) -rotationDegrees else rotationDegrees
        return RgbaFrame(pixels, width, height, rowStride, BYTES_PER_PIXEL, (degrees + carried).mod(FULL_TURN),
            mirrored != mirror)
    }

    /** The unsigned byte at [offset]. */
    fun byteAt(offset: Int): Int = pixels.get(offset).toInt() and 0xFF

    companion object {
        const val BYTES_PER_PIXEL = 4
        private const val FULL_TURN = 360
        private val RIGHT_ANGLES = setOf(0, 90, 180, 270)
    }
}

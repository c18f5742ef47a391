package org.mobikit.demo.core

import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.min
import kotlin.math.roundToInt

/**
 * Resize-then-center-crop of an upright frame in one pass, averaging each output pixel over the source area it
 * covers. For shrinking (every camera frame is larger than a model input) this is OpenCV's INTER_AREA, which
 * mobikit uses on the host; only the cropped square is computed.
 */
class AreaResampler(val sourceWidth: Int, val sourceHeight: Int, val geometry: CropGeometry) {
    private val columns = AxisWeights(sourceWidth, geometry.resizedWidth, geometry.left, geometry.size)
    private val rows = AxisWeights(sourceHeight, geometry.resizedHeight, geometry.top, geometry.size)

    /** Fills [rgb] (size × size × 3, row-major, channel last) with 0..255 values of the cropped square. */
    fun resample(frame: RgbaFrame, rgb: IntArray) {
        require(frame.uprightWidth == sourceWidth && frame.uprightHeight == sourceHeight) { "frame size changed" }
        require(rgb.size == geometry.size * geometry.size * CHANNELS) { "output holds ${rgb.size} values" }
        var out = 0
        for (row in 0 until geometry.size) {
            for (column in 0 until geometry.size) {
                var red = 0.0
                var green = 0.0
                var blue = 0.0
                for (r in rows.start[row] until rows.start[row + 1]) {
                    val y = rows.index[r]
                    for (c in columns.start[column] until columns.start[column + 1]) {
                        val weight = rows.weight[r] * columns.weight[c]
                        val pixel = frame.offset(columns.index[c], y)
                        red += weight * frame.byteAt(pixel)
                        green += weight * frame.byteAt(pixel + 1)
                        blue += weight * frame.byteAt(pixel + 2)
                    }
                }
                rgb[out++] = channelValue(red)
                rgb[out++] = channelValue(green)
                rgb[out++] = channelValue(blue)
            }
        }
    }

    private fun channelValue(sum: Double): Int = sum.roundToInt().coerceIn(0, 255)

    /** Source indices and weights of output positions first..first+count along one axis (OpenCV's area table). */
    private class AxisWeights(sourceSize: Int, resizedSize: Int, first: Int, count: Int) {
        val start = IntArray(count + 1)
        val index: IntArray
        val weight: DoubleArray

        init {
            val scale = 1.0 / (resizedSize.toDouble() / sourceSize)
            val indices = ArrayList<Int>()
            val weights = ArrayList<Double>()
            for (position in 0 until count) {
                start[position] = indices.size
                val from = (first + position) * scale
                val to = from + scale
                val cell = min(scale, sourceSize - from)
                val last = min(floor(to).toInt(), sourceSize - 1)
                val firstWhole = min(ceil(from).toInt(), last)
                if (firstWhole - from > EDGE_EPSILON) {
                    indices += firstWhole - 1
                    weights += (firstWhole - from) / cell
                }
                for (source in firstWhole until last) {
                    indices += source
                    weights += 1.0 / cell
                }
                if (to - last > EDGE_EPSILON) {
                    indices += last
                    weights += min(min(to - last, 1.0), cell) / cell
                }
            }
            start[count] = indices.size
            index = indices.toIntArray()
            weight = weights.toDoubleArray()
        }
    }

    companion object {
        const val CHANNELS = 3
        private const val EDGE_EPSILON = 1e-3
    }
}

package org.mobikit.demo.core

import kotlin.math.floor
import kotlin.math.max

/** The crop fraction mobikit's preprocessing uses (`mobikit.preprocess.CROP_FRACTION`). */
const val DEFAULT_CROP_FRACTION = 0.875

/**
 * Resize the whole image to [resizedWidth] × [resizedHeight], then take the [size] × [size] square at
 * ([left], [top]): the same rectangle as `mobikit.preprocess.crop_geometry`, so phone and host crop alike.
 */
data class CropGeometry(val resizedWidth: Int, val resizedHeight: Int, val left: Int, val top: Int, val size: Int) {
    companion object {
        /** Integer arithmetic with round-half-up, exactly as the Python rule. */
        fun of(width: Int, height: Int, resolution: Int, cropFraction: Double = DEFAULT_CROP_FRACTION): CropGeometry {
            require(width > 0 && height > 0 && resolution > 0) { "empty image or resolution" }
            val shortTarget = max(resolution, roundHalfUp(resolution / cropFraction))
            val resizedWidth: Int
            val resizedHeight: Int
            if (width <= height) {
                resizedWidth = shortTarget
                resizedHeight = max(shortTarget, roundHalfUp(height.toLong() * shortTarget / width.toDouble()))
            } else {
                resizedWidth = max(shortTarget, roundHalfUp(width.toLong() * shortTarget / height.toDouble()))
                resizedHeight = shortTarget
            }
            return CropGeometry(
                resizedWidth, resizedHeight, (resizedWidth - resolution) / 2, (resizedHeight - resolution) / 2,
                resolution,
            )
        }

        private fun roundHalfUp(value: Double): Int = floor(value + 0.5).toInt()
    }
}

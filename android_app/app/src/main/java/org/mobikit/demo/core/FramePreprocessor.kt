package org.mobikit.demo.core

import java.nio.ByteBuffer

/**
 * Camera frame → model input, the whole host preprocessing rule: rotate upright, resize the shorter side to
 * resolution / crop_fraction, center-crop, normalize and quantize with model.json's numbers. The resampling
 * tables are rebuilt only when the frame size or rotation changes.
 */
class FramePreprocessor(private val model: ModelDescription) {
    private val encoder = InputEncoder(model.input, model.preprocessing)
    private val rgb = IntArray(model.input.elements)
    private var resampler: AreaResampler? = null

    fun fill(frame: RgbaFrame, input: ByteBuffer) {
        val width = frame.uprightWidth
        val height = frame.uprightHeight
        val current = resampler?.takeIf { it.sourceWidth == width && it.sourceHeight == height }
            ?: AreaResampler(width, height, geometry(width, height)).also { resampler = it }
        current.resample(frame, rgb)
        encoder.write(rgb, input)
    }

    /** The crop this model takes from an upright frame of [width] × [height]. */
    fun geometry(width: Int, height: Int): CropGeometry =
        CropGeometry.of(width, height, model.resolution, model.preprocessing.cropFraction)
}

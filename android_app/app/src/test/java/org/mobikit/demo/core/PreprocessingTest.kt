package org.mobikit.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test
import java.nio.ByteBuffer

class PreprocessingTest {
    @Test
    fun landscapeVgaAt224() {
        // shorter side 480 → round(224 / 0.875) = 256; longer 640 × 256 / 480 = 341.33 → 341.
        assertEquals(CropGeometry(341, 256, 58, 16, 224), CropGeometry.of(640, 480, 224))
    }

    @Test
    fun roundsHalfUp() {
        // 3 × 3 / 2 = 4.5 → 5 (half-to-even would give 4).
        assertEquals(CropGeometry(5, 3, 1, 0, 3), CropGeometry.of(3, 2, 3, cropFraction = 1.0))
        // 128 / 0.875 = 146.29 → 146 on the shorter side.
        assertEquals(CropGeometry(146, 146, 9, 9, 128), CropGeometry.of(100, 100, 128))
    }

    @Test
    fun uprightViewTurnsClockwise() {
        // 3 × 2 source, pixel value = x + 10 y in the red channel.
        val pixels = ByteBuffer.allocate(3 * 2 * 4)
        for (y in 0 until 2) for (x in 0 until 3) pixels.put((y * 3 + x) * 4, (x + 10 * y).toByte())
        fun upright(rotation: Int): List<List<Int>> {
            val frame = RgbaFrame(pixels, 3, 2, 12, 4, rotation)
            return List(frame.uprightHeight) { y -> List(frame.uprightWidth) { x -> frame.byteAt(frame.offset(x, y)) } }
        }
        assertEquals(listOf(listOf(0, 1, 2), listOf(10, 11, 12)), upright(0))
        assertEquals(listOf(listOf(10, 0), listOf(11, 1), listOf(12, 2)), upright(90))
        assertEquals(listOf(listOf(12, 11, 10), listOf(2, 1, 0)), upright(180))
        assertEquals(listOf(listOf(2, 12), listOf(1, 11), listOf(0, 10)), upright(270))
        assertThrows(IllegalArgumentException::class.java) { RgbaFrame(pixels, 3, 2, 12, 4, 45) }
        assertThrows(IllegalArgumentException::class.java) { RgbaFrame(pixels, 3, 2, 12, 3, 0) }
    }

    @Test
    fun areaResamplingAveragesWholeBlocks() {
        // 4 × 4 → 2 × 2 (crop fraction 1): each output is the mean of a 2 × 2 block.
        val frame = patternFrame(4, 4, 0)
        val geometry = CropGeometry.of(4, 4, 2, cropFraction = 1.0)
        val rgb = IntArray(2 * 2 * 3)
        AreaResampler(4, 4, geometry).resample(frame, rgb)
        val expected = IntArray(12) { i ->
            val (pixel, channel) = i / 3 to i % 3
            val (bx, by) = (pixel % 2) * 2 to (pixel / 2) * 2
            val sum = (0..1).sumOf { dy -> (0..1).sumOf { dx -> patternChannel(bx + dx, by + dy, channel) } }
            Math.round(sum / 4.0).toInt()
        }
        assertArrayEquals(expected, rgb)
    }

    @Test
    fun rowPaddingIsSkipped() {
        val padded = IntArray(4 * 4 * 3)
        val tight = IntArray(4 * 4 * 3)
        val geometry = CropGeometry.of(10, 7, 4)
        AreaResampler(10, 7, geometry).resample(patternFrame(10, 7, 0, rowPadding = 24), padded)
        AreaResampler(10, 7, geometry).resample(patternFrame(10, 7, 0), tight)
        assertArrayEquals(tight, padded)
    }

    @Test
    fun encoderQuantizesWithModelJsonNumbers() {
        val int8 = describedModel("int8", scale = 0.0078125, zeroPoint = -1)
        val encoder = InputEncoder(int8.input, int8.preprocessing)
        assertEquals(-128, encoder.encodedValue(0))   // -1.0 / (1/128) - 1 = -129 → clamped
        assertEquals(127, encoder.encodedValue(255))  // 1.0 × 128 - 1 = 127
        assertEquals(-2, encoder.encodedValue(127))   // -0.0039 × 128 = -0.502 → -1, then - 1
        assertEquals(0, encoder.encodedValue(128))    // +0.502 → 1, then - 1
        val uint8 = describedModel("uint8", scale = 0.0078125, zeroPoint = 128)
        assertEquals(0, InputEncoder(uint8.input, uint8.preprocessing).encodedValue(0))
        val float = describedModel("float32", scale = 0.0, zeroPoint = 0)
        assertEquals(1.0f, InputEncoder(float.input, float.preprocessing).encodedValue(255))
    }

    @Test
    fun preprocessorFillsTheWholeInput() {
        val model = describedModel("int8", resolution = 8)
        val input = ByteBuffer.allocateDirect(model.input.byteCount)
        FramePreprocessor(model).fill(patternFrame(40, 30, 90), input)
        assertEquals(0, input.position())
        assertEquals(8 * 8 * 3, input.limit())
    }
}

package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test
import java.nio.ByteBuffer

class ExifOrientationTest {
    /** A 3 × 2 picture as stored in a file, red channel = x + 10 y. */
    private val stored: RgbaFrame = run {
        val pixels = ByteBuffer.allocate(3 * 2 * 4)
        for (y in 0 until 2) for (x in 0 until 3) pixels.put((y * 3 + x) * 4, (x + 10 * y).toByte())
        RgbaFrame(pixels, 3, 2, 12, 4, 0)
    }

    private fun reds(frame: RgbaFrame): List<List<Int>> =
        List(frame.uprightHeight) { y -> List(frame.uprightWidth) { x -> frame.byteAt(frame.offset(x, y)) } }

    private fun upright(tag: Int): List<List<Int>> = reds(ExifOrientation.apply(stored, tag))

    @Test
    fun eachTagShowsWhatExifSaysTheStoredRowsAre() {
        // Tag names are where the stored first row and first column are in the picture as seen.
        assertEquals(listOf(listOf(0, 1, 2), listOf(10, 11, 12)), upright(1))                // top, left
        assertEquals(listOf(listOf(2, 1, 0), listOf(12, 11, 10)), upright(2))                // top, right
        assertEquals(listOf(listOf(12, 11, 10), listOf(2, 1, 0)), upright(3))                // bottom, right
        assertEquals(listOf(listOf(10, 11, 12), listOf(0, 1, 2)), upright(4))                // bottom, left
        assertEquals(listOf(listOf(0, 10), listOf(1, 11), listOf(2, 12)), upright(5))      // left, top
        assertEquals(listOf(listOf(10, 0), listOf(11, 1), listOf(12, 2)), upright(6))      // right, top
        assertEquals(listOf(listOf(12, 2), listOf(11, 1), listOf(10, 0)), upright(7))      // right, bottom
        assertEquals(listOf(listOf(2, 12), listOf(1, 11), listOf(0, 10)), upright(8))      // left, bottom
    }

    @Test
    fun unknownTagsLeaveThePixelsAsStored() {
        for (tag in listOf(0, 9, -1, 65535)) assertEquals(upright(1), upright(tag))
    }

    @Test
    fun undoingAnOrientationGivesTheStoredPixelsBack() {
        // Mirrors and the transposes are their own inverse; a quarter turn one way undoes the other.
        val inverse = mapOf(1 to 1, 2 to 2, 3 to 3, 4 to 4, 5 to 5, 6 to 8, 7 to 7, 8 to 6)
        for ((tag, undo) in inverse) {
            val undone = ExifOrientation.apply(ExifOrientation.apply(stored, tag), undo)
            assertEquals("tag $tag", reds(stored), reds(undone))
        }
    }

    @Test
    fun orientationsComposeOnAViewThatIsAlreadyTurned() {
        assertEquals(upright(3), reds(ExifOrientation.apply(ExifOrientation.apply(stored, 6), 6)))
        assertEquals(upright(4), reds(ExifOrientation.apply(ExifOrientation.apply(stored, 2), 3)))
        assertEquals(upright(7), reds(ExifOrientation.apply(ExifOrientation.apply(stored, 2), 6)))
        assertEquals(upright(5), reds(ExifOrientation.apply(ExifOrientation.apply(stored, 6), 2)))
        assertEquals(upright(7), reds(ExifOrientation.apply(ExifOrientation.apply(stored, 8), 2)))
        // A camera frame turned 90° clockwise, then turned back by tag 8: the pixels as the camera stored them.
        val cameraFrame = patternFrame(5, 3, 90, rowPadding = 4)
        val back = ExifOrientation.apply(cameraFrame, 8)
        assertEquals(reds(patternFrame(5, 3, 0)), reds(back))
        assertEquals(false, back.mirrored)
        assertEquals(0, back.rotationDegrees)
    }

    @Test
    fun preprocessorReadsAnOrientedPictureAtItsUprightSize() {
        val model = describedModel("int8", resolution = 8)
        val turned = ExifOrientation.apply(patternFrame(40, 30, 0), 5)
        assertEquals(30 to 40, turned.uprightWidth to turned.uprightHeight)
        val input = ByteBuffer.allocateDirect(model.input.byteCount)
        FramePreprocessor(model).fill(turned, input)
        assertEquals(8 * 8 * 3, input.limit())
    }
}

package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test
import java.nio.ByteBuffer

class ClassificationTest {
    private val labels = listOf("tench", "goldfish", "shark", "", "hen")

    private fun int8Output(vararg stored: Int): ByteBuffer =
        ByteBuffer.allocateDirect(stored.size).apply { stored.forEach { put(it.toByte()) } }

    @Test
    fun dequantizesAndRanksBestFirst() {
        val model = describedModel()
        val decoder = OutputDecoder(model.output, model.outputIsSoftmax, labels)
        val top = decoder.top(int8Output(-128, 127, 0, 0, -64), 3)
        assertEquals(listOf(1, 2, 3), top.map { it.index })
        assertEquals(255 * 0.00390625, top[0].score, 1e-12)
        assertEquals("goldfish", top[0].label)
    }

    @Test
    fun missingLabelsAreNamedByIndex() {
        val model = describedModel()
        val decoder = OutputDecoder(model.output, model.outputIsSoftmax, labels.take(2))
        assertEquals("#4", decoder.top(int8Output(-128, -128, -128, -128, 100), 1).single().label)
    }

    @Test
    fun logitsGoThroughSoftmax() {
        val model = describedModel(softmax = false)
        val top = OutputDecoder(model.output, model.outputIsSoftmax, labels).top(int8Output(0, 0, 0, 0, 0), 5)
        top.forEach { assertEquals(0.2, it.score, 1e-12) }
        assertEquals(listOf(0, 1, 2, 3, 4), top.map { it.index })
    }

    @Test
    fun labelsFileLinesInOrder() {
        assertEquals(listOf("tench", "goldfish"), parseLabels("tench\r\ngoldfish\n\n"))
    }
}

package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class AppLogicTest {
    @Test
    fun modelJsonFillsTheDescription() {
        val model = describedModel("uint8", scale = 0.5, zeroPoint = 3, resolution = 8)
        assertEquals("test", model.name)
        assertEquals(8, model.resolution)
        assertEquals(listOf(1, 5), model.output.shape)
        assertEquals(TensorSpec(ElementType.UINT8, listOf(1, 8, 8, 3), 0.5, 3), model.input)
        assertEquals(Preprocessing(127.5, 127.5, 0.875), model.preprocessing)
        assertEquals(1234L, model.sizeBytes)
    }

    @Test
    fun floatIoIsNotQuantized() {
        assertEquals(false, describedModel("float32", scale = 0.0, zeroPoint = 0).input.quantized)
    }

    @Test
    fun unsupportedModelJsonIsRejectedWithAReason() {
        val error = assertThrows(IllegalArgumentException::class.java) {
            ModelDescription.fromJson(mapOf("input" to mapOf("dtype" to "int16")), "x")
        }
        assertTrue(error.message!!.contains("preprocessing"))
    }

    @Test
    fun deployedModelsComeFirst() {
        val choice = chooseModel(installed("b", "a"), listOf("bundled"), requested = null)
        assertEquals(
            listOf(ModelEntry("a", ModelOrigin.DEPLOYED, DIGEST), ModelEntry("b", ModelOrigin.DEPLOYED, DIGEST),
                ModelEntry("bundled", ModelOrigin.BUNDLED)),
            choice.models,
        )
        assertEquals("a", choice.selected!!.name)
        assertNull(choice.note)
    }

    @Test
    fun launchExtraSelectsAModel() {
        assertEquals("b", chooseModel(installed("a", "b"), emptyList(), "b").selected!!.name)
        val missing = chooseModel(installed("a"), emptyList(), "zzz")
        assertEquals("a", missing.selected!!.name)
        assertTrue(missing.note!!.contains("zzz"))
        assertNull(chooseModel(emptyList(), emptyList(), null).selected)
    }

    @Test
    fun frameRateOverTheWindow() {
        val meter = FrameRateMeter(window = 3)
        assertEquals(0.0, meter.frame(0), 0.0)
        assertEquals(10.0, meter.frame(100_000_000), 1e-9)
        meter.frame(200_000_000)
        assertEquals(4.0, meter.frame(600_000_000), 1e-9)  // last 3 frames: 2 intervals in 0.5 s
    }

    @Test
    fun overlayShowsPredictionsTimingAndNote() {
        val text = overlayText(listOf(Prediction(1, "goldfish", 0.875)), 12.34, 29.96, listOf("note"))
        assertEquals(" 87.5%  goldfish\n12.3 ms inference · 30.0 FPS\nnote", text)
    }

    @Test
    fun fallbackNoteNamesTheDelegateAndWhereItRunsInstead() {
        assertEquals("nnapi delegate unavailable on this device: API 26; running on CPU (xnnpack)",
            cpuFallbackNote(Delegate.NNAPI, "API 26"))
    }

    @Test
    fun delegatePreconditions() {
        assertEquals("GPU not on LiteRT's compatibility list", delegatePrecondition(Delegate.GPU, 34) { false })
        assertNull(delegatePrecondition(Delegate.GPU, 34) { true })
        assertTrue(delegatePrecondition(Delegate.NNAPI, 26) { true }!!.contains("API 27"))
        assertNull(delegatePrecondition(Delegate.CPU, 21) { error("GPU list consulted for CPU") })
    }

    @Test
    fun bundledModelsMirrorThePushedLayout() {
        assertEquals("models", bundledAssetPath())
        assertEquals("models/m", bundledAssetPath("m"))
        assertEquals("models/m/model.json", bundledAssetPath("m", Contract.MODEL_JSON))
    }

    @Test
    fun modelJsonMustDescribeTheInterpretersTensors() {
        val model = describedModel(resolution = 8)
        val input = model.input
        val output = model.output
        assertNull(model.mismatch(input, output, 1234))
        // Same byte count, other type: the size check alone would have fed int8 pixels to a uint8 model.
        val asUint8 = model.mismatch(input.copy(type = ElementType.UINT8), output, 1234)!!
        assertTrue(asUint8, asUint8.contains("input dtype: model.json int8, model.tflite uint8"))
        assertTrue(model.mismatch(input.copy(shape = listOf(1, 3, 8, 8)), output, 1234)!!.contains("shape"))
        val zeroPoint = model.mismatch(input, output.copy(zeroPoint = 0), 1234)!!
        assertTrue(zeroPoint, zeroPoint.contains("output quantization"))
        assertTrue(model.mismatch(input.copy(scale = input.scale * 1.01), output, 1234)!!.contains("scale"))
        assertTrue(model.mismatch(input, output, 999)!!.contains("size: model.json 1234 bytes, model.tflite 999"))
    }

    @Test
    fun float32ScalesPrintedWithMoreDigitsStillMatch() {
        val model = describedModel(scale = 0.007843137718737125)
        val fromInterpreter = model.input.copy(scale = 0.007843137718737125f.toDouble())
        assertNull(model.input.difference(fromInterpreter))
    }

    @Test
    fun aZeroScaleInModelJsonDoesNotHideAQuantizedTensor() {
        val model = describedModel(scale = 0.0078125)
        val claimsUnquantized = model.input.copy(scale = 0.0)
        assertTrue(claimsUnquantized.difference(model.input)!!.contains("quantization"))
        assertTrue(model.input.difference(claimsUnquantized)!!.contains("quantization"))
    }

    @Test
    fun rescanKeepsTheModelOnScreen() {
        val first = chooseModel(emptyList(), listOf("bundled", "other"), requested = "other")
        assertEquals(ModelEntry("other", ModelOrigin.BUNDLED), first.selected)
        val deployedLater = refreshModels(first, installed("new", "other"), listOf("bundled", "other"))
        assertEquals(ModelEntry("other", ModelOrigin.BUNDLED), deployedLater.selected)
        assertEquals(listOf("new", "other", "bundled", "other"), deployedLater.models.map { it.name })
        val nothingBefore = chooseModel(emptyList(), emptyList(), null)
        assertEquals("new", refreshModels(nothingBefore, installed("new"), emptyList()).selected!!.name)
    }

    private companion object {
        val DIGEST = "0".repeat(64)

        fun installed(vararg names: String) = names.map { InstalledModel(it, DIGEST) }
    }
}

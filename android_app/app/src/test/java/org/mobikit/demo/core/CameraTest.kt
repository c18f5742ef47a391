package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class CameraTest {
    @Test
    fun backCameraFirst() {
        val tried = mutableListOf<CameraLens>()
        assertEquals(CameraOutcome(CameraLens.BACK, null), bindFirstCamera(CAMERA_PREFERENCE) { tried += it })
        assertEquals(listOf(CameraLens.BACK), tried)
    }

    @Test
    fun missingBackCameraFallsBackToTheFrontOneAndSaysWhy() {
        val outcome = bindFirstCamera(CAMERA_PREFERENCE) {
            if (it == CameraLens.BACK) throw IllegalArgumentException("No available camera can be found")
        }
        assertEquals(CameraLens.FRONT, outcome.lens)
        assertEquals("using the front camera (back camera: IllegalArgumentException: No available camera can be " +
            "found)", outcome.message)
    }

    @Test
    fun noUsableCameraGivesEveryReason() {
        val outcome = bindFirstCamera(CAMERA_PREFERENCE) { throw IllegalStateException("in use by ${it.label}") }
        assertNull(outcome.lens)
        assertEquals("camera unavailable: back camera: IllegalStateException: in use by back; " +
            "front camera: IllegalStateException: in use by front", outcome.message)
        assertEquals("camera unavailable: no camera to try", bindFirstCamera(emptyList()) {}.message)
    }

    @Test
    fun cameraStateErrorsAreExplained() {
        assertEquals("camera unavailable: another app is using the camera", cameraStateProblem(2))
        assertEquals("camera unavailable: camera error 42", cameraStateProblem(42))
    }

    @Test
    fun permissionAnswerDecidesTheNextStep() {
        assertEquals(PermissionStep.START_CAMERA, afterPermissionAnswer(granted = true, showRationale = false))
        assertEquals(PermissionStep.EXPLAIN_AND_ASK_AGAIN, afterPermissionAnswer(granted = false, showRationale = true))
        assertEquals(PermissionStep.EXPLAIN_AND_OPEN_SETTINGS,
            afterPermissionAnswer(granted = false, showRationale = false))
    }

    @Test
    fun modelRegionOnAPortraitPreview() {
        // 480 × 640 upright frame fitted into 1080 × 1920: scale 2.25, shown 1080 × 1440 from y = 240. The crop of
        // 224 (resize to 256 × 341, square at 16, 58) is 224/256 of the width, centred.
        val crop = CropGeometry.of(480, 640, 224)
        assertEquals(CropGeometry(256, 341, 16, 58, 224), crop)
        assertEquals(ViewBox(68, 485, 945, 946), modelRegionOnPreview(1080, 1920, 480, 640, crop))
    }

    @Test
    fun modelRegionOnALetterboxedLandscapePreview() {
        // 640 × 480 frame in a 2000 × 1000 view: height-bound, scale 1000/480, shown 1333.3 wide from x = 333.3.
        // The crop is centred up to the half resized pixel the integer crop offset drops (33 of 33.5 here).
        val crop = CropGeometry.of(640, 480, 128)
        assertEquals(CropGeometry(195, 146, 33, 9, 128), crop)
        val box = modelRegionOnPreview(2000, 1000, 640, 480, crop)
        val shownWidth = 640 * 1000.0 / 480
        assertEquals(333.3 + 33 * shownWidth / 195, box.left.toDouble(), 1.0)
        assertEquals(500.0, box.top + box.height / 2.0, 1.0)
        assertEquals(crop.size.toDouble() / crop.resizedWidth * shownWidth, box.width.toDouble(), 1.0)
        assertTrue(box.top > 0 && box.top + box.height < 1000)
    }
}

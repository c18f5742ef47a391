package org.mobikit.demo.core

import kotlin.math.min
import kotlin.math.roundToInt

/** The cameras the screen tries, in order: the manifest does not require a camera, so any may be missing. */
enum class CameraLens(val label: String) { BACK("back"), FRONT("front") }

val CAMERA_PREFERENCE = listOf(CameraLens.BACK, CameraLens.FRONT)

/** Which camera runs ([lens] null when none could) and what the screen should say about it. */
data class CameraOutcome(val lens: CameraLens?, val message: String?)

/**
 * Binds the first lens of [order] that [bind] accepts; [bind] throws when a lens is missing, in use or cannot be
 * configured. A later lens says why the earlier ones were skipped; no lens at all gives every reason.
 */
fun bindFirstCamera(order: List<CameraLens>, bind: (CameraLens) -> Unit): CameraOutcome {
    val skipped = mutableListOf<String>()
    for (lens in order) {
        try {
            bind(lens)
        } catch (failure: Exception) {
            skipped += "${lens.label} camera: ${failureText(failure)}"
            continue
        }
        val message = if (skipped.isEmpty()) null else "using the ${lens.label} camera (${skipped.joinToString("; ")})"
        return CameraOutcome(lens, message)
    }
    return CameraOutcome(null, cameraUnavailable(skipped.joinToString("; ").ifEmpty { "no camera to try" }))
}

/** The screen's text when the camera cannot run at all. */
fun cameraUnavailable(reason: String): String = "camera unavailable: $reason"

/** What to do after the camera permission was asked for. */
enum class PermissionStep { START_CAMERA, EXPLAIN_AND_ASK_AGAIN, EXPLAIN_AND_OPEN_SETTINGS }

/**
 * After a permission answer: run the camera when granted; when denied, Android still shows its dialog only while
 * it wants a rationale shown ([showRationale]); once it stops (denied for good) only the app's settings can grant.
 */
fun afterPermissionAnswer(granted: Boolean, showRationale: Boolean): PermissionStep = when {
    granted -> PermissionStep.START_CAMERA
    showRationale -> PermissionStep.EXPLAIN_AND_ASK_AGAIN
    else -> PermissionStep.EXPLAIN_AND_OPEN_SETTINGS
}

/** A rectangle in view pixels. */
data class ViewBox(val left: Int, val top: Int, val width: Int, val height: Int)

/**
 * Where the model's square sits on a preview view of [viewWidth] × [viewHeight] that shows the whole upright frame
 * of [frameWidth] × [frameHeight] centred and scaled to fit (PreviewView's FIT_CENTER): the frame is letterboxed
 * into the view, then the crop of [geometry] (made for that frame) is mapped onto it.
 */
fun modelRegionOnPreview(viewWidth: Int, viewHeight: Int, frameWidth: Int, frameHeight: Int,
                         geometry: CropGeometry): ViewBox {
    require(viewWidth > 0 && viewHeight > 0 && frameWidth > 0 && frameHeight > 0) { "empty view or frame" }
    val scale = min(viewWidth.toDouble() / frameWidth, viewHeight.toDouble() / frameHeight)
    val shownLeft = (viewWidth - frameWidth * scale) / 2
    val shownTop = (viewHeight - frameHeight * scale) / 2
    val perResizedX = frameWidth * scale / geometry.resizedWidth
    val perResizedY = frameHeight * scale / geometry.resizedHeight
    val left = (shownLeft + geometry.left * perResizedX).roundToInt()
    val top = (shownTop + geometry.top * perResizedY).roundToInt()
    val right = (shownLeft + (geometry.left + geometry.size) * perResizedX).roundToInt()
    val bottom = (shownTop + (geometry.top + geometry.size) * perResizedY).roundToInt()
    return ViewBox(left, top, right - left, bottom - top)
}

/**
 * CameraX's `CameraState.ERROR_*` codes (camera-core API, identical since 1.1) and what they mean for the user:
 * a camera that binds can still fail to open later, most often because another app holds it.
 */
val CAMERA_STATE_ERRORS = mapOf(
    1 to "too many cameras are open",
    2 to "another app is using the camera",
    3 to "the camera had a recoverable error",
    4 to "the camera cannot stream this configuration",
    5 to "the camera is disabled by a device policy",
    6 to "the camera had a fatal error",
    7 to "do-not-disturb mode keeps the camera closed",
)

/** The screen's text for a camera that bound but reports an error state. */
fun cameraStateProblem(code: Int): String =
    cameraUnavailable(CAMERA_STATE_ERRORS[code] ?: "camera error $code")

package org.mobikit.demo.core

/**
 * What an image file's EXIF orientation tag asks for to show its stored pixels upright: mirror left-right first
 * (when [mirror]), then turn [degrees] clockwise. The table is `mobikit.preprocess.ORIENTATIONS`, so a file the
 * app reads is seen as the host's `read_image` sees it; camera frames need none of this (CameraX says
 * `rotationDegrees`).
 */
data class ExifOrientation(val mirror: Boolean, val degrees: Int) {
    companion object {
        /** EXIF tag (1–8) → orientation. */
        val BY_TAG: Map<Int, ExifOrientation> = mapOf(
            1 to ExifOrientation(mirror = false, degrees = 0),
            2 to ExifOrientation(mirror = true, degrees = 0),
            3 to ExifOrientation(mirror = false, degrees = 180),
            4 to ExifOrientation(mirror = true, degrees = 180),
            5 to ExifOrientation(mirror = true, degrees = 270),
            6 to ExifOrientation(mirror = false, degrees = 90),
            7 to ExifOrientation(mirror = true, degrees = 90),
            8 to ExifOrientation(mirror = false, degrees = 270),
        )

        /** [frame] seen upright for EXIF orientation [tag], without copying pixels; an unknown tag leaves the
         *  frame as it is, as on the host. */
        fun apply(frame: RgbaFrame, tag: Int): RgbaFrame =
            BY_TAG[tag]?.let { frame.turned(it.mirror, it.degrees) } ?: frame
    }
}

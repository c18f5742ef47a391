package org.mobikit.demo.core

import java.util.Locale

/**
 * Frames per second over the last [window] frames, from their arrival times; a slow frame shows within a second.
 * The arrival times sit in a ring of primitive longs, so a frame costs no allocation.
 */
class FrameRateMeter(private val window: Int = 30) {
    private val arrivals = LongArray(window)
    private var count = 0
    private var newest = -1

    /** Records a frame that finished at [nanos] and returns the current rate (0 until two frames arrived). */
    fun frame(nanos: Long): Double {
        newest = (newest + 1) % window
        arrivals[newest] = nanos
        if (count < window) count++
        val oldest = arrivals[(newest - count + 1 + window) % window]
        val span = nanos - oldest
        return if (count < 2 || span <= 0) 0.0 else (count - 1) * 1e9 / span
    }

    fun reset() {
        count = 0
        newest = -1
    }
}

/** The overlay text: the top predictions, then timing, then notes (model not found, delegate fallback). */
fun overlayText(predictions: List<Prediction>, inferenceMs: Double, framesPerSecond: Double,
                notes: List<String>): String = buildString {
    for (prediction in predictions) {
        appendLine(String.format(Locale.US, "%5.1f%%  %s", prediction.score * 100, prediction.label))
    }
    append(String.format(Locale.US, "%.1f ms inference · %.1f FPS", inferenceMs, framesPerSecond))
    for (note in notes) append('\n').append(note)
}

/** The overlay text when a frame could not be classified; the camera keeps running and the next frame retries. */
fun frameFailureOverlay(failure: Throwable, notes: List<String>): String =
    (listOf("classification failed: ${failureText(failure)}") + notes).joinToString("\n")

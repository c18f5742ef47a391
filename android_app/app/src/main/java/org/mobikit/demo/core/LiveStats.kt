package org.mobikit.demo.core

import java.util.Locale

/** Frames per second over the last [window] frames, from their arrival times; a slow frame shows within a second. */
class FrameRateMeter(private val window: Int = 30) {
    private val arrivals = ArrayDeque<Long>()

    /** Records a frame that finished at [nanos] and returns the current rate (0 until two frames arrived). */
    fun frame(nanos: Long): Double {
        arrivals.addLast(nanos)
        if (arrivals.size > window) arrivals.removeFirst()
        val span = arrivals.last() - arrivals.first()
        return if (arrivals.size < 2 || span <= 0) 0.0 else (arrivals.size - 1) * 1e9 / span
    }

    fun reset() = arrivals.clear()
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

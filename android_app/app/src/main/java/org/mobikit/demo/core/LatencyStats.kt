package org.mobikit.demo.core

import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min
import kotlin.math.sqrt

/**
 * Summary of per-run latencies, computed exactly as `mobikit.stats.summarize`: percentiles interpolate linearly
 * between closest ranks, std is the population std. Same operations in the same order, so the numbers match
 * the host's to the last bit.
 */
data class LatencyStats(
    val runs: Int,
    val meanMs: Double,
    val medianMs: Double,
    val p5Ms: Double,
    val p90Ms: Double,
    val p95Ms: Double,
    val minMs: Double,
    val maxMs: Double,
    val stdMs: Double,
) {
    companion object {
        fun of(latenciesMs: List<Double>): LatencyStats {
            require(latenciesMs.isNotEmpty()) { "no latencies to summarize" }
            val values = latenciesMs.sorted()
            val n = values.size
            var total = 0.0
            var squares = 0.0
            for (value in values) {
                total += value
                squares += value * value
            }
            val mean = total / n
            val std = sqrt(max(0.0, squares / n - mean * mean))
            return LatencyStats(
                n, mean, percentile(values, 50.0), percentile(values, 5.0), percentile(values, 90.0),
                percentile(values, 95.0), values.first(), values.last(), std,
            )
        }
    }
}

/** The [q]-th percentile (0–100) of already sorted values. */
fun percentile(sortedValues: List<Double>, q: Double): Double {
    require(sortedValues.isNotEmpty()) { "percentile of no values" }
    val rank = q / 100.0 * (sortedValues.size - 1)
    val low = floor(rank).toInt()
    val high = min(low + 1, sortedValues.size - 1)
    return sortedValues[low] + (sortedValues[high] - sortedValues[low]) * (rank - low)
}

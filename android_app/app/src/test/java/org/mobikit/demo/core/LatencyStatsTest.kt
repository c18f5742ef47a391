package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test

class LatencyStatsTest {
    @Test
    fun percentilesInterpolateBetweenClosestRanks() {
        val sorted = listOf(1.0, 2.0, 3.0, 4.0)
        assertEquals(2.5, percentile(sorted, 50.0), 0.0)
        assertEquals(1.15, percentile(sorted, 5.0), 1e-15)
        assertEquals(3.7, percentile(sorted, 90.0), 1e-15)
        assertEquals(4.0, percentile(sorted, 100.0), 0.0)
    }

    @Test
    fun summaryOfUnsortedRuns() {
        val stats = LatencyStats.of(listOf(4.0, 1.0, 3.0, 2.0))
        assertEquals(4, stats.runs)
        assertEquals(2.5, stats.meanMs, 0.0)
        assertEquals(1.0, stats.minMs, 0.0)
        assertEquals(4.0, stats.maxMs, 0.0)
        assertEquals(Math.sqrt(1.25), stats.stdMs, 1e-15)  // population std
    }

    @Test
    fun singleRunHasNoSpread() {
        val stats = LatencyStats.of(listOf(7.5))
        assertEquals(7.5, stats.p95Ms, 0.0)
        assertEquals(0.0, stats.stdMs, 0.0)
    }

    @Test
    fun noRunsIsAnError() {
        assertThrows(IllegalArgumentException::class.java) { LatencyStats.of(emptyList()) }
    }
}

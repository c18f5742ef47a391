package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** Frames, interpreters and delegates are released on every path (issue 22, defect 4 and the CameraX stall). */
class LifecycleTest {
    private class Frame(val pixels: String) : AutoCloseable {
        var closes = 0
        override fun close() {
            closes++
        }
    }

    private class Resource(val name: String, val log: MutableList<String>, val fail: Boolean = false) :
        AutoCloseable {
        override fun close() {
            log += name
            if (fail) throw IllegalStateException("$name close failed")
        }
    }

    @Test
    fun frameIsClosedOnSuccessFailureModelSwitchAndShutdown() {
        var model: String? = "m1"
        val published = mutableListOf<Result<String>>()
        val analyzer = FrameAnalyzer<Frame, String, String>(
            current = { model },
            classify = { m, frame ->
                if (frame.pixels == "bad") throw IllegalArgumentException("pixel stride 3")
                if (frame.pixels == "switch") model = "m2"  // the model changes while this frame runs
                "$m:${frame.pixels}"
            },
            publish = { published += it },
        )
        val ok = Frame("ok").also(analyzer::analyze)
        val bad = Frame("bad").also(analyzer::analyze)
        val switching = Frame("switch").also(analyzer::analyze)
        model = null
        val noModel = Frame("none").also(analyzer::analyze)
        model = "m3"
        analyzer.shutDown()
        val afterShutdown = Frame("late").also(analyzer::analyze)
        for (frame in listOf(ok, bad, switching, noModel, afterShutdown)) assertEquals(frame.pixels, 1, frame.closes)
        assertEquals(listOf("m1:ok", null, "m1:switch"), published.map { it.getOrNull() })
        assertTrue(published[1].exceptionOrNull() is IllegalArgumentException)
    }

    @Test
    fun aFatalErrorStillClosesTheFrame() {
        val analyzer = FrameAnalyzer<Frame, String, String>({ "m" }, { _, _ -> throw OutOfMemoryError() }, {})
        val frame = Frame("x")
        assertThrows(OutOfMemoryError::class.java) { analyzer.analyze(frame) }
        assertEquals(1, frame.closes)
    }

    @Test
    fun interpreterClosesBeforeItsDelegateEvenWhenItFails() {
        val log = mutableListOf<String>()
        DelegatedSession(Resource("interpreter", log), Resource("delegate", log)).close()
        assertEquals(listOf("interpreter", "delegate"), log)
        log.clear()
        val failing = DelegatedSession(Resource("interpreter", log, fail = true), Resource("delegate", log))
        assertThrows(IllegalStateException::class.java) { failing.close() }
        failing.close()
        assertEquals(listOf("interpreter", "delegate"), log)
    }

    @Test
    fun stoppedScreenHoldsNoSessionAndReopensItsSetupOnStart() {
        val log = mutableListOf<String>()
        var opened = 0
        val holder = SessionHolder<String, Resource> { setup -> opened++; Resource(setup, log) }
        holder.use("gpu:m1")
        holder.use("gpu:m1")  // the same setup: nothing reopened
        assertEquals(1, opened)
        holder.stop()
        assertNull(holder.session)
        assertEquals(listOf("gpu:m1"), log)
        holder.use("gpu:m2")  // a switch while stopped is remembered, not opened
        assertEquals(1, opened)
        holder.start()
        assertEquals("gpu:m2", holder.session!!.name)
        holder.use("cpu:m2")
        assertEquals(listOf("gpu:m1", "gpu:m2"), log)
    }

    @Test
    fun aFailedCameraBindIsRetried() {
        val camera = CameraStarter()
        assertTrue(camera.shouldBind())
        assertFalse(camera.shouldBind())  // binding in progress
        camera.failed()
        assertTrue(camera.shouldBind())  // the next resume tries again
        camera.bound()
        assertFalse(camera.shouldBind())
        camera.unbound()
        assertTrue(camera.shouldBind())
    }

    @Test
    fun aHalfTurnIsARotationChange() {
        val rotation = RotationTracker(initial = 1)  // Surface.ROTATION_90: landscape
        assertEquals(3, rotation.onDisplayChanged(3))  // reverse landscape: no configuration change, still news
        assertNull(rotation.onDisplayChanged(3))
        assertEquals(0, rotation.onDisplayChanged(0))
    }
}

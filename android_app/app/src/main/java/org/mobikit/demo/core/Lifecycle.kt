package org.mobikit.demo.core

/**
 * The camera analyzer's per-frame sequence — acquire, convert, classify, publish, close — without CameraX: [F] is
 * the frame (CameraX's `ImageProxy` on the phone), [current] the model that runs now (null while none is loaded).
 * The frame is closed on every path: success, a failing frame, a model switched or closed meanwhile, and after
 * [shutDown]. CameraX delivers no further frame until the previous one is closed (STRATEGY_KEEP_ONLY_LATEST), so
 * one frame left open stalls the preview's analysis for good.
 */
class FrameAnalyzer<F : AutoCloseable, M, R>(
    private val current: () -> M?,
    private val classify: (M, F) -> R,
    private val publish: (Result<R>) -> Unit,
) {
    @Volatile
    private var stopped = false

    fun analyze(frame: F) {
        frame.use {
            if (stopped) return
            val model = current() ?: return
            val outcome = try {
                Result.success(classify(model, frame))
            } catch (failure: Throwable) {
                if (!isReportable(failure)) throw failure
                Result.failure(failure)
            }
            if (!stopped) publish(outcome)
        }
    }

    /** After this, frames are closed unread (the screen is going away). */
    fun shutDown() {
        stopped = true
    }
}

/**
 * An interpreter and the delegate it was built with, closed in LiteRT's order: the interpreter first (it still
 * references the delegate's kernels), then the delegate — the delegate even when closing the interpreter throws.
 * Closing twice does nothing.
 */
class DelegatedSession<I : AutoCloseable>(val interpreter: I, private val delegate: AutoCloseable?) : AutoCloseable {
    private var closed = false

    override fun close() {
        if (closed) return
        closed = true
        try {
            interpreter.close()
        } finally {
            delegate?.close()
        }
    }
}

/**
 * Holds the screen's model session while the activity is started and frees it while stopped, so a stopped app
 * keeps no interpreter or GPU delegate: [stop] closes it and remembers its setup, [start] reopens that setup.
 * [open] and every method run on the one inference thread.
 */
class SessionHolder<K, S : AutoCloseable>(private val open: (K) -> S) {
    var session: S? = null
        private set
    var setup: K? = null
        private set
    private var started = true

    /** Switches to [wanted] (closing the previous session first); while stopped, only remembers it. */
    fun use(wanted: K) {
        if (wanted == setup && (session != null || !started)) return
        close()
        setup = wanted
        if (started) session = open(wanted)
    }

    fun stop() {
        started = false
        close()
    }

    fun start() {
        started = true
        val wanted = setup
        if (session == null && wanted != null) session = open(wanted)
    }

    private fun close() {
        val previous = session
        session = null
        previous?.close()
    }
}

/**
 * Whether the camera should be bound now. The bind is asynchronous and can fail (provider error, no camera, in
 * use): only a bind in progress or a bound camera stops another attempt, so a failure is retried on the next
 * resume instead of never again.
 */
class CameraStarter {
    private enum class State { IDLE, BINDING, BOUND }

    private var state = State.IDLE

    /** True (and now binding) when a bind should start. */
    fun shouldBind(): Boolean {
        if (state != State.IDLE) return false
        state = State.BINDING
        return true
    }

    fun bound() {
        state = State.BOUND
    }

    fun failed() {
        state = State.IDLE
    }

    /** The camera was unbound (the activity stopped): bind again when it returns. */
    fun unbound() {
        state = State.IDLE
    }
}

/**
 * The display rotation the camera's use cases must be told. With `configChanges` covering orientation, a 180° turn
 * (landscape to reverse landscape, portrait to upside down) changes no configuration, so no
 * `onConfigurationChanged` comes; a display listener reports every rotation, and this says when it changed.
 */
class RotationTracker(initial: Int) {
    var rotation: Int = initial
        private set

    /** The new rotation when [displayRotation] differs from the last one told, else null. */
    fun onDisplayChanged(displayRotation: Int): Int? {
        if (displayRotation == rotation) return null
        rotation = displayRotation
        return displayRotation
    }
}

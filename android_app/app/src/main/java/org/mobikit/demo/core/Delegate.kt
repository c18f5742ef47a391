package org.mobikit.demo.core

/**
 * The inference back-ends the app offers, named as in [Contract.DELEGATES] (the same choices as `benchmark_model`).
 * [xnnpack] says whether the ops that stay on the CPU run on XNNPACK's kernels: as in `benchmark_model`, only the
 * plain `cpu` choice turns XNNPACK off, so a GPU or NNAPI number includes fast CPU kernels for what it leaves over.
 * [accelerated] marks the delegates that may be missing on a phone and fall back to the CPU on the camera screen.
 * [kernel] is the name LiteRT logs for the delegate's node ("Replacing N out of M node(s) with delegate (<kernel>…").
 */
enum class Delegate(val id: String, val xnnpack: Boolean, val accelerated: Boolean, val kernel: String?) {
    CPU("cpu", xnnpack = false, accelerated = false, kernel = null),
    XNNPACK("xnnpack", xnnpack = true, accelerated = false, kernel = "TfLiteXNNPackDelegate"),
    GPU("gpu", xnnpack = true, accelerated = true, kernel = "TfLiteGpuDelegate"),
    NNAPI("nnapi", xnnpack = true, accelerated = true, kernel = "TfLiteNnapiDelegate");

    companion object {
        val DEFAULT = XNNPACK

        /** Where the camera screen goes when an accelerated delegate cannot run: the fastest CPU path. */
        val CPU_FALLBACK = XNNPACK

        fun fromId(id: String): Delegate? = entries.firstOrNull { it.id == id.trim().lowercase() }
    }
}

/** Why a requested delegate could not be used; the UI shows it next to the CPU numbers, benchmarks report it. */
fun delegateUnavailable(delegate: Delegate, reason: String): String =
    "${delegate.id} delegate unavailable on this device: $reason"

/** The visible note when the camera screen falls back to the CPU. */
fun cpuFallbackNote(delegate: Delegate, reason: String): String =
    "${delegateUnavailable(delegate, reason)}; running on CPU (${Delegate.CPU_FALLBACK.id})"

/** A delegate that cannot run here; the message says which and why. */
class DelegateUnavailableException(delegate: Delegate, val reason: String) :
    Exception(delegateUnavailable(delegate, reason))

/** NNAPI exists from Android 8.1 (API 27); it is deprecated from Android 15 but still present. */
const val NNAPI_MIN_SDK = 27

/**
 * Why [delegate] cannot be tried on this phone, or null when it can: the checks that need no delegate instance.
 * [gpuSupported] is asked only for the GPU (it consults LiteRT's compatibility list).
 */
fun delegatePrecondition(delegate: Delegate, sdkLevel: Int, gpuSupported: () -> Boolean): String? = when {
    delegate == Delegate.GPU && !gpuSupported() -> "GPU not on LiteRT's compatibility list"
    delegate == Delegate.NNAPI && sdkLevel < NNAPI_MIN_SDK -> "NNAPI needs API $NNAPI_MIN_SDK, this is API $sdkLevel"
    else -> null
}

/**
 * Whether [failure] is one a caller should report rather than let kill the process: every exception, and the
 * linkage errors a missing or broken native library throws (`UnsatisfiedLinkError`, `NoClassDefFoundError`,
 * `ExceptionInInitializerError` from a delegate's static initializer). Out-of-memory and other VM errors are not.
 */
fun isReportable(failure: Throwable): Boolean = failure is Exception || failure is LinkageError

/** The one-line text of a failure for the screen or the result JSON. */
fun failureText(failure: Throwable): String =
    (failure as? DelegateUnavailableException)?.message ?: failure.message?.takeIf { it.isNotBlank() }
        ?.let { "${failure.javaClass.simpleName}: $it" } ?: failure.javaClass.simpleName

/**
 * What a failure while opening an interpreter on [delegate] becomes: for an accelerated delegate, a reportable
 * failure (a missing native library included) means the delegate cannot run here, so it is wrapped in a
 * [DelegateUnavailableException] that names it; anything else — a CPU choice's failure, which is the model's, or a
 * VM error — is passed on as it is.
 */
fun openingFailure(delegate: Delegate, failure: Throwable): Throwable =
    if (failure is DelegateUnavailableException || !delegate.accelerated || !isReportable(failure)) {
        failure
    } else {
        DelegateUnavailableException(delegate, failureText(failure))
    }

/** What opening on a delegate gave: the session, and the note to show when it runs elsewhere than asked. */
class Opened<T>(val session: T, val note: String?)

/**
 * Opens [requested] with [open]; when an accelerated delegate fails in a reportable way (see [isReportable]),
 * opens [Delegate.CPU_FALLBACK] instead and says why in the note. A CPU choice that fails is not retried: the
 * model itself is the problem then.
 */
fun <T> openWithCpuFallback(requested: Delegate, open: (Delegate) -> T): Opened<T> {
    val failure = try {
        return Opened(open(requested), null)
    } catch (failure: Throwable) {
        if (!requested.accelerated || !isReportable(failure)) throw failure
        failure
    }
    val reason = (failure as? DelegateUnavailableException)?.reason ?: failureText(failure)
    return Opened(open(Delegate.CPU_FALLBACK), cpuFallbackNote(requested, reason))
}

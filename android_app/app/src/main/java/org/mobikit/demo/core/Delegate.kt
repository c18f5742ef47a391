package org.mobikit.demo.core

/** The inference back-ends the app offers, named as in [Contract.DELEGATES] (the same choices as `benchmark_model`). */
enum class Delegate(val id: String) {
    CPU("cpu"),
    XNNPACK("xnnpack"),
    GPU("gpu"),
    NNAPI("nnapi");

    companion object {
        val DEFAULT = XNNPACK

        fun fromId(id: String): Delegate? = entries.firstOrNull { it.id == id.trim().lowercase() }
    }
}

/** Why a requested delegate could not be used; the UI shows it next to the CPU numbers, benchmarks report it. */
fun delegateUnavailable(delegate: Delegate, reason: String): String =
    "${delegate.id} delegate unavailable on this device: $reason"

/** The visible note when the camera screen falls back to plain CPU. */
fun cpuFallbackNote(delegate: Delegate, reason: String): String =
    "${delegateUnavailable(delegate, reason)}; running on CPU"

/** A delegate that cannot run here; the message says which and why. */
class DelegateUnavailableException(val delegate: Delegate, val reason: String) :
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

package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class DelegateTest {
    @Test
    fun xnnpackStaysOnUnlessPlainCpuIsAskedFor() {
        // benchmark_model keeps XNNPACK for the ops a GPU or NNAPI delegate leaves on the CPU.
        assertEquals(listOf(false, true, true, true), Delegate.entries.map { it.xnnpack })
        assertEquals(listOf(Delegate.GPU, Delegate.NNAPI), Delegate.entries.filter { it.accelerated })
    }

    @Test
    fun missingNativeLibrariesAreReportableButVmErrorsAreNot() {
        assertTrue(isReportable(IllegalStateException("x")))
        assertTrue(isReportable(UnsatisfiedLinkError("libtensorflowlite_gpu_jni.so not found")))
        assertTrue(isReportable(NoClassDefFoundError("org/tensorflow/lite/gpu/GpuDelegate")))
        assertTrue(isReportable(ExceptionInInitializerError("static init")))
        assertFalse(isReportable(OutOfMemoryError()))
        assertFalse(isReportable(StackOverflowError()))
    }

    @Test
    fun failureTextNamesTheKindOfFailure() {
        assertEquals("UnsatisfiedLinkError: dlopen failed", failureText(UnsatisfiedLinkError("dlopen failed")))
        assertEquals("IllegalStateException", failureText(IllegalStateException()))
        assertEquals("gpu delegate unavailable on this device: no OpenCL",
            failureText(DelegateUnavailableException(Delegate.GPU, "no OpenCL")))
    }

    @Test
    fun acceleratorFailuresWhileOpeningNameTheDelegate() {
        val missing = openingFailure(Delegate.GPU, UnsatisfiedLinkError("no libtensorflowlite_gpu_jni"))
        assertTrue(missing is DelegateUnavailableException)
        assertEquals("gpu delegate unavailable on this device: UnsatisfiedLinkError: no libtensorflowlite_gpu_jni",
            missing.message)
        val precondition = DelegateUnavailableException(Delegate.NNAPI, "NNAPI needs API 27")
        assertSame(precondition, openingFailure(Delegate.NNAPI, precondition))
        val badModel = IllegalArgumentException("not a flatbuffer")
        assertSame(badModel, openingFailure(Delegate.XNNPACK, badModel))
        val outOfMemory = OutOfMemoryError()
        assertSame(outOfMemory, openingFailure(Delegate.GPU, outOfMemory))
    }

    @Test
    fun workingDelegateRunsWithoutNote() {
        val opened = openWithCpuFallback(Delegate.GPU) { "session on ${it.id}" }
        assertEquals("session on gpu", opened.session)
        assertNull(opened.note)
    }

    @Test
    fun delegateWhoseNativeLibraryIsMissingFallsBackToCpuWithTheReason() {
        val tried = mutableListOf<Delegate>()
        val opened = openWithCpuFallback(Delegate.GPU) {
            tried += it
            if (it == Delegate.GPU) throw UnsatisfiedLinkError("no libtensorflowlite_gpu_jni") else "cpu session"
        }
        assertEquals(listOf(Delegate.GPU, Delegate.CPU_FALLBACK), tried)
        assertEquals("cpu session", opened.session)
        assertEquals("gpu delegate unavailable on this device: UnsatisfiedLinkError: no libtensorflowlite_gpu_jni; " +
            "running on CPU (xnnpack)", opened.note)
    }

    @Test
    fun unavailableDelegateKeepsItsOwnReason() {
        val opened = openWithCpuFallback(Delegate.NNAPI) {
            if (it == Delegate.NNAPI) throw DelegateUnavailableException(it, "NNAPI needs API 27") else Unit
        }
        assertEquals(cpuFallbackNote(Delegate.NNAPI, "NNAPI needs API 27"), opened.note)
    }

    @Test
    fun cpuFailuresAndVmErrorsAreNotHidden() {
        val broken = IllegalArgumentException("not a flatbuffer")
        assertSame(broken, assertThrows(IllegalArgumentException::class.java) {
            openWithCpuFallback(Delegate.XNNPACK) { throw broken }
        })
        assertThrows(OutOfMemoryError::class.java) {
            openWithCpuFallback(Delegate.GPU) { throw OutOfMemoryError() }
        }
    }
}

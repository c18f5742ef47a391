package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

class ContractTest {
    @Test
    fun delegatesAreTheContractNamesInOrder() {
        assertEquals(Contract.DELEGATES, Delegate.entries.map { it.id })
    }

    @Test
    fun delegateIdsParseLeniently() {
        assertEquals(Delegate.GPU, Delegate.fromId(" GPU "))
        assertEquals(null, Delegate.fromId("hexagon"))
    }

    @Test
    fun foldersSitUnderTheExternalFilesFolder() {
        assertEquals("${Contract.EXTERNAL_FILES_DIR}/${Contract.MODELS_SUBDIR}", Contract.MODELS_DIR)
        assertEquals("${Contract.EXTERNAL_FILES_DIR}/${Contract.RESULTS_SUBDIR}", Contract.RESULTS_DIR)
        assertEquals(listOf(Contract.MODEL_FILE, Contract.LABELS_FILE, Contract.MODEL_JSON), Contract.MODEL_FILES)
    }
}

package org.mobikit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import java.io.File

/** Deployed models are verified and imported into internal storage (defects 2 and 6); delegate coverage (3). */
class ImportAndCoverageTest {
    @get:Rule
    val folder = TemporaryFolder()

    private val sha = Regex("\"sha256\": \"([0-9a-f]{64})\"")

    private fun importer() = ModelImporter(File(folder.root, "internal")) { json ->
        sha.find(json.readText())?.groupValues?.get(1)
    }

    /** A deployed folder in "external storage" whose model.json names [declared] (default: the real digest). */
    private fun staged(name: String, bytes: String, declared: String? = null): Pair<File, String> {
        val dir = File(folder.root, "external/$name").apply { deleteRecursively(); mkdirs() }
        File(dir, Contract.MODEL_FILE).writeText(bytes)
        File(dir, Contract.LABELS_FILE).writeText("a\nb\n")
        val digest = sha256Of(File(dir, Contract.MODEL_FILE))
        File(dir, Contract.MODEL_JSON).writeText("{\"sha256\": \"${declared ?: digest}\"}")
        return dir to digest
    }

    @Test
    fun verifiedCopyGoesToInternalStorageAndANewDigestReplacesIt() {
        val importer = importer()
        val (v1, d1) = staged("m", "model one")
        val first = importer.import(v1, "m", d1) as ImportOutcome.Installed
        assertTrue(first.changed)
        assertEquals(listOf(InstalledModel("m", d1)), importer.installed())
        assertEquals("model one", File(importer.folder("m"), Contract.MODEL_FILE).readText())
        assertEquals(ImportOutcome.Installed(InstalledModel("m", d1), changed = false), importer.import(v1, "m", d1))
        val (v2, d2) = staged("m", "model two, same name")
        val second = importer.import(v2, "m", d2) as ImportOutcome.Installed
        assertTrue(second.changed)
        assertNotEquals(d1, d2)
        assertEquals(listOf(InstalledModel("m", d2)), importer.installed())
        assertEquals(listOf("m"), File(folder.root, "internal").list()!!.toList())  // no leftovers
    }

    @Test
    fun aModelThatDoesNotMatchItsDigestsIsRefusedAndTheInstalledOneKept() {
        val importer = importer()
        val (good, digest) = staged("m", "good")
        importer.import(good, "m", digest)
        val (tampered, _) = staged("m", "written by another app", declared = digest)
        // The verified internal copy is what runs: rewriting the external folder changes nothing.
        assertEquals(ImportOutcome.Installed(InstalledModel("m", digest), changed = false),
            importer.import(tampered, "m", digest))
        val (corrupt, _) = staged("m", "bytes that are not the model model.json names", declared = "e".repeat(64))
        val refused = importer.import(corrupt, "m", "e".repeat(64)) as ImportOutcome.Refused
        assertTrue(refused.reason, refused.reason.contains("is not the") && refused.reason.contains("model.json"))
        val (selfConsistent, otherDigest) = staged("m", "another app's own model")
        val notAsked = importer.import(selfConsistent, "m", "f".repeat(64)) as ImportOutcome.Refused
        assertTrue(notAsked.reason, notAsked.reason.contains("the deploy sent"))
        assertTrue(importer.import(selfConsistent, "m", null) is ImportOutcome.Refused)
        assertTrue(importer.import(selfConsistent, "../m", otherDigest) is ImportOutcome.Refused)
        assertEquals(listOf(InstalledModel("m", digest)), importer.installed())
        assertEquals("good", File(importer.folder("m"), Contract.MODEL_FILE).readText())
    }

    @Test
    fun aDeployedModelNeverHidesTheBundledOneAndANewDigestReselects() {
        val choice = chooseModel(listOf(InstalledModel("m", "a".repeat(64))), listOf("m", "bundled"), "m")
        assertEquals(listOf(ModelEntry("m", ModelOrigin.DEPLOYED, "a".repeat(64)), ModelEntry("bundled",
            ModelOrigin.BUNDLED), ModelEntry("m", ModelOrigin.BUNDLED)), choice.models)
        assertEquals(ModelOrigin.DEPLOYED, choice.selected!!.origin)
        val redeployed = refreshModels(choice, listOf(InstalledModel("m", "b".repeat(64))), listOf("m", "bundled"))
        assertEquals("b".repeat(64), redeployed.selected!!.sha256)
        assertNotEquals(choice.selected, redeployed.selected)  // a changed digest is a different setup: reloaded
    }

    private val gpuLog = """
        I tflite  : Created TensorFlow Lite XNNPACK delegate for CPU.
        I tflite  : Replacing 31 out of 31 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for the whole graph.
        I tflite  : Initialized OpenCL-based API.
        I tflite  : Replacing 28 out of 31 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole graph.
    """.trimIndent()

    @Test
    fun coverageIsReadFromLiteRtsLogLines() {
        val applied = parseDelegateCoverage(gpuLog + "\nI tflite: Replacing 5 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 3 partitions.")
        assertEquals(listOf(
            DelegateCoverage("TfLiteXNNPackDelegate", 31, 31, 1),
            DelegateCoverage("TfLiteGpuDelegateV2", 28, 31, 2),
            DelegateCoverage("TfLiteNnapiDelegate", 5, null, 3),
        ), applied)
        val gpu = delegateReport(Delegate.GPU, gpuLog)
        assertEquals(DelegateReport(Delegate.GPU, Delegate.GPU, 28, 31, 2, null), gpu)
        assertEquals("gpu: 28 of 31 nodes, 2 partitions", gpu.summary())
    }

    @Test
    fun aDelegateThatTookNoNodeIsReportedAsTheCpuThatRan() {
        val none = gpuLog.replace("Replacing 28 out of 31", "Replacing 0 out of 31")
        val report = delegateReport(Delegate.GPU, none)
        assertEquals(Delegate.XNNPACK, report.used)
        assertEquals(31, report.nodes)
        assertTrue(report.note, report.note!!.contains("took 0 of 31 nodes"))
        val silent = delegateReport(Delegate.NNAPI, "")
        assertEquals(Delegate.CPU, silent.used)
        assertNull(silent.nodes)
        assertTrue(silent.note, silent.note!!.contains("logged no node replacement"))
        assertFalse(delegateReport(Delegate.CPU, gpuLog).summary().contains("gpu"))
    }
}

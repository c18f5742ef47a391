package org.mobikit.demo.core

import java.io.File
import java.io.IOException
import java.security.MessageDigest

/** A deployed model in the app's internal storage, with the sha256 of model.tflite it was verified against. */
data class InstalledModel(val name: String, val sha256: String)

/** What an import did: the model now installed, whether it replaced another digest, or why it was refused. */
sealed class ImportOutcome {
    data class Installed(val model: InstalledModel, val changed: Boolean) : ImportOutcome()
    data class Refused(val reason: String) : ImportOutcome()
}

/** Lowercase hex sha256 of a file, read in chunks. */
fun sha256Of(file: File): String {
    val digest = MessageDigest.getInstance("SHA-256")
    file.inputStream().use { stream ->
        val buffer = ByteArray(1 shl 16)
        while (true) {
            val read = stream.read(buffer)
            if (read < 0) break
            digest.update(buffer, 0, read)
        }
    }
    return digest.digest().joinToString("") { "%02x".format(it) }
}

/**
 * Moves models `mobikit deploy` left in app-specific external storage (which adb can write, and which other apps
 * holding WRITE_EXTERNAL_STORAGE can write too on Android 7–9) into [internalRoot] (the app's private `filesDir`),
 * and only there are models loaded from. An import copies the files first and verifies the *copies*: model.tflite's
 * sha256 must be the one model.json names ([declaredSha256] reads it) and the one the deploy asked for; then the
 * verified folder is renamed into place, so a reader sees the old model or the new one, never a mix.
 */
class ModelImporter(private val internalRoot: File, private val declaredSha256: (File) -> String?) {

    /** The installed models, sorted by name; a folder without its verified digest is not one. */
    fun installed(): List<InstalledModel> = internalRoot.listFiles().orEmpty()
        .filter { it.isDirectory && !it.name.startsWith(".") }
        .mapNotNull { folder -> digestOf(folder)?.let { InstalledModel(folder.name, it) } }
        .sortedBy { it.name }

    fun folder(name: String): File = File(internalRoot, name)

    /**
     * Imports the model folder [staged] under [name]. [expectedSha256] is the digest the deploy sent with the
     * intent; without it nothing is imported (anyone could have written the external folder).
     */
    fun import(staged: File, name: String, expectedSha256: String?): ImportOutcome {
        if (!isModelName(name)) return ImportOutcome.Refused("unsafe model name $name")
        if (expectedSha256 == null) return ImportOutcome.Refused("no ${Contract.EXTRA_SHA256} given for $name")
        val current = digestOf(folder(name))
        if (current == expectedSha256) return ImportOutcome.Installed(InstalledModel(name, current), changed = false)
        val missing = Contract.MODEL_FILES.filterNot { File(staged, it).isFile }
        if (missing.isNotEmpty()) return ImportOutcome.Refused("deployed $name lacks ${missing.joinToString()}")
        if (!internalRoot.isDirectory && !internalRoot.mkdirs()) throw IOException("cannot create $internalRoot")
        val importing = File(internalRoot, ".$name.importing")
        importing.deleteRecursively()
        try {
            importing.mkdirs()
            for (file in Contract.MODEL_FILES) File(staged, file).copyTo(File(importing, file))
            val declared = declaredSha256(File(importing, Contract.MODEL_JSON))
                ?: return ImportOutcome.Refused("$name: ${Contract.MODEL_JSON} names no sha256")
            val actual = sha256Of(File(importing, Contract.MODEL_FILE))
            val problem = when {
                actual != declared -> "$name: ${Contract.MODEL_FILE} sha256 ${actual.take(12)}… is not the " +
                    "${declared.take(12)}… its ${Contract.MODEL_JSON} names"
                actual != expectedSha256 -> "$name: ${Contract.MODEL_FILE} sha256 ${actual.take(12)}… is not the " +
                    "${expectedSha256.take(12)}… the deploy sent"
                else -> null
            }
            if (problem != null) return ImportOutcome.Refused("refused $problem")
            File(importing, DIGEST_FILE).writeText(actual)
            swapIn(importing, folder(name))
            return ImportOutcome.Installed(InstalledModel(name, actual), changed = true)
        } finally {
            importing.deleteRecursively()
        }
    }

    private fun swapIn(ready: File, live: File) {
        val old = File(internalRoot, ".${live.name}.old")
        old.deleteRecursively()
        if (live.exists() && !live.renameTo(old)) throw IOException("cannot move $live aside")
        if (!ready.renameTo(live)) {
            old.renameTo(live)
            throw IOException("cannot rename $ready to $live")
        }
        old.deleteRecursively()
    }

    private fun digestOf(folder: File): String? =
        File(folder, DIGEST_FILE).takeIf { it.isFile }?.readText()?.trim()?.takeIf { it.length == SHA256_HEX }

    private companion object {
        /** Written last into a verified folder: its presence marks a complete import. */
        const val DIGEST_FILE = ".sha256"
        const val SHA256_HEX = 64
    }
}

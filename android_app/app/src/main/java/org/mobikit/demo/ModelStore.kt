package org.mobikit.demo

import android.content.Context
import org.json.JSONArray
import org.json.JSONObject
import org.mobikit.demo.core.Contract
import org.mobikit.demo.core.ImportOutcome
import org.mobikit.demo.core.InstalledModel
import org.mobikit.demo.core.ModelDescription
import org.mobikit.demo.core.ModelEntry
import org.mobikit.demo.core.ModelImporter
import org.mobikit.demo.core.ModelJson
import org.mobikit.demo.core.ModelOrigin
import org.mobikit.demo.core.bundledAssetPath
import org.mobikit.demo.core.parseLabels
import java.io.File
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.channels.FileChannel

/**
 * The models the app can run: deployed ones, imported (verified) from the external models folder `mobikit deploy`
 * pushes into, into the app's internal storage, which only the app can write; and the ones bundled in the APK
 * assets. Nothing is ever loaded from external storage. The first look creates the external models folder, so adb
 * can push into it; every method here touches storage, so call them off the main thread.
 */
class ModelStore(private val context: Context) {
    private val deployFolder: File? by lazy { context.getExternalFilesDir(Contract.MODELS_SUBDIR) }
    private val importer = ModelImporter(File(context.filesDir, Contract.MODELS_SUBDIR)) { json ->
        JSONObject(json.readText()).optString(ModelJson.SHA256).takeIf { it.isNotEmpty() }
    }

    /** Creates the folder adb pushes into (getExternalFilesDir makes it on first use). */
    fun prepareDeployFolder(): Boolean = deployFolder != null

    fun installed(): List<InstalledModel> = importer.installed()

    fun bundledNames(): List<String> = context.assets.list(bundledAssetPath())?.filter { name ->
        context.assets.list(bundledAssetPath(name))?.contains(Contract.MODEL_FILE) == true
    }.orEmpty()

    /** Imports the deployed folder [name] when its model.tflite has [sha256] (see core's [ModelImporter]). */
    fun importDeployed(name: String, sha256: String?): ImportOutcome {
        val folder = deployFolder ?: return ImportOutcome.Refused("external storage unavailable")
        return importer.import(File(folder, name), name, sha256)
    }

    /** The entry for a model name, a deployed one before a bundled one. */
    fun find(name: String): ModelEntry? =
        installed().firstOrNull { it.name == name }?.let { ModelEntry(it.name, ModelOrigin.DEPLOYED, it.sha256) }
            ?: name.takeIf { it in bundledNames() }?.let { ModelEntry(it, ModelOrigin.BUNDLED) }

    /**
     * The .tflite memory-mapped, as LiteRT reads it without a copy: the imported file, or the bundled asset's bytes
     * inside the APK (stored uncompressed: `noCompress` in the build, so the asset has a file descriptor).
     */
    fun modelBuffer(entry: ModelEntry): ByteBuffer = when (entry.origin) {
        ModelOrigin.DEPLOYED -> FileInputStream(importedFile(entry, Contract.MODEL_FILE)).channel.use { channel ->
            channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size())
        }
        ModelOrigin.BUNDLED -> context.assets.openFd(bundledAssetPath(entry.name, Contract.MODEL_FILE)).use { asset ->
            FileInputStream(asset.fileDescriptor).channel.use { channel ->
                channel.map(FileChannel.MapMode.READ_ONLY, asset.startOffset, asset.declaredLength)
            }
        }
    }

    fun description(entry: ModelEntry): ModelDescription =
        ModelDescription.fromJson(JSONObject(text(entry, Contract.MODEL_JSON)).toMap(), entry.name)

    fun labels(entry: ModelEntry): List<String> = parseLabels(text(entry, Contract.LABELS_FILE))

    private fun text(entry: ModelEntry, file: String): String = when (entry.origin) {
        ModelOrigin.DEPLOYED -> importedFile(entry, file).readText()
        ModelOrigin.BUNDLED -> context.assets.open(bundledAssetPath(entry.name, file)).use {
            it.readBytes().toString(Charsets.UTF_8)
        }
    }

    private fun importedFile(entry: ModelEntry, file: String): File = File(importer.folder(entry.name), file)
}

/** model.json as plain maps and lists, the form core reads. */
private fun JSONObject.toMap(): Map<String, Any?> = keys().asSequence().associateWith { plain(get(it)) }

private fun plain(value: Any?): Any? = when (value) {
    is JSONObject -> value.toMap()
    is JSONArray -> List(value.length()) { plain(value.get(it)) }
    JSONObject.NULL -> null
    else -> value
}

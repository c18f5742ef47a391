package org.mobikit.demo

import android.content.Context
import org.json.JSONArray
import org.json.JSONObject
import org.mobikit.demo.core.Contract
import org.mobikit.demo.core.ModelDescription
import org.mobikit.demo.core.ModelEntry
import org.mobikit.demo.core.ModelOrigin
import org.mobikit.demo.core.bundledAssetPath
import org.mobikit.demo.core.parseLabels
import java.io.File
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.channels.FileChannel

/**
 * The model folders the app can run: pushed by `mobikit deploy` under the external models folder, or bundled in
 * the APK assets with the same layout. The first look at pushed models creates the models folder, so adb can push
 * into it; that and every other method here touches storage, so call them off the main thread.
 */
class ModelStore(private val context: Context) {
    private val pushedFolder: File? by lazy { context.getExternalFilesDir(Contract.MODELS_SUBDIR) }

    fun pushedNames(): List<String> =
        pushedFolder?.listFiles()?.filter { File(it, Contract.MODEL_FILE).isFile }?.map { it.name }.orEmpty()

    fun bundledNames(): List<String> = context.assets.list(bundledAssetPath())?.filter { name ->
        context.assets.list(bundledAssetPath(name))?.contains(Contract.MODEL_FILE) == true
    }.orEmpty()

    /** The entry for a model name, a pushed folder winning over a bundled one. */
    fun find(name: String): ModelEntry? = when (name) {
        in pushedNames() -> ModelEntry(name, ModelOrigin.PUSHED)
        in bundledNames() -> ModelEntry(name, ModelOrigin.BUNDLED)
        else -> null
    }

    /**
     * The .tflite memory-mapped, as LiteRT reads it without a copy: the pushed file, or the bundled asset's bytes
     * inside the APK (stored uncompressed: `noCompress` in the build, so the asset has a file descriptor).
     */
    fun modelBuffer(entry: ModelEntry): ByteBuffer = when (entry.origin) {
        ModelOrigin.PUSHED -> FileInputStream(pushedFile(entry, Contract.MODEL_FILE)).channel.use { channel ->
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
        ModelOrigin.PUSHED -> pushedFile(entry, file).readText()
        ModelOrigin.BUNDLED -> context.assets.open(bundledAssetPath(entry.name, file)).use {
            it.readBytes().toString(Charsets.UTF_8)
        }
    }

    private fun pushedFile(entry: ModelEntry, file: String): File =
        File(File(requireNotNull(pushedFolder) { "external storage unavailable" }, entry.name), file)
}

/** model.json as plain maps and lists, the form core reads. */
private fun JSONObject.toMap(): Map<String, Any?> = keys().asSequence().associateWith { plain(get(it)) }

private fun plain(value: Any?): Any? = when (value) {
    is JSONObject -> value.toMap()
    is JSONArray -> List(value.length()) { plain(value.get(it)) }
    JSONObject.NULL -> null
    else -> value
}

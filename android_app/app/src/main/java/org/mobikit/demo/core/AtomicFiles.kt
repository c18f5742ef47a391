package org.mobikit.demo.core

import java.io.File
import java.io.FileOutputStream
import java.io.IOException

/**
 * Writes [text] to [target] so that a reader (adb pull polling for the result) sees either nothing or the whole
 * file: write a hidden temporary beside it, flush it to disk, then rename it over the target.
 */
fun writeAtomically(target: File, text: String) {
    val folder = target.absoluteFile.parentFile
    if (!folder.isDirectory && !folder.mkdirs()) throw IOException("cannot create folder $folder")
    val temporary = File(folder, ".${target.name}.tmp")
    FileOutputStream(temporary).use { stream ->
        stream.write(text.toByteArray(Charsets.UTF_8))
        stream.fd.sync()
    }
    if (!temporary.renameTo(target)) {
        temporary.delete()
        throw IOException("cannot rename $temporary to $target")
    }
}

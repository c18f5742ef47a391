package org.mobikit.demo.core

/**
 * Where a model's files live: deployed by `mobikit deploy` and imported, verified, into the app's internal storage;
 * or bundled in the APK.
 */
enum class ModelOrigin(val id: String) { DEPLOYED("deployed"), BUNDLED("bundled") }

/** One model the screen can run; [sha256] (deployed models) changes when a deploy replaces it under its name. */
data class ModelEntry(val name: String, val origin: ModelOrigin, val sha256: String? = null)

/** The model picker's choices and the model to start with. */
data class ModelChoice(val models: List<ModelEntry>, val selected: ModelEntry?, val note: String?)

/**
 * Deployed models come first, sorted by name, then the bundled ones: a deployed model never hides a bundled one of
 * the same name, both are listed. The model named at launch (`--es model <name>`) is selected when it exists, a
 * deployed one before a bundled one; otherwise the first one, with a note.
 */
fun chooseModel(deployed: List<InstalledModel>, bundled: List<String>, requested: String?): ModelChoice {
    val models = deployed.sortedBy { it.name }.map { ModelEntry(it.name, ModelOrigin.DEPLOYED, it.sha256) } +
        bundled.sorted().map { ModelEntry(it, ModelOrigin.BUNDLED) }
    val match = models.firstOrNull { it.name == requested }
    val note = if (requested != null && match == null) "model $requested not found" else null
    return ModelChoice(models, match ?: models.firstOrNull(), note)
}

/**
 * The choice after a rescan (the app resumed, or a deploy imported a model): the model on screen stays selected
 * while it exists — with its new digest when a deploy replaced it, which makes the screen reload it.
 */
fun refreshModels(current: ModelChoice, deployed: List<InstalledModel>, bundled: List<String>): ModelChoice {
    val fresh = chooseModel(deployed, bundled, null)
    val kept = current.selected?.let { old -> fresh.models.firstOrNull { it.name == old.name && it.origin == old.origin } }
    return fresh.copy(selected = kept ?: fresh.selected)
}

/** Path of a bundled model's file in the APK assets: models/<name>/<file>. */
fun bundledAssetPath(vararg parts: String): String = (listOf(Contract.MODELS_SUBDIR) + parts).joinToString("/")

/** The error for a model name that is neither deployed nor bundled. */
fun modelNotFound(name: String): String = "model $name not found among the deployed models or in the APK"

/** Thread counts the camera screen offers; the default is the benchmark default. */
val THREAD_CHOICES = listOf(1, 2, 4, 8)

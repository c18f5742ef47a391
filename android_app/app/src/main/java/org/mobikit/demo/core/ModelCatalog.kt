package org.mobikit.demo.core

/** Where a model's files live: pushed by `mobikit deploy` into the models folder, or bundled in the APK. */
enum class ModelOrigin { PUSHED, BUNDLED }

data class ModelEntry(val name: String, val origin: ModelOrigin)

/** The model picker's choices and the model to start with. */
data class ModelChoice(val models: List<ModelEntry>, val selected: ModelEntry?, val note: String?)

/**
 * Pushed models come first, sorted by name, and shadow a bundled model of the same name (a redeploy wins); hidden
 * folders are `mobikit deploy`'s uploads in progress and are skipped. The model named at launch
 * (`--es model <name>`) is selected when it exists; otherwise the first one, with a note.
 */
fun chooseModel(allPushed: List<String>, bundled: List<String>, requested: String?): ModelChoice {
    val pushed = allPushed.filterNot { it.startsWith(".") }
    val models = pushed.sorted().map { ModelEntry(it, ModelOrigin.PUSHED) } +
        bundled.sorted().filter { it !in pushed }.map { ModelEntry(it, ModelOrigin.BUNDLED) }
    val match = models.firstOrNull { it.name == requested }
    val note = if (requested != null && match == null) {
        "model $requested not found under ${Contract.MODELS_DIR}"
    } else {
        null
    }
    return ModelChoice(models, match ?: models.firstOrNull(), note)
}

/**
 * The choice after a rescan (the app resumed; `mobikit deploy` may have pushed or replaced models meanwhile): the
 * model on screen stays selected while it exists, and a model pushed under its name now wins over the bundled one.
 */
fun refreshModels(current: ModelChoice, allPushed: List<String>, bundled: List<String>): ModelChoice =
    chooseModel(allPushed, bundled, current.selected?.name)

/** Path of a bundled model's file in the APK assets, which mirror the pushed layout: models/<name>/<file>. */
fun bundledAssetPath(vararg parts: String): String = (listOf(Contract.MODELS_SUBDIR) + parts).joinToString("/")

/** The error for a model name that is neither pushed nor bundled. */
fun modelNotFound(name: String): String = "model $name not found under ${Contract.MODELS_DIR} or in the APK"

/** Thread counts the camera screen offers; the default is the benchmark default. */
val THREAD_CHOICES = listOf(1, 2, 4, 8)

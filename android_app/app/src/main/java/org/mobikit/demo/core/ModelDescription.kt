package org.mobikit.demo.core

import kotlin.math.abs

/** Keys of the `model.json` that `mobikit quantize` writes next to every model. */
object ModelJson {
    const val NAME = "name"
    const val INPUT = "input"
    const val OUTPUT = "output"
    const val DTYPE = "dtype"
    const val SHAPE = "shape"
    const val SCALE = "scale"
    const val ZERO_POINT = "zero_point"
    const val SOFTMAX = "softmax"
    const val PREPROCESSING = "preprocessing"
    const val COLOR = "color"
    const val CROP_FRACTION = "crop_fraction"
    const val MEAN = "mean"
    const val STD = "std"
    const val LAYOUT = "layout"
    const val SIZE_BYTES = "size_bytes"
    const val SHA256 = "sha256"

    const val RGB = "RGB"
    const val NHWC = "NHWC"
}

/** Element types of model inputs and outputs; only these three are produced by `mobikit quantize`. */
enum class ElementType(val id: String, val bytes: Int, val min: Int, val max: Int) {
    FLOAT32("float32", 4, 0, 0),
    INT8("int8", 1, -128, 127),
    UINT8("uint8", 1, 0, 255);

    val quantized: Boolean get() = this != FLOAT32

    companion object {
        fun fromId(id: String): ElementType? = entries.firstOrNull { it.id == id.lowercase() }
    }
}

/** One tensor as model.json records it. A scale of 0 means "not quantized" (float I/O). */
data class TensorSpec(val type: ElementType, val shape: List<Int>, val scale: Double, val zeroPoint: Int) {
    val elements: Int get() = shape.fold(1) { product, dimension -> product * dimension }
    val byteCount: Int get() = elements * type.bytes
    val quantized: Boolean get() = type.quantized && scale != 0.0

    /**
     * How [actual] (the interpreter's tensor) differs from this description, or null when it does not. Scales
     * are float32 in the model and may be printed with more digits in model.json, hence the relative tolerance.
     */
    fun difference(actual: TensorSpec): String? = when {
        type != actual.type -> "dtype: model.json ${type.id}, model.tflite ${actual.type.id}"
        shape != actual.shape -> "shape: model.json $shape, model.tflite ${actual.shape}"
        // either side quantized: a scale of 0 in model.json must not hide a quantized tensor (or the reverse)
        type.quantized && (quantized || actual.quantized) &&
            (abs(scale - actual.scale) > SCALE_TOLERANCE * maxOf(abs(scale), abs(actual.scale)) ||
                zeroPoint != actual.zeroPoint) ->
            "quantization: model.json scale $scale zero point $zeroPoint, " +
                "model.tflite scale ${actual.scale} zero point ${actual.zeroPoint}"
        else -> null
    }

    private companion object {
        const val SCALE_TOLERANCE = 1e-6
    }
}

/** How camera pixels become model input: real = (pixel - mean) / std after a center crop of [cropFraction]. */
data class Preprocessing(val mean: Double, val std: Double, val cropFraction: Double)

/** Everything the app needs to feed a model and read its answer, filled from model.json. */
data class ModelDescription(
    val name: String,
    val input: TensorSpec,
    val output: TensorSpec,
    val outputIsSoftmax: Boolean,
    val preprocessing: Preprocessing,
    val sizeBytes: Long?,
) {
    /** Square NHWC input: shape [1, R, R, 3]. */
    val resolution: Int get() = input.shape[1]

    /**
     * Why the interpreter's model is not the one this model.json describes, or null when it is: the dtype, shape
     * and quantization of both tensors must match (an int8 model fed as uint8 would still have the right byte
     * count), and so must the file size when model.json records it.
     */
    fun mismatch(actualInput: TensorSpec, actualOutput: TensorSpec, modelBytes: Long): String? {
        val problems = listOfNotNull(
            input.difference(actualInput)?.let { "input $it" },
            output.difference(actualOutput)?.let { "output $it" },
            sizeBytes?.takeIf { it != modelBytes }?.let { "size: model.json $it bytes, model.tflite $modelBytes" },
        )
        return if (problems.isEmpty()) null else "model.json does not describe $name's model.tflite: " +
            problems.joinToString("; ")
    }

    companion object {
        /**
         * Reads the parsed model.json tree (objects as maps, arrays as lists, numbers as [Number]), as the
         * platform layer gets it from `org.json`; rejects what the app cannot feed correctly instead of guessing.
         */
        fun fromJson(json: Map<String, Any?>, fallbackName: String): ModelDescription {
            val preprocessing = json.objectAt(ModelJson.PREPROCESSING)
            val color = preprocessing.stringAt(ModelJson.COLOR)
            val layout = preprocessing.stringAt(ModelJson.LAYOUT)
            require(color == ModelJson.RGB && layout == ModelJson.NHWC) {
                "model.json preprocessing is $color/$layout; the app feeds ${ModelJson.RGB}/${ModelJson.NHWC}"
            }
            val input = tensor(json.objectAt(ModelJson.INPUT))
            require(input.shape.size == 4 && input.shape[0] == 1 && input.shape[3] == 3 &&
                input.shape[1] == input.shape[2]) { "model input shape ${input.shape} is not [1, R, R, 3]" }
            val outputJson = json.objectAt(ModelJson.OUTPUT)
            val output = tensor(outputJson)
            val std = preprocessing.numberAt(ModelJson.STD).toDouble()
            require(std != 0.0) { "model.json preprocessing std is 0" }
            return ModelDescription(
                name = json[ModelJson.NAME] as? String ?: fallbackName,
                input = input,
                output = output,
                outputIsSoftmax = outputJson[ModelJson.SOFTMAX] as? Boolean ?: true,
                preprocessing = Preprocessing(
                    mean = preprocessing.numberAt(ModelJson.MEAN).toDouble(),
                    std = std,
                    cropFraction = preprocessing.numberAt(ModelJson.CROP_FRACTION).toDouble(),
                ),
                sizeBytes = (json[ModelJson.SIZE_BYTES] as? Number)?.toLong(),
            )
        }

        private fun tensor(json: Map<String, Any?>): TensorSpec {
            val dtype = json.stringAt(ModelJson.DTYPE)
            val type = requireNotNull(ElementType.fromId(dtype)) { "unsupported tensor dtype $dtype" }
            val shape = (json[ModelJson.SHAPE] as? List<*>)?.map { (it as Number).toInt() }
                ?: throw IllegalArgumentException("model.json tensor has no ${ModelJson.SHAPE}")
            return TensorSpec(
                type, shape, (json[ModelJson.SCALE] as? Number)?.toDouble() ?: 0.0,
                (json[ModelJson.ZERO_POINT] as? Number)?.toInt() ?: 0,
            )
        }

        @Suppress("UNCHECKED_CAST")
        private fun Map<String, Any?>.objectAt(key: String): Map<String, Any?> =
            this[key] as? Map<String, Any?> ?: throw IllegalArgumentException("model.json has no object $key")

        private fun Map<String, Any?>.stringAt(key: String): String =
            this[key] as? String ?: throw IllegalArgumentException("model.json has no text $key")

        private fun Map<String, Any?>.numberAt(key: String): Number =
            this[key] as? Number ?: throw IllegalArgumentException("model.json has no number $key")
    }
}

package org.mobikit.demo.core

import java.lang.reflect.Modifier
import java.nio.ByteBuffer
import kotlin.random.Random

/**
 * Prints, as one JSON object, the contract constants and what `core` computes for fixed inputs (echoed next to
 * the answers), so tests/test_android_app.py can hold them against `mobikit.android.contract`,
 * `mobikit.stats.summarize`, `mobikit.preprocess` (crops, resampling, EXIF orientation) and
 * `mobikit.input_grid.input_table` on the host. Each argument `dtype:scale:zero_point:mean:std` (numbers as
 * model.json writes them) adds the input encoding of that tensor under "model_inputs".
 */
fun main(args: Array<String>) {
    println(
        toJson(
            linkedMapOf(
                "contract" to contractConstants(),
                "stats" to statsCases(),
                "crops" to cropCases(),
                "resample" to resampleCases(),
                "orientation" to orientationCases(),
                "quantization" to quantizationCases(),
                "model_inputs" to args.map { modelInputCase(it) },
                "top_k" to topKCase(),
                "result" to resultCase(),
                "coverage" to coverageCases(),
            ),
        ),
    )
}

private fun contractConstants(): Map<String, Any?> = Contract::class.java.declaredFields
    .filter { Modifier.isStatic(it.modifiers) && it.name != "INSTANCE" }
    .sortedBy { it.name }
    .associate { field -> field.isAccessible = true; field.name to field.get(null) }

private fun statsCases(): List<Map<String, Any?>> {
    val random = Random(7)
    val inputs = listOf(
        listOf(4.0, 1.0, 3.0, 2.0),
        listOf(12.5),
        listOf(2.0, 2.0, 2.0, 9.0, 2.0),
        List(50) { 3.0 + random.nextDouble() * 4.0 },
        List(101) { 0.1 * it + random.nextDouble() },
    )
    return inputs.map { latencies ->
        val stats = LatencyStats.of(latencies)
        mapOf(
            "latencies" to latencies,
            "summary" to mapOf(
                "runs" to stats.runs, "mean_ms" to stats.meanMs, "median_ms" to stats.medianMs,
                "p5_ms" to stats.p5Ms, "p90_ms" to stats.p90Ms, "p95_ms" to stats.p95Ms, "min_ms" to stats.minMs,
                "max_ms" to stats.maxMs, "std_ms" to stats.stdMs,
            ),
        )
    }
}

private fun cropCases(): List<Map<String, Any?>> {
    val sides = listOf(1, 2, 3, 97, 128, 146, 183, 480, 640, 1080, 1920, 4032)
    val resolutions = listOf(1, 96, 128, 160, 192, 224)
    return sides.flatMap { width ->
        sides.flatMap { height ->
            resolutions.map { resolution ->
                val geometry = CropGeometry.of(width, height, resolution)
                mapOf(
                    "width" to width, "height" to height, "resolution" to resolution,
                    "geometry" to mapOf(
                        "resized_width" to geometry.resizedWidth, "resized_height" to geometry.resizedHeight,
                        "left" to geometry.left, "top" to geometry.top, "size" to geometry.size,
                    ),
                )
            }
        }
    }
}

private fun resampleCases(): List<Map<String, Any?>> =
    listOf(Triple(203, 157, 0), Triple(157, 203, 90), Triple(320, 240, 270), Triple(64, 80, 180)).zip(
        listOf(64, 48, 96, 32),
    ).map { (frameSize, resolution) ->
        val (width, height, rotation) = frameSize
        val frame = patternFrame(width, height, rotation, rowPadding = 8)
        val geometry = CropGeometry.of(frame.uprightWidth, frame.uprightHeight, resolution)
        val rgb = IntArray(resolution * resolution * AreaResampler.CHANNELS)
        AreaResampler(frame.uprightWidth, frame.uprightHeight, geometry).resample(frame, rgb)
        mapOf("width" to width, "height" to height, "rotation" to rotation, "resolution" to resolution,
            "pixels" to rgb.toList())
    }

/** The EXIF table, and each tag (two unknown ones too) applied to a 5 × 3 frame that no turn or mirror maps
 *  onto itself, as upright RGB pixels. */
private fun orientationCases(): Map<String, Any?> {
    val (width, height) = 5 to 3
    val stored = patternFrame(width, height, 0, rowPadding = 4)
    return mapOf(
        "table" to ExifOrientation.BY_TAG.mapValues { (_, orientation) ->
            listOf(orientation.mirror, orientation.degrees)
        },
        "width" to width, "height" to height,
        "frames" to (0..9).map { tag ->
            val upright = ExifOrientation.apply(stored, tag)
            val pixels = (0 until upright.uprightHeight).flatMap { y ->
                (0 until upright.uprightWidth).flatMap { x ->
                    val offset = upright.offset(x, y)
                    (0 until AreaResampler.CHANNELS).map { upright.byteAt(offset + it) }
                }
            }
            mapOf("tag" to tag, "upright_width" to upright.uprightWidth, "upright_height" to upright.uprightHeight,
                "pixels" to pixels)
        },
    )
}

private fun quantizationCases(): List<Map<String, Any?>> = listOf(
    Triple("int8", 0.0078125, -1) to Pair(127.5, 127.5),
    Triple("int8", 0.007843137718737125, -1) to Pair(127.5, 127.5), // the converter's scale for p / 127.5 - 1: ties
    Triple("int8", 0.0078125, 0) to Pair(128.0, 128.0), // the exact int8 input grid mobikit writes
    Triple("uint8", 0.0078125, 128) to Pair(127.5, 127.5),
    Triple("int8", 0.0203, 5) to Pair(123.675, 58.395),
    Triple("uint8", 0.0311, 17) to Pair(127.5, 127.5),
    Triple("float32", 0.0, 0) to Pair(127.5, 127.5),
).map { (tensor, normalization) ->
    val (dtype, scale, zeroPoint) = tensor
    val (mean, std) = normalization
    val input = TensorSpec(ElementType.fromId(dtype)!!, listOf(1, 1, 1, 3), scale, zeroPoint)
    val encoder = InputEncoder(input, Preprocessing(mean, std, DEFAULT_CROP_FRACTION))
    mapOf("dtype" to dtype, "scale" to scale, "zero_point" to zeroPoint, "mean" to mean, "std" to std,
        "values" to (0..255).map { encoder.encodedValue(it) })
}

/** The 256 values [InputEncoder] writes for a tensor given as `dtype:scale:zero_point:mean:std`. */
private fun modelInputCase(spec: String): Map<String, Any?> {
    val (dtype, scale, zeroPoint, mean, std) = spec.split(":")
    val input = TensorSpec(ElementType.fromId(dtype)!!, listOf(1, 1, 1, 3), scale.toDouble(), zeroPoint.toInt())
    val encoder = InputEncoder(input, Preprocessing(mean.toDouble(), std.toDouble(), DEFAULT_CROP_FRACTION))
    return mapOf("spec" to spec, "values" to (0..255).map { encoder.encodedValue(it) })
}

private fun topKCase(): Map<String, Any?> {
    val stored = listOf(-128, 90, 17, 90, -3, 127, 0, 17, -128, 64)
    val output = TensorSpec(ElementType.INT8, listOf(1, stored.size), 0.00390625, -128)
    val buffer = ByteBuffer.allocateDirect(stored.size).apply { stored.forEach { put(it.toByte()) } }
    val top = OutputDecoder(output, isSoftmax = true, labels = emptyList()).top(buffer, 5)
    return mapOf("scale" to output.scale, "zero_point" to output.zeroPoint, "stored" to stored,
        "top" to top.map { listOf(it.index, it.score) })
}

private fun resultCase(): Map<String, Any?> {
    val request = BenchmarkRequest.fromExtras(
        mapOf(Contract.EXTRA_MODEL to "v1_025_128", Contract.EXTRA_DELEGATE to "gpu", Contract.EXTRA_THREADS to 4,
            Contract.EXTRA_RESULT_ID to "cross-check"),
    )
    val identity = DeviceIdentity("oriole", "Google", "Pixel 6", "Tensor", "15", 35)
    return BenchmarkResult(request, identity, Measurement(31.5, 4.25, listOf(2.0, 3.5, 2.5)), 470_000L, 80.0, null)
        .toJsonObject()
}

/** LiteRT log excerpts (both line forms, delegates that took all, some or no nodes) and core's report for each. */
private fun coverageCases(): List<Map<String, Any?>> {
    val xnnpack = "I tflite: Replacing 31 out of 31 node(s) with delegate (TfLiteXNNPackDelegate) node, " +
        "yielding 1 partitions for the whole graph."
    val logs = listOf(
        "",
        xnnpack,
        "$xnnpack\nI tflite: Replacing 28 out of 31 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 " +
            "partitions for the whole graph.",
        "$xnnpack\nI tflite: Replacing 0 out of 31 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 0 " +
            "partitions for the whole graph.",
        "I tflite: Replacing 5 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 3 partitions.",
        "I tflite: Replacing 0 out of 12 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 0 partitions.",
    )
    return logs.flatMap { log ->
        Delegate.entries.map { delegate ->
            val report = delegateReport(delegate, log)
            mapOf("log" to log, "requested" to delegate.id, "used" to report.used.id, "nodes" to report.nodes,
                "total_nodes" to report.totalNodes, "partitions" to report.partitions, "note" to report.note)
        }
    }
}

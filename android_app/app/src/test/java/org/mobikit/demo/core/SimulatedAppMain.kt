package org.mobikit.demo.core

import java.io.BufferedReader
import java.io.File
import java.io.FileDescriptor
import java.io.FileOutputStream
import java.io.PrintStream
import java.nio.ByteBuffer
import java.util.Base64

/**
 * The app's side of the simulated phone (tests/adb_sim/app_core.py): a long-lived process that answers one JSON
 * request per stdin line with what `core` decides, so the simulated demo app reports what this app would, not what
 * the host's Python computes. `model_report` gives the camera screen's `MOBIKIT_MODEL` line ([modelReportLine]);
 * `benchmark` runs [runBenchmark] on an interpreter that lives in the simulator (the host's LiteRT): each step of
 * the session (open, allocate, run, close) and each foreground check is a `{"call": …}` line the simulator answers
 * on stdin, then the result JSON, its logcat line and its file come back. Only inference is the host's: request
 * parsing, the stopping rules, random input, delegate coverage, statistics and JSON are core's.
 */
fun main() {
    val input = System.`in`.bufferedReader(Charsets.UTF_8)
    val host = HostLink(input, PrintStream(FileOutputStream(FileDescriptor.out), true, Charsets.UTF_8))
    while (true) {
        val request = parseJson(input.readLine() ?: return) as Map<*, *>
        val reply = try {
            answer(request, host)
        } catch (failure: Exception) {
            mapOf("failure" to failure.stackTraceToString())
        }
        host.send(reply)
    }
}

private fun answer(request: Map<*, *>, host: HostLink): Map<String, Any?> = when (request["op"]) {
    "model_report" -> mapOf("line" to modelReport(request))
    "benchmark" -> {
        val extras = (request["extras"] as Map<*, *>).entries.associate { (key, value) -> key.toString() to value }
        val benchmarkRequest = BenchmarkRequest.fromExtras(extras)
        val result = benchmark(benchmarkRequest, request, host)
        mapOf("json" to result.toJson(), "line" to result.logcatLine(),
            "file" to benchmarkRequest.resultFile(File(Contract.RESULTS_DIR))?.path)
    }
    else -> error("unknown op ${request["op"]}")
}

/** MainActivity's line for a model it loaded ([entry] and the LiteRT [log] given) or refused ([error] given). */
private fun modelReport(request: Map<*, *>): String {
    val delegate = checkNotNull(Delegate.fromId(request.text("delegate")))
    val entry = (request["entry"] as Map<*, *>?)?.let {
        ModelEntry(it.text("name"), ModelOrigin.DEPLOYED, it["sha256"] as String?)
    }
    val report = (request["log"] as String?)?.let { delegateReport(delegate, it) }
    val error = (request["refused"] as String?)?.let { delegateUnavailable(delegate, it) } ?: request["error"]
    return modelReportLine(request["name"] as String?, entry, delegate, report, error as String?,
        request["result_id"] as String?)
}

/** BenchmarkActivity's run: a refused import becomes a failed result, as there, else [runBenchmark]. */
private fun benchmark(benchmarkRequest: BenchmarkRequest, request: Map<*, *>, host: HostLink): BenchmarkResult {
    val phone = request["phone"] as Map<*, *>
    val identity = DeviceIdentity(phone.text("device"), phone.text("manufacturer"), phone.text("model"),
        DeviceIdentity.socName(phone["soc_manufacturer"] as String?, phone["soc_model"] as String?,
            phone.text("hardware")),
        phone.text("release"), (phone["sdk"] as Number).toInt())
    (request["refused"] as String?)?.let { return BenchmarkResult.failed(benchmarkRequest, identity, null, it) }
    val models = File(request.text("models_dir"))
    return runBenchmark(
        benchmarkRequest, identity,
        loadModel = { name ->
            File(File(models, name), Contract.MODEL_FILE).takeIf { it.isFile }?.let { ByteBuffer.wrap(it.readBytes()) }
        },
        open = { _, delegate, threads -> HostSession.open(host, delegate, threads) },
        peakRssMb = { null },
        inForeground = { host.call("foreground")["foreground"] == true },
    )
}

/** The simulator at the other end of stdin/stdout: requests in, replies and calls back out, one JSON per line. */
private class HostLink(private val input: BufferedReader, private val output: PrintStream) {
    fun send(message: Map<String, Any?>) = output.println(toJson(message))

    /** Asks the simulator to do [name]; its `failure` answer becomes an exception, reported like LiteRT's. */
    fun call(name: String, vararg arguments: Pair<String, Any?>): Map<*, *> {
        send(mapOf("call" to name, *arguments))
        val reply = parseJson(checkNotNull(input.readLine()) { "the simulator hung up" }) as Map<*, *>
        (reply["failure"] as String?)?.let { throw IllegalStateException(it) }
        return reply
    }
}

/**
 * An interpreter in the simulator, seen as the app's LiteRtBenchmark sees its own: opening it applies the delegate
 * (a refusal is a [DelegateUnavailableException]) and keeps LiteRT's log lines; [allocate] feeds core's
 * [randomInput] and reads the delegate coverage from the log; [run] gives the native inference time.
 */
private class HostSession(private val host: HostLink, private val delegate: Delegate, opened: Map<*, *>) :
    BenchmarkSession {
    private val log = opened.text("log")
    private val inputType = checkNotNull(ElementType.fromId(opened.text("input_type")))
    private val inputBytes = (opened["input_bytes"] as Number).toInt()
    override var delegateReport: DelegateReport? = null
        private set

    override fun allocate() {
        val input = randomInput(inputType, inputBytes)
        val bytes = ByteArray(input.remaining()).also { input.get(it) }
        host.call("allocate", "input" to Base64.getEncoder().encodeToString(bytes))
        delegateReport = delegateReport(delegate, log)
    }

    override fun run(): Long? = (host.call("run")["nanos"] as Number?)?.toLong()

    override fun close() {
        host.call("close")
    }

    companion object {
        fun open(host: HostLink, delegate: Delegate, threads: Int): HostSession {
            val opened = host.call("open", "delegate" to delegate.id, "threads" to threads)
            (opened["refused"] as String?)?.let { throw DelegateUnavailableException(delegate, it) }
            return HostSession(host, delegate, opened)
        }
    }
}

private fun Map<*, *>.text(key: String): String = checkNotNull(this[key] as String?) { "no $key" }

/** One JSON value from [text]: objects become ordered maps, whole numbers Int (Long when larger), others Double. */
private fun parseJson(text: String): Any? = JsonReader(text).run { value().also { end() } }

private class JsonReader(private val text: String) {
    private var at = 0

    fun value(): Any? {
        skipSpace()
        return when (text.getOrNull(at)) {
            '{' -> members()
            '[' -> elements()
            '"' -> string()
            't' -> literal("true", true)
            'f' -> literal("false", false)
            'n' -> literal("null", null)
            else -> number()
        }
    }

    fun end() {
        skipSpace()
        require(at == text.length) { "text after the JSON value at $at" }
    }

    private fun members(): Map<String, Any?> {
        val map = LinkedHashMap<String, Any?>()
        at++
        if (next() == '}') return map.also { at++ }
        do {
            skipSpace()
            val key = string()
            expect(':')
            map[key] = value()
        } while (separator('}'))
        return map
    }

    private fun elements(): List<Any?> {
        val list = ArrayList<Any?>()
        at++
        if (next() == ']') return list.also { at++ }
        do list += value() while (separator(']'))
        return list
    }

    /** Consumes a comma (true: more follows) or [close] (false). */
    private fun separator(close: Char): Boolean = when (next()) {
        ',' -> true.also { at++ }
        close -> false.also { at++ }
        else -> throw IllegalArgumentException("expected , or $close at $at")
    }

    private fun string(): String {
        require(text[at] == '"') { "expected a string at $at" }
        at++
        val out = StringBuilder()
        while (true) {
            when (val char = text[at++]) {
                '"' -> return out.toString()
                '\\' -> when (val escaped = text[at++]) {
                    'b' -> out.append('\b')
                    'f' -> out.append('\u000c')
                    'n' -> out.append('\n')
                    'r' -> out.append('\r')
                    't' -> out.append('\t')
                    'u' -> out.append(text.substring(at, at + 4).toInt(16).toChar()).also { at += 4 }
                    else -> out.append(escaped)
                }
                else -> out.append(char)
            }
        }
    }

    private fun number(): Number {
        val start = at
        while (at < text.length && text[at] in "+-0123456789.eE") at++
        val token = text.substring(start, at)
        require(token.isNotEmpty()) { "unexpected character at $start" }
        return token.toIntOrNull() ?: token.toLongOrNull() ?: token.toDouble()
    }

    private fun literal(word: String, value: Boolean?): Boolean? {
        require(text.startsWith(word, at)) { "unexpected character at $at" }
        at += word.length
        return value
    }

    private fun expect(char: Char) {
        require(next() == char) { "expected $char at $at" }
        at++
    }

    private fun next(): Char? {
        skipSpace()
        return text.getOrNull(at)
    }

    private fun skipSpace() {
        while (at < text.length && text[at].isWhitespace()) at++
    }
}

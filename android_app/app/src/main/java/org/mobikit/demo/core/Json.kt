package org.mobikit.demo.core

/** Minimal JSON writing for the benchmark result: strings, numbers, booleans, null, lists and ordered maps. */
fun toJson(value: Any?): String = StringBuilder().also { appendJson(it, value) }.toString()

private fun appendJson(out: StringBuilder, value: Any?) {
    when (value) {
        null -> out.append("null")
        is String -> appendString(out, value)
        is Boolean, is Int, is Long -> out.append(value)
        is Number -> value.toDouble().let { if (it.isFinite()) out.append(it) else out.append("null") }
        is Map<*, *> -> {
            out.append('{')
            value.entries.forEachIndexed { i, (key, item) ->
                if (i > 0) out.append(", ")
                appendString(out, key.toString())
                out.append(": ")
                appendJson(out, item)
            }
            out.append('}')
        }
        is Iterable<*> -> {
            out.append('[')
            value.forEachIndexed { i, item ->
                if (i > 0) out.append(", ")
                appendJson(out, item)
            }
            out.append(']')
        }
        else -> appendString(out, value.toString())
    }
}

private fun appendString(out: StringBuilder, text: String) {
    out.append('"')
    for (char in text) {
        when {
            char == '"' -> out.append("\\\"")
            char == '\\' -> out.append("\\\\")
            char == '\n' -> out.append("\\n")
            char == '\r' -> out.append("\\r")
            char == '\t' -> out.append("\\t")
            char < ' ' -> out.append("\\u%04x".format(char.code))
            else -> out.append(char)
        }
    }
    out.append('"')
}

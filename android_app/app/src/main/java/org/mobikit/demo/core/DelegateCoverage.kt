package org.mobikit.demo.core

/**
 * One delegate application as LiteRT logs it (tag `tflite`) when it builds the interpreter:
 * `Replacing 28 out of 31 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole
 * graph.` — older runtimes print `Replacing 28 node(s) with delegate (…) node, yielding 2 partitions.` without the
 * total. benchmark_model users read a delegate's coverage from exactly this line.
 */
data class DelegateCoverage(val kernel: String, val nodes: Int, val totalNodes: Int?, val partitions: Int)

private val REPLACING = Regex(
    "Replacing (\\d+) (?:out of (\\d+) )?node\\(s\\) with delegate \\(([^)]+)\\) node, yielding (\\d+) partitions")

/** Every delegate application in [log], oldest first. */
fun parseDelegateCoverage(log: String): List<DelegateCoverage> = REPLACING.findAll(log).map {
    DelegateCoverage(it.groupValues[3], it.groupValues[1].toInt(), it.groupValues[2].toIntOrNull(),
        it.groupValues[4].toInt())
}.toList()

/**
 * What actually ran for a [requested] delegate: [used] is the delegate that took nodes ([nodes] of [totalNodes]),
 * and [note] says why it is not the requested one. A GPU or NNAPI delegate that took no node is reported as the CPU
 * path that ran the graph instead (XNNPACK when its line shows nodes, else plain CPU kernels).
 */
data class DelegateReport(val requested: Delegate, val used: Delegate, val nodes: Int?, val totalNodes: Int?,
                          val partitions: Int?, val note: String?) {
    /** The screen's line: "gpu: 28 of 31 nodes, 2 partitions". */
    fun summary(): String {
        val coverage = when {
            nodes == null -> "no delegate"
            totalNodes == null -> "$nodes nodes, $partitions partitions"
            else -> "$nodes of $totalNodes nodes, $partitions partitions"
        }
        return listOfNotNull("${used.id}: $coverage", note).joinToString("; ")
    }
}

/**
 * The report for [requested] from the `tflite` log lines written while the interpreter was created (only those:
 * the caller passes the log since it started opening). The last application of the delegate's kernel counts.
 */
fun delegateReport(requested: Delegate, log: String): DelegateReport {
    val applied = parseDelegateCoverage(log)
    fun last(delegate: Delegate) = delegate.kernel?.let { kernel -> applied.lastOrNull { it.kernel.startsWith(kernel) } }
    val own = last(requested)
    if (requested == Delegate.CPU) return DelegateReport(requested, Delegate.CPU, null, null, null, null)
    if (own != null && own.nodes > 0) {
        return DelegateReport(requested, requested, own.nodes, own.totalNodes, own.partitions, null)
    }
    val why = if (own == null) "the ${requested.id} delegate logged no node replacement"
    else "the ${requested.id} delegate took 0 of ${own.totalNodes ?: "?"} nodes"
    val cpu = if (requested != Delegate.XNNPACK) last(Delegate.XNNPACK)?.takeIf { it.nodes > 0 } else null
    return if (cpu != null) {
        DelegateReport(requested, Delegate.XNNPACK, cpu.nodes, cpu.totalNodes, cpu.partitions,
            "$why; ran on ${Delegate.XNNPACK.id}")
    } else {
        DelegateReport(requested, Delegate.CPU, null, own?.totalNodes, null, "$why; ran on ${Delegate.CPU.id}")
    }
}

/**
 * The part of a log read after an interpreter was created that is new since [before] was read (the whole [after]
 * when the buffer wrapped meanwhile): the delegate lines of that one interpreter.
 */
fun logSince(before: String, after: String): String =
    if (after.startsWith(before)) after.substring(before.length) else after

/**
 * The camera screen's one logcat line per model it loads or refuses, `MOBIKIT_MODEL <json>` with
 * [Contract.MODEL_KEYS]: what `mobikit deploy` waits for to know the running app switched; [requestId] is the
 * `result_id` extra of the intent that asked for the model, so the deploy finds its own line.
 */
fun modelReportLine(name: String?, entry: ModelEntry?, requested: Delegate, report: DelegateReport?,
                    error: String?, requestId: String?): String {
    val values = mapOf(
        "model" to (entry?.name ?: name), "sha256" to entry?.sha256, "origin" to entry?.origin?.id,
        "delegate" to requested.id, "delegate_used" to report?.used?.id, "delegate_nodes" to report?.nodes,
        "graph_nodes" to report?.totalNodes, "error" to error, "result_id" to requestId,
    )
    check(values.keys.toList() == Contract.MODEL_KEYS) { "model report keys drifted from the contract" }
    return "${Contract.LOGCAT_MODEL_PREFIX} ${toJson(values)}"
}

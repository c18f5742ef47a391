"""Which delegate took how many nodes, read from LiteRT's log as `benchmark_model` users read it.

When LiteRT applies a delegate it logs (tag `tflite`; benchmark_model prints it with a `VERBOSE: ` prefix)
`Replacing 28 out of 31 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole
graph.` — older runtimes omit "out of M". The same rules as the app's Kotlin `core` (DelegateCoverage.kt; a
cross-language test holds them equal): a GPU or NNAPI delegate that took no node is reported as the CPU path
that ran the graph instead, with the reason.
"""

from __future__ import annotations

import re

REPLACING = re.compile(r"Replacing (\d+) (?:out of (\d+) )?node\(s\) with delegate \(([^)]+)\) node, "
                       r"yielding (\d+) partitions")
KERNELS = {"xnnpack": "TfLiteXNNPackDelegate", "gpu": "TfLiteGpuDelegate", "nnapi": "TfLiteNnapiDelegate"}


def parse_delegate_coverage(log: str) -> list[dict]:
    """Every delegate application in the log, oldest first."""
    return [{"kernel": kernel, "nodes": int(nodes), "total_nodes": int(total) if total else None,
             "partitions": int(partitions)} for nodes, total, kernel, partitions in REPLACING.findall(log)]


def delegate_report(requested: str, log: str) -> dict:
    """{"used", "nodes", "total_nodes", "partitions", "note"} for the `requested` delegate id."""
    applied = parse_delegate_coverage(log)

    def last(delegate: str) -> dict | None:
        kernel = KERNELS.get(delegate)
        return next((a for a in reversed(applied) if kernel and a["kernel"].startswith(kernel)), None)

    empty = {"used": "cpu", "nodes": None, "total_nodes": None, "partitions": None, "note": None}
    if requested == "cpu":
        return empty
    own = last(requested)
    if own is not None and own["nodes"] > 0:
        return {"used": requested, "nodes": own["nodes"], "total_nodes": own["total_nodes"],
                "partitions": own["partitions"], "note": None}
    why = (f"the {requested} delegate logged no node replacement" if own is None else
           f"the {requested} delegate took 0 of {own['total_nodes'] if own['total_nodes'] is not None else '?'} nodes")
    cpu = last("xnnpack") if requested != "xnnpack" else None
    if cpu is not None and cpu["nodes"] > 0:
        return {"used": "xnnpack", "nodes": cpu["nodes"], "total_nodes": cpu["total_nodes"],
                "partitions": cpu["partitions"], "note": f"{why}; ran on xnnpack"}
    return {**empty, "total_nodes": own["total_nodes"] if own else None, "note": f"{why}; ran on cpu"}

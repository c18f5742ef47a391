"""Every console table and summary line of the command line, built from the library's typed results.

Tables read at 80 columns: the wide ones are compact (no outer frame, one space between columns), every column folds
a value too long for it onto the next line rather than cutting it, no column is narrower than its longest word
(`ReadableTable`: no word is broken, no column dropped), and paths go on the lines around a table, not in it.
"""

from __future__ import annotations

from rich import box
from rich.table import Table

from ..errors import printable
from ..formatting import MISSING, megabytes, ms, number, pct

COMPACT = {"box": box.SIMPLE_HEAD, "show_edge": False, "padding": 0}  # one space between columns


def add_columns(table: Table, names, right=()) -> None:
    """Columns that wrap, and fold what does not fit: a value is never cut to "…" (Rich's default)."""
    for name in names:
        table.add_column(name, justify="right" if name in right else "left", overflow="fold")


class ReadableTable(Table):
    """Rich's table, except that no column gets narrower than its longest word (header or value): Rich shrinks
    columns below that when the terminal is narrow — breaking words ("androi" over "d") — and drops them at width 0.
    Here a narrow terminal wraps values down to their longest word; when even that does not fit, the table is as
    wide as its longest words and the terminal wraps its lines; no column is ever dropped."""

    def __rich_console__(self, console, options):
        for column in self.columns:
            column.min_width = max(longest_word(str(cell)) for cell in (column.header, *column.cells))
        needed = sum(column.min_width + self._get_padding_width(column._index) for column in self.columns)
        yield from super().__rich_console__(console, options.update_width(max(needed + self._extra_width,
                                                                              options.max_width)))


def keep_whole(table: Table, *names: str) -> Table:
    """Never wrap the named columns (names and identifiers without spaces), so that a narrow terminal wraps the
    other columns first."""
    for column in table.columns:
        column.no_wrap = column.header in names
    return table


def longest_word(text: str) -> int:
    return max(map(len, text.split()), default=1)


def profile_table(result, standard_conv: bool) -> Table:
    """The papers' Table 1 columns (type / stride, filter shape, input size) with each layer's Keras name and cost;
    a layer's output size is the next row's input size (and in --json)."""
    table = ReadableTable(title=f"MobileNet {result.arch} α{result.alpha:g} @{result.resolution}"
                  + (" (standard conv)" if standard_conv else ""), **COMPACT)
    add_columns(table, ("layer", "type /\nstride", "filter\nshape", "input\nsize", "params", "mult-adds"),
                right=("params", "mult-adds"))
    for layer in result.layers:
        table.add_row(layer.name, f"{layer.type} / s{layer.stride}", dims(layer.filter_shape),
                      dims(layer.input_shape), f"{layer.params:,}", f"{layer.macs:,}")
    table.add_section()
    table.add_row("total", "", "", "", f"{result.params:,}", f"{result.macs:,}")
    return table


def quantize_table(result) -> Table:
    ev, latency = result.eval, result.latency_ms
    table = ReadableTable(title=f"{result.model} → {result.output_dir}")
    add_columns(table, ("", "float", result.mode), right=("float", result.mode))
    if ev.labelled:
        table.add_row("top-1", pct(ev.float_top1), pct(ev.quant_top1))
        table.add_row("top-5", pct(ev.float_top5), pct(ev.quant_top5))
    table.add_row("agreement with float", "", pct(ev.agreement))
    table.add_row("size", megabytes(result.float_size_bytes),
                  f"{megabytes(result.size_bytes)} ({result.size_bytes / result.float_size_bytes:.2f}×)")
    table.add_row(f"latency (median, {result.threads} threads)", ms(latency["float"]),
                  f"{ms(latency['quant'])} ({latency['quant'] / latency['float']:.2f}×)")
    return table


def fallback_table(fallback) -> Table:
    """Every step of the float fallback search."""
    split = fallback.split
    where = "" if split is None else (f", in-sample on {len(split.report)} images" if split.in_sample
                                      else f", on {len(split.selection)} selection images")
    table = ReadableTable(title=f"float fallback search{where} — target: {fallback.target}", **COMPACT)
    columns = ("layers in float", "top-1", "agreement", "latency", "× int8", "meets\ntarget")
    add_columns(table, columns, right=columns[1:])
    for step in fallback.steps:
        table.add_row(", ".join(step.layers) or "– (full-integer)", pct(step.top1), pct(step.agreement),
                      ms(step.latency_ms), f"{step.latency_ratio:.2f}×", "yes" if step.met else "no")
    return table


BENCH_COLUMNS = ("threads", "delegate", "runs", "median", "p90", "std", "init", "first")


def bench_table(results) -> Table:
    """Fits 80 columns: the timings per configuration; the device and the model's size in the title, the rest of
    the fields (mean, p5, p95, min, max, peak RSS) in --json. A failed configuration's error goes below the table."""
    devices = list(dict.fromkeys(r.device for r in results))
    sizes = {megabytes(r.size_bytes) for r in results if r.size_bytes}
    title = f"latency in ms on {', '.join(devices)}" + (f" — model {sizes.pop()}" if len(sizes) == 1 else "")
    table = ReadableTable(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    if len(devices) > 1:
        table.add_column("device", overflow="fold")
    for column in BENCH_COLUMNS:
        table.add_column(column, justify="left" if column == "delegate" else "right", overflow="fold",
                         no_wrap=column != "delegate")  # a phone's "gpu→xnnpack 31/31" folds
    for r in results:
        cells = [number(r.threads), delegate_label(r)]
        if r.error:
            cells += ["error", *([""] * (len(BENCH_COLUMNS) - 3))]
        else:
            cells += [number(r.runs), *(ms(value, unit=False) for value in (
                r.median_ms, r.p90_ms, r.std_ms, r.init_ms, r.first_ms))]
        table.add_row(*([r.device] if len(devices) > 1 else []), *cells)
    return table


def bench_errors(results) -> list[str]:
    return [f"{r.device}, {number(r.threads)} threads, {r.delegate or MISSING}: error: {r.error}"
            for r in results if r.error]


def delegate_label(result) -> str:
    """The delegate asked for; on a phone also what took the nodes: "gpu 28/31", "gpu→xnnpack 31/31"."""
    asked = result.delegate or MISSING
    used, nodes, total = (getattr(result, name, None) for name in ("delegate_used", "delegate_nodes", "graph_nodes"))
    if used is None:
        return asked
    label = asked if used == asked else f"{asked}→{used}"
    return f"{label} {nodes}/{total}" if nodes is not None and total is not None else label


def confusions_table(confusions: list[dict]) -> Table:
    table = ReadableTable(title="most frequent confusions")
    add_columns(table, ("true", "predicted", "count"), right=("count",))
    for row in confusions:
        table.add_row(row["true"], row["predicted"], str(row["count"]))
    return table


def sweep_table(result, arch: str) -> Table:
    top1 = result.metric == "top1"
    table = ReadableTable(title=f"sweep of MobileNet {arch}", **COMPACT)  # its folder: on the "wrote" line below
    accuracy_columns = ("float\ntop-1", "int8\ntop-1") if top1 else ("int8\nagreement",)
    columns = ("α", "R", "mult-adds", *accuracy_columns, "float\nms", "int8\nms", "int8\nsize", "status")
    add_columns(table, columns, right=columns[:-1])
    for cell in result.cells:
        accuracy = (pct(cell.float_top1), pct(cell.int8_top1)) if top1 else (pct(cell.agreement),)
        status = cell.status + (" (reused)" if cell.reused else "")  # reasons: one line below (sweep_skips)
        table.add_row(f"{cell.alpha:g}", str(cell.resolution), f"{cell.mult_adds / 1e6:.1f}M", *accuracy,
                      ms(cell.float_latency_ms, unit=False), ms(cell.int8_latency_ms, unit=False),
                      megabytes(cell.int8_size_bytes), status)
    return table


def sweep_skips(result) -> list[str]:
    """One line per kind of cell that did not run, instead of each reason wrapped in the table's status column."""
    lines = []
    for status in ("skipped", "failed"):
        cells = [cell for cell in result.cells if cell.status == status]
        if cells:
            names = ", ".join(f"α{cell.alpha:g}@{cell.resolution}" for cell in cells)
            lines.append(f"{status}: {len(cells)} of {len(result.cells)} cells ({names}); each reason is in "
                         f"sweep.md — first: {cells[0].reason}")
    return lines


def worst_layers_table(result, errors) -> Table:
    """The error per layer and the int8 step (scale) it is measured in; the zero points are in analysis.csv."""
    table = ReadableTable(title=f"{result.model}: worst layers by RMSE/scale on {result.calib_samples} calibration "
                                "images", **COMPACT)
    columns = ("layer", "op", "RMSE/\nscale", "mean\nerror", "max\n|error|", "scale")
    add_columns(table, columns, right=columns[2:])
    for error in errors:
        table.add_row(error.layer, error.op, f"{error.rmse_scale:.3f}", f"{error.mean_error:.2e}",
                      f"{error.max_abs_error:.3f}", f"{error.scale:.4g}")
    return keep_whole(table, "layer", "op")


def devices_table(listings) -> Table:
    """A row per device of every adb server; a server that did not answer is one row (its error goes below). The
    Android version and its SDK level share a column ("14 (34)"), so that a 20-character serial, an IPv6 server
    and "unauthorized" still fit 80 columns with no word broken."""
    table = ReadableTable(**COMPACT)
    add_columns(table, ("server", "serial", "state", "model", "android\n(sdk)", "abi", "soc"))
    for listing in listings:
        if listing.error is not None:
            table.add_row(listing.server.name, MISSING, "unreachable", "", "", "", "")
        for d in listing.devices:
            android = " ".join(part for part in (d.android, f"({d.sdk})" if d.sdk else None) if part)
            table.add_row(listing.server.name, d.serial, d.state, d.model or "", android, d.abi or "", d.soc or "")
    return keep_whole(table, "server", "serial", "state", "abi")


def farm_deploy_table(rows) -> Table:
    """`deploy` on several phones, at 80 columns: a row per phone, what the app runs now, or "error" (the error goes
    below)."""
    done = [row.result for row in rows if row.result]
    title = f"deploy of {done[0].model} ({done[0].sha256[:12]}…)" if done else "deploy"
    table = ReadableTable(title=title, **COMPACT)
    add_columns(table, ("phone", "app", "model upload", "the app runs"))
    for row in rows:
        result = row.result
        if result is None:
            table.add_row(phone_cell(row), "stopped" if row.stopped else "error", "", "")
            continue
        running = result.running or {}
        used, nodes, total = (running.get(key) for key in ("delegate_used", "delegate_nodes", "graph_nodes"))
        table.add_row(phone_cell(row), result.app, "verified" if result.upload == "uploaded" else "unchanged",
                      f"{used} {nodes}/{total}" if running else "– (not launched)")
    return table


def farm_bench_table(result) -> Table:
    """`bench` on several phones at 80 columns: a row per phone and configuration; errors and the rest of the
    fields (mean, peak memory, warm-up runs) in perf.json and --json."""
    table = ReadableTable(title=f"latency in ms of {result.model} ({result.model_sha256[:12]}…) on "
                        f"{len({(r.server, r.serial) for r in result.rows if r.serial})} phone(s)",
                  **COMPACT)
    columns = ("phone", "threads", "delegate", "runs", "median", "p90", "init", "first")
    add_columns(table, columns, right=columns[1:2] + columns[3:])
    for r in result.rows:
        if r.threads is None or r.error:
            cells = [number(r.threads), r.delegate or MISSING, "error", "", "", "", ""]
        else:
            cells = [number(r.threads), delegate_label(r), number(r.runs),
                     *(ms(value, unit=False) for value in (r.median_ms, r.p90_ms, r.init_ms, r.first_ms))]
        table.add_row(phone_cell(r), *cells)
    return table


def phone_cell(row) -> str:
    """A phone in a farm table: its model name, and where it is (SERVER/ over SERIAL, two words that fit 80 columns
    whole beside the timings) below; or a server that failed."""
    return f"{row.device}\n{row.server}/\n{row.serial}" if row.serial else f"adb server\n{row.server}"


def phone_label(row) -> str:
    """The same on one line, for the error lines below a farm table."""
    return f"{row.device} ({row.server}/{row.serial})" if row.serial else f"adb server {row.server}"


def dims(shape) -> str:
    """A shape as 1×224×224×3 (-1 for a free dimension)."""
    return "×".join(map(str, shape))


def tensors_table(result) -> Table:
    """A model file's inputs and outputs with their quantization; a free dimension shows as -1."""
    table = ReadableTable(title="inputs and outputs", **COMPACT)
    add_columns(table, ("", "name", "dtype", "shape", "scale", "zero\npoint"), right=("scale", "zero\npoint"))
    for role, items in (("input", result.inputs), ("output", result.outputs)):
        for tensor in items:
            table.add_row(role, tensor.name, tensor.dtype, dims(tensor.shape_signature or tensor.shape),
                          f"{tensor.scale:.6g}" if tensor.scale else MISSING,
                          str(tensor.zero_point) if tensor.scale else MISSING)
    return keep_whole(table, "name", "shape")


def ops_table(result) -> Table:
    table = ReadableTable(title=f"ops ({sum(result.op_counts.values())})")
    add_columns(table, ("op", "count"), right=("count",))
    for name, count in result.op_counts.items():
        table.add_row(name, str(count))
    return table


def train_table(result) -> Table:
    """Precision, recall and F1 per class on the test split."""
    table = ReadableTable(title=f"test split: {pct(result.test.accuracy)} of {result.test.n} images right")
    add_columns(table, ("class", "precision", "recall", "F1", "images"), right=("precision", "recall", "F1", "images"))
    for row in result.test.per_class:
        table.add_row(printable(row["class"]), number(row["precision"], ".3f"), number(row["recall"], ".3f"),
                      number(row["f1"], ".3f"), str(row["support"]))
    return table

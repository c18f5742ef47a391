"""report.md: the verification of a quantize run as a person reads it."""

from __future__ import annotations


def pct(value) -> str:
    """A fraction as a percentage for tables; "–" when not measured."""
    return "–" if value is None else f"{100 * value:.1f}%"


def _ms(value) -> str:
    return "–" if value is None else f"{value:.2f} ms"


def _size(value) -> str:
    return "–" if value is None else f"{value / 1e6:.2f} MB"


def render_markdown(report: dict) -> str:
    ev, size, latency = report["eval"], report["size_bytes"], report["latency_ms"]
    description = report["description"]
    lines = [
        f"# {report['model']}",
        "",
        f"Mode **{report['mode']}**, input/output {report['io']}; "
        + ("full-integer" if description.get("full_integer") else "not full-integer")
        + (f"; float fallback layers: {', '.join(description['fallback_layers'])}"
           if description.get("fallback_layers") else "")
        + ("; bias correction on" if description.get("bias_correction") else "") + ".",
        "",
        f"Calibration: {report['calibration']['samples']} images from `{report['calibration']['source']}`"
        + (f" ({report['calibration']['skipped']} unreadable files skipped)" if report["calibration"]["skipped"] else "")
        + f". Verification: {ev['n']} images, {ev['source']}.",
        "",
        "| | float | " + report["mode"] + " |",
        "|---|---|---|",
    ]
    if ev["labelled"]:
        lines.append(f"| top-1 | {pct(ev['float_top1'])} | {pct(ev['quant_top1'])} |")
        lines.append(f"| top-5 | {pct(ev['float_top5'])} | {pct(ev['quant_top5'])} |")
    lines += [
        f"| top-1 agreement with float | – | {pct(ev['agreement'])} |",
        f"| size | {_size(size['float'])} | {_size(size['quant'])} ({size['quant'] / size['float']:.2f}×) |",
        f"| latency (median, {latency['threads']} threads, {latency['delegate']}) | {_ms(latency['float'])} | "
        f"{_ms(latency['quant'])} ({latency['quant'] / latency['float']:.2f}×) |",
        "",
    ]
    correction = report.get("bias_correction")
    if correction:
        plain, corrected = correction["plain"], correction["corrected"]
        lines += ["## Bias correction", "", "| | plain int8 | corrected int8 |", "|---|---|---|",
                  f"| agreement with float | {pct(plain['agreement'])} | {pct(corrected['agreement'])} |"]
        if plain["labelled"]:
            lines.append(f"| top-1 | {pct(plain['quant_top1'])} | {pct(corrected['quant_top1'])} |")
            lines.append(f"| top-5 | {pct(plain['quant_top5'])} | {pct(corrected['quant_top5'])} |")
        kl = lambda v: "–" if v is None else f"{v:.4f}"  # noqa: E731
        lines += [f"| KL(float ‖ int8) | {kl(plain['kl'])} | {kl(corrected['kl'])} |",
                  f"| layers corrected | – | {len(correction.get('layers', []))} |", ""]
    analysis = report.get("analysis")
    if analysis:
        lines += ["## Per-layer quantization error", "",
                  f"See [analysis.csv](analysis.csv) and the chart: ![RMSE/scale per layer]({analysis['plot']})", ""]
    lines += ["## Phases", "", "| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in report["timings_s"].items()]
    if report.get("notes") or report.get("warnings"):
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in report.get("notes", [])]
        lines += [f"- warning: {warning}" for warning in report.get("warnings", [])]
    return "\n".join(lines) + "\n"

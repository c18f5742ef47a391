"""Every Markdown view of a run: report.md of quantize (with its fallback and analysis sections) and sweep.md."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

from .errors import printable
from .formatting import MISSING, megabytes, ms, number, pct
from .layer_error import LayerError, worst_layers

if TYPE_CHECKING:
    from .fallback import FallbackResult
    from .quantization import QuantizeResult

ANALYSIS_HEADING = "## Per-layer quantization error"


def kl(value) -> str:
    return number(value, ".4f")


def render_quantize_report(result: "QuantizeResult") -> str:
    """report.md: the verification, bias correction, fallback search and analysis of one quantize run."""
    description, ev, latency = result.description, result.eval, result.latency_ms
    lines = [
        f"# {result.model}", "",
        f"Mode **{result.mode}**, input/output {result.io}; "
        + ("full-integer" if description.full_integer else "not full-integer")
        + (f"; float fallback layers: {', '.join(description.fallback_layers)}" if description.fallback_layers else "")
        + ("; bias correction on" if description.bias_correction else "") + ".", "",
        f"Calibration: {result.calib_samples} images from `{result.calib_source}`"
        + (f" ({result.calib_skipped} unreadable files skipped)" if result.calib_skipped else "")
        + f". Verification: {ev.n} images, {result.eval_source}.", "",
        f"| | float | {result.mode} |", "|---|---|---|",
    ]
    if ev.labelled:
        lines += [f"| top-1 | {pct(ev.float_top1)} | {pct(ev.quant_top1)} |",
                  f"| top-5 | {pct(ev.float_top5)} | {pct(ev.quant_top5)} |"]
    lines += [
        f"| top-1 agreement with float | {MISSING} | {pct(ev.agreement)} |",
        f"| size | {megabytes(result.float_size_bytes)} | {megabytes(result.size_bytes)} "
        f"({result.size_bytes / result.float_size_bytes:.2f}×) |",
        f"| latency (median, {result.threads} threads, xnnpack) | {ms(latency['float'])} | {ms(latency['quant'])} "
        f"({latency['quant'] / latency['float']:.2f}×) |", "",
    ]
    correction = result.bias_correction
    if correction is not None:
        lines += ["## Bias correction", "", "| | plain int8 | corrected int8 |", "|---|---|---|",
                  f"| agreement with float | {pct(correction.plain.agreement)} | {pct(correction.corrected.agreement)} |"]
        if correction.plain.labelled:
            lines += [f"| top-1 | {pct(correction.plain.quant_top1)} | {pct(correction.corrected.quant_top1)} |",
                      f"| top-5 | {pct(correction.plain.quant_top5)} | {pct(correction.corrected.quant_top5)} |"]
        lines += [f"| KL(float ‖ int8) | {kl(correction.plain_kl)} | {kl(correction.corrected_kl)} |",
                  f"| layers corrected | {MISSING} | {len(correction.report.layers)} |", ""]
    lines += qat_section(result.qat)
    lines += ["## Phases", "", "| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in result.timings_s.items()]
    if result.notes or result.warnings:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in result.notes]
        lines += [f"- warning: {warning}" for warning in result.warnings]
    text = "\n".join(lines) + "\n"
    if result.fallback is not None:
        text += "\n" + fallback_section(result.fallback, "fallback.png" if "fallback.png" in result.files else None)
    if result.analysis:
        text = with_analysis(text, result.analysis)
    return text


def qat_section(qat) -> list[str]:
    """report.md lines on quantization-aware fine-tuning: the recipe, and how well the simulation matched."""
    if qat is None:
        return []
    settings = qat.settings
    lines = ["## Quantization-aware fine-tuning (--qat)", "",
             f"Distilled the float model into its simulated int8 twin on {qat.images} unlabelled calibration images: "
             f"{settings.epochs} epoch(s) ({qat.steps} steps of {settings.batch_size}, random crops ≥ "
             f"{settings.min_crop:g} and flips), Adam {settings.learning_rate:g} with cosine decay, KL to the float "
             f"model's outputs {qat.first_loss:.4f} → {qat.last_loss:.4f}, {qat.seconds:.0f} s.", ""]
    error = qat.simulation
    if error:
        lines += [f"Simulation vs the converted model (before bias correction) on the {error['images']} verification "
                  f"images: mean |logit difference| {error['mean_abs']:.4f} = {error['mean_abs_steps']:.2f} int8 "
                  f"steps (step {error['logit_step']:.4g}), max {error['max_abs']:.4f}; same top-1 on "
                  f"{pct(error['same_top1'])}.", ""]
    return lines


def fallback_section(fallback: "FallbackResult", plot: str | None) -> str:
    """report.md section: every step of the search, and the trade-off chart."""
    split = fallback.split
    where = (f"Figures on the selection images: {split.describe()}; the verification above is on the report images."
             if split and not split.in_sample else
             f"**In-sample**: {split.describe()}." if split else "")
    lines = ["## Float fallback search", "",
             f"Target: {fallback.target}. Result: " + ("met" if fallback.met else "**not met**")
             + f" ({fallback.stopped}). Layers kept in float: "
             + (", ".join(fallback.layers) if fallback.layers else "none (full-integer)") + ".", "", where, "",
             "| layers in float | top-1 | agreement | latency | × int8 | size | meets target |",
             "|---|---|---|---|---|---|---|"]
    for step in fallback.steps:
        lines.append(f"| {', '.join(step.layers) or '– (full-integer)'} | {pct(step.top1)} | {pct(step.agreement)} | "
                     f"{ms(step.latency_ms)} | {step.latency_ratio:.2f}× | {megabytes(step.size_bytes)} | "
                     f"{'yes' if step.met else 'no'} |")
    if plot:
        lines += ["", f"![accuracy / latency trade-off]({plot})"]
    return "\n".join(lines) + "\n"


def analysis_entry(errors: Iterable[LayerError]) -> dict:
    """The report.json "analysis" object: the files and the worst layers."""
    errors = list(errors)
    return {"csv": "analysis.csv", "plot": "analysis.png", "tensors": len(errors),
            "worst": [{"layer": e.layer, "op": e.op, "rmse_scale": e.rmse_scale} for e in worst_layers(errors)]}


def with_analysis(markdown: str, errors: Iterable[LayerError]) -> str:
    """report.md with its per-layer analysis section replaced (or added at the end)."""
    errors = list(errors)
    worst = ", ".join(f"{e.layer} ({e.rmse_scale:.2f})" for e in worst_layers(errors, 5))
    section = (f"{ANALYSIS_HEADING}\n\nRMSE/scale (error in quantization steps) of {len(errors)} quantized tensors "
               f"on the calibration images; worst: {worst}. See [analysis.csv](analysis.csv) and the chart: "
               "![RMSE/scale per layer](analysis.png)\n")
    kept = re.sub(rf"\n?{re.escape(ANALYSIS_HEADING)}\n.*?(?=\n## |\Z)", "", markdown, flags=re.S).rstrip("\n")
    return kept + "\n\n" + section


def sweep_metric_note(metric: str) -> str | None:
    if metric == "top1":
        return None
    return ("No labelled evaluation images: top-1 needs labelled --eval images (ImageNet synset file-name prefix or "
            "class subfolders), so the figures show the int8 model's agreement with the float model instead.")


def render_sweep_report(arch: str, threads: int, untrained: bool, cells: list, metric: str,
                        figures: dict[str, str]) -> str:
    """sweep.md: every cell of the grid, the cells not run and why, and the figures."""
    from pathlib import Path

    lines = [f"# mobikit sweep: MobileNet {arch}", ""]
    if untrained:
        lines += ["**Untrained** (`--weights none`): random weights, so accuracies are chance level; the sweep "
                  "measures cost and latency only.", ""]
    note = sweep_metric_note(metric)
    if note:
        lines += [note, ""]
    lines += [f"Latency: median of host `invoke()` runs, {threads} thread(s), XNNPACK. Mult-adds counted as the "
              "papers count them.", "",
              "| α | resolution | mult-adds | params | float top-1 | int8 top-1 | float top-5 | int8 top-5 | "
              "agreement | float ms | int8 ms | float size | int8 size | images | status |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        status = cell.status + (" (reused)" if cell.reused else "")
        lines.append(
            f"| {cell.alpha:g} | {cell.resolution} | {number(cell.mult_adds and cell.mult_adds / 1e6, '.1f')}M | "
            f"{number(cell.params and cell.params / 1e6, '.2f')}M | {pct(cell.float_top1)} | {pct(cell.int8_top1)} | "
            f"{pct(cell.float_top5)} | {pct(cell.int8_top5)} | {pct(cell.agreement)} | "
            f"{ms(cell.float_latency_ms, unit=False)} | {ms(cell.int8_latency_ms, unit=False)} | "
            f"{megabytes(cell.float_size_bytes)} | {megabytes(cell.int8_size_bytes)} | {number(cell.eval_n)} | "
            f"{status} |")
    not_run = [cell for cell in cells if cell.status != "done"]
    if not_run:
        lines += ["", "## Not run", ""]
        lines += [f"- α{cell.alpha:g}@{cell.resolution} {cell.status}: {cell.reason}" for cell in not_run]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{key}]({Path(path).name})" for key, path in figures.items()]
    elif not any(cell.status == "done" for cell in cells):
        lines += ["", "No cell ran, so there are no figures."]
    return "\n".join(lines) + "\n"


def _which_weights(description: dict) -> str:
    """Which epochs the saved model's weights come from: the kept one, an average, or the last."""
    kept = description["kept"]
    if kept:
        return f"Kept: {kept['phase']} epoch {kept['epoch']} (lowest validation loss)."
    averaged = [row for row in description["history"] if row.get("averaged")]
    if averaged:
        return (f"The whole schedule ran; the model is the average of the weights after {averaged[0]['phase']} epochs "
                f"{averaged[0]['epoch']}–{averaged[-1]['epoch']} (stochastic weight averaging).")
    return "The whole schedule ran; the model is the last epoch's."


def _epoch_mark(row: dict) -> str:
    return " (kept)" if row.get("best") else " (averaged)" if row.get("averaged") else ""


def render_train_report(description: dict) -> str:
    """report.md from train.json: model, split, recipe, the epochs, the test scores and the timings."""
    model, split, test = description["model"], description["split"], description["test"]
    hyper = description["hyper_parameters"]
    tuned = (f"the last {hyper['fine_tune_blocks']} blocks fine-tuned (from the output of `{model['fine_tuned_from']}`)"
             if model["fine_tuned_from"] else "head only (no fine-tuning)")
    lines = [
        f"# Trained MobileNet {model['arch']} α{model['alpha']:g} @{model['resolution']}: "
        f"{len(model['classes'])} classes",
        "",
        f"Data: `{description['data']}`.",
        "",
        f"Backbone weights: {model['weights'] or 'none (random)'}; {tuned}; head "
        + " → ".join(f"`{name}`" for name in model["head"]) + ".",
        "",
        f"**Test accuracy: {pct(test['accuracy'])}** on {test['n']} images (center crop, the deployed model's input).",
        "",
        "## Split",
        "",
        "| part | images | per class | source |",
        "|---|---|---|---|",
    ]
    lines += [f"| {part} | {entry['count']} | {', '.join(map(str, entry['per_class']))} | {entry['source']} |"
              for part, entry in split.items()]
    if description["skipped_files"]:
        lines += ["", f"Skipped {len(description['skipped_files'])} files that are not readable images."]
    lines += ["", "Every file and its part are listed in train.json (`split`).", "", "## Test scores per class", "",
              "| class | precision | recall | F1 | images |", "|---|---|---|---|---|"]
    lines += [f"| {printable(row['class'])} | {number(row['precision'], '.3f')} | {number(row['recall'], '.3f')} | {number(row['f1'], '.3f')} | "
              f"{row['support']} |" for row in test["per_class"]]
    lines += ["", "![confusion matrix](confusion.png)", "", "## Epochs", "", _which_weights(description), "",
              "| phase | epoch | loss | accuracy | val loss | val accuracy | s |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {row['phase']} | {row['epoch']}{_epoch_mark(row)} | {row['loss']:.3f} | "
              f"{pct(row['accuracy'])} | {number(row['val_loss'], '.3f')} | {pct(row['val_accuracy'])} | "
              f"{row['seconds']:.1f} |" for row in description["history"]]
    lines += ["", "![learning curves](curves.png)", "", "## Recipe", "",
              ", ".join(f"{key} {value}" for key, value in hyper.items()), "", "## Timings", "",
              ", ".join(f"{key} {value:.1f} s" for key, value in description["timings_s"].items())
              + f"; peak memory {description['peak_rss_mb']:.0f} MB", ""]
    return "\n".join(lines)

"""Issue 23: 5-fold cross-validation of `mobikit train` recipes against a plain Keras transfer-learning reference.

Protocol: the 600 photos of ../shared/data/flowers-dev are dealt into 5 stratified folds once (seed 0, 24 photos per
class per fold); every candidate trains on 4 folds (480 photos) and is scored on the fifth (120 photos, the center
crop the deployed model sees), for every fold. The same folds serve every candidate, so each candidate's per-fold
accuracy can be paired with the reference's: the table gives the mean accuracy, the mean paired difference from the
reference and the standard error of that difference (sd / √5). The recipe is chosen on this table alone: there is no
test split; the held-out check is a set of photos the project never sees.

The reference is the Keras transfer-learning guide's recipe, nothing more: the ImageNet backbone frozen, global
pooling → dropout 0.2 → dense softmax, on-the-fly augmentation inside the training graph (random crop of the square
around the center crop, i.e. up to 12.5% shift, horizontal flip, random zoom-in up to 20%), Adam 1e-3 for 10 epochs;
then the last 5 blocks unfrozen with BatchNorm in inference mode, Adam 1e-5 for 10 epochs; batch 32.

Candidates are `mobikit.training` recipes run through the functions `mobikit train` calls (features once per photo
and view through the frozen backbone, then the fitting phases per fold on the fold's rows of that cache).

Each (model, candidate) writes benchmarks/results/train_cv/<model>/<candidate>.json, so runs can be split over time;
`table` renders benchmarks/results/train_cv.md from whatever has been measured.

    nice -n 5 python benchmarks/train_cv.py run --model v1 --candidate reference
    nice -n 5 python benchmarks/train_cv.py run --model v1 --candidate all
    python benchmarks/train_cv.py table
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, SHARED, machine, write_result  # noqa: E402

FLOWERS = SHARED / "data" / "flowers-dev"
FOLDS = 5
FOLD_SEED = 0
MODELS = {"v1": ("v1", 0.25, 128), "v2": ("v2", 1.0, 224)}
OUT = RESULTS / "train_cv"


# Protocol ----------------------------------------------------------------------------------------------------------

def stratified_folds(labels: list[int], folds: int = FOLDS, seed: int = FOLD_SEED) -> list[int]:
    """fold number per photo: each class shuffled (seeded) and dealt round-robin, so every fold holds its share."""
    rng = random.Random(seed)
    fold = [0] * len(labels)
    for label in sorted(set(labels)):
        members = [i for i, value in enumerate(labels) if value == label]
        rng.shuffle(members)
        for position, index in enumerate(members):
            fold[index] = position % folds
    return fold


def load(model: str):
    """(decoded photos of flowers-dev at the model's resolution, fold per photo, class names)."""
    from mobikit.datasets import decode, discover

    arch, alpha, resolution = MODELS[model]
    found = discover(FLOWERS, "training")
    images = decode(found.samples, resolution, threads=2)
    assert not images.skipped and len(images.samples) == 600, "flowers-dev should hold 600 readable photos"
    return images, stratified_folds([int(v) for v in images.labels]), found.classes


# The plain Keras reference -----------------------------------------------------------------------------------------

REFERENCE = {"head_epochs": 10, "head_learning_rate": 1e-3, "fine_tune_blocks": 5, "fine_tune_epochs": 10,
             "fine_tune_learning_rate": 1e-5, "dropout": 0.2, "zoom": 0.2, "batch_size": 32}


def reference_fold(model: str, train_square, train_labels, test_center, test_labels, classes: int, seed: int):
    """The Keras transfer-learning recipe on one fold: returns (test accuracy, seconds)."""
    import numpy as np

    from mobikit.models import build_model
    from mobikit.preprocess import normalize
    from mobikit.runtime import tensorflow
    from mobikit.training import block_inputs

    tf = tensorflow()
    keras = tf.keras
    arch, alpha, resolution = MODELS[model]
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    feeds, last = block_inputs(arch, alpha, resolution)
    full = build_model(arch, alpha, resolution, weights="imagenet")  # only the with-top files are here: cut it
    base = keras.Model(full.input, full.get_layer(last).output)
    base.trainable = False
    augment = keras.Sequential([keras.layers.RandomCrop(resolution, resolution, seed=seed),
                                keras.layers.RandomFlip("horizontal", seed=seed + 1),
                                keras.layers.RandomZoom((-REFERENCE["zoom"], 0.0), seed=seed + 2)])
    pool = keras.layers.GlobalAveragePooling2D()
    drop = keras.layers.Dropout(REFERENCE["dropout"])
    dense = keras.layers.Dense(classes, activation="softmax")
    square = keras.Input(train_square.shape[1:])
    trainer = keras.Model(square, dense(drop(pool(base(augment(square), training=False)))))
    center = keras.Input((resolution, resolution, 3))
    classifier = keras.Model(center, dense(pool(base(center, training=False))))
    x = normalize(train_square)  # the model's [-1, 1] scale; the crop layers are scale-free
    y = keras.utils.to_categorical(train_labels, classes)

    def fit(learning_rate: float, epochs: int) -> None:
        trainer.compile(keras.optimizers.Adam(learning_rate), "categorical_crossentropy")
        trainer.fit(x, y, batch_size=REFERENCE["batch_size"], epochs=epochs, shuffle=True, verbose=0)

    fit(REFERENCE["head_learning_rate"], REFERENCE["head_epochs"])
    base.trainable = True
    first = [layer.name for layer in base.layers].index(feeds[-REFERENCE["fine_tune_blocks"]]) + 1
    for index, layer in enumerate(base.layers):
        layer.trainable = index >= first and not isinstance(layer, keras.layers.BatchNormalization)
    fit(REFERENCE["fine_tune_learning_rate"], REFERENCE["fine_tune_epochs"])
    seconds = time.perf_counter() - started
    scores = classifier.predict(normalize(test_center), batch_size=64, verbose=0)
    accuracy = float(np.mean(np.argmax(scores, axis=1) == test_labels))
    return accuracy, seconds


def done_folds(model: str, candidate: str) -> list[dict]:
    """The folds already measured (a run stopped part-way resumes after them)."""
    path = OUT / model / f"{candidate}.json"
    return json.loads(path.read_text())["folds"] if path.is_file() else []


def run_reference(model: str) -> dict:
    import numpy as np

    images, fold, classes = load(model)
    fold = np.array(fold)
    labels = images.labels
    rows = done_folds(model, "reference")
    for k in range(len(rows), FOLDS):
        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        accuracy, seconds = reference_fold(model, images.square[train], labels[train], images.center[test],
                                           labels[test], len(classes), seed=k)
        rows.append({"fold": k, "accuracy": accuracy, "seconds": round(seconds, 1),
                     "load": round(os.getloadavg()[0], 1)})
        print(f"{model} reference fold {k}: {100 * accuracy:.1f}% in {seconds:.0f} s", file=sys.stderr, flush=True)
        save(model, {"candidate": "reference", "settings": REFERENCE, "folds": rows})
    return {"candidate": "reference", "settings": REFERENCE, "folds": rows}


# Runs and the table -------------------------------------------------------------------------------------------------

def save(model: str, result: dict) -> Path:
    from mobikit.outputs import write_text

    arch, alpha, resolution = MODELS[model]
    result = {**result, "model": f"{arch} α{alpha:g}@{resolution}", "machine": machine(),
              "load_average": [round(v, 2) for v in os.getloadavg()], "measured": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                                   time.gmtime())}
    path = OUT / model / f"{result['candidate']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path


def run(model: str, candidate: str) -> None:
    load_before = os.getloadavg()[0]
    names = [candidate] if candidate != "all" else ["reference", *candidate_names()]
    for name in names:
        started = time.perf_counter()
        result = run_reference(model) if name == "reference" else run_candidate(model, name)
        result["load_before"] = round(load_before, 2)
        result["wall_s"] = round(time.perf_counter() - started, 1)
        print(f"wrote {save(model, result)}", file=sys.stderr)


def candidates(model: str) -> dict:
    """name → the mobikit Recipe it runs (the blocks rule: half the model's blocks, rounded up)."""
    from dataclasses import replace

    from mobikit.features import block_inputs
    from mobikit.recipe import Recipe

    half = -(-len(block_inputs(*MODELS[model])[0]) // 2)
    fixed = Recipe(val_fraction=0.0, patience=None, head_epochs=20, fine_tune_epochs=10, fine_tune_learning_rate=1e-4,
                   averaged_fraction=0.0)
    return {
        # the recipe before this issue: 10% validation, early stopping, fine-tuning kept only when it helps, 5 blocks
        "mobikit-0.1": replace(fixed, val_fraction=0.1, patience=4, head_epochs=40, fine_tune_epochs=12),
        "fixed-5": fixed,  # every training photo, a fixed schedule, 5 blocks at 1e-4
        "fixed-half": replace(fixed, fine_tune_blocks=half),
        "fixed-half-3e-4": replace(fixed, fine_tune_blocks=half, fine_tune_learning_rate=3e-4),
        "fixed-5-long": replace(fixed, fine_tune_epochs=20),  # twice the fine-tuning schedule
        "fixed-5-long-3e-4": replace(fixed, fine_tune_epochs=20, fine_tune_learning_rate=3e-4),
        # as many cached views as fine-tuning epochs: near the on-the-fly regime (each epoch draws one of 20 views)
        "views-20-long": replace(fixed, views=20, fine_tune_epochs=20),
        # stochastic weight averaging (Izmailov et al. 2018): 3e-4 cosine to half over 10 epochs, then 10 epochs held
        # at 1.5e-4 whose weights are averaged; declared as the last V2 candidate before it ran; the recipe's defaults
        "swa-long": replace(fixed, fine_tune_epochs=20, fine_tune_learning_rate=3e-4, averaged_fraction=0.5),
    }


def candidate_names() -> list[str]:
    return list(candidates("v1"))


_FEATURES: dict = {}


def cached_features(model: str, images, network, recipe):
    """Backbone features of all 600 photos for this cut and these views, computed once per process."""
    from mobikit.features import augmenter, backbone_features, extractor, views_that_fit
    from mobikit.progress import Reporter

    key = (model, network.cut, recipe.views, recipe.zoom, recipe.brightness, recipe.contrast)
    if key not in _FEATURES:
        started = time.perf_counter()
        tuned = views_that_fit(network, recipe, 480, recipe.fine_tune_blocks)
        features = backbone_features(extractor(network, 2), images, recipe.views, tuned,
                                     augmenter(recipe, MODELS[model][2], 0), Reporter(), "all")
        _FEATURES[key] = features, time.perf_counter() - started
    return _FEATURES[key]


def run_candidate(model: str, name: str) -> dict:
    from dataclasses import asdict

    import numpy as np

    from mobikit.datasets import stratified_split
    from mobikit.features import build_network
    from mobikit.fitting import fit, predict
    from mobikit.progress import Reporter
    from mobikit.recipe import settings_for
    from mobikit.runtime import tensorflow

    recipe = candidates(model)[name]
    images, fold, classes = load(model)
    fold = np.array(fold)
    labels = images.labels
    network = build_network(*MODELS[model], "imagenet", len(classes), recipe.dropout, recipe.fine_tune_blocks, 0)
    initial = network.model.get_weights()
    features, feature_seconds = cached_features(model, images, network, recipe)
    rows = done_folds(model, name)
    for k in range(len(rows), FOLDS):
        started = time.perf_counter()
        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        val = None
        if recipe.val_fraction:  # the recipe's own validation part, carved out of the fold's training photos
            index = {images.samples[i].path: i for i in train}
            split = stratified_split([images.samples[i] for i in train], {"val": recipe.val_fraction}, k)
            train = np.array([index[s.path] for s in split["train"]])
            held = np.array([index[s.path] for s in split["val"]])
            val = (features.rows(held, 1), labels[held])
        network.model.set_weights(initial)
        tensorflow().keras.utils.set_random_seed(k)
        history = fit(network, features.rows(train), labels[train], val, len(classes),
                      settings_for(recipe, seed=k), Reporter())
        accuracy = float(np.mean(np.argmax(predict(network, features.rows(test, 1)), axis=1) == labels[test]))
        share = feature_seconds * (len(train) * recipe.views + len(test)) / (len(labels) * recipe.views)
        seconds = time.perf_counter() - started + share
        epochs = {phase: sum(1 for row in history if row["phase"] == phase) for phase in ("head", "fine-tune")}
        rows.append({"fold": k, "accuracy": accuracy, "seconds": round(seconds, 1), "epochs": epochs,
                     "kept": next((f"{r['phase']} {r['epoch']}" for r in reversed(history) if r.get("best")), None),
                     "load": round(os.getloadavg()[0], 1)})
        print(f"{model} {name} fold {k}: {100 * accuracy:.1f}% in {seconds:.0f} s", file=sys.stderr, flush=True)
        save(model, {"candidate": name, "settings": asdict(recipe), "feature_seconds": round(feature_seconds, 1),
                     "folds": rows})
    return {"candidate": name, "settings": asdict(recipe), "feature_seconds": round(feature_seconds, 1),
            "folds": rows}


def paired(candidate: dict[int, float], reference: dict[int, float]) -> tuple[float, float | None, int]:
    """(mean paired difference, its standard error, folds) over the folds both measured, in points."""
    differences = [100 * (candidate[k] - reference[k]) for k in sorted(candidate) if k in reference]
    if not differences:
        return float("nan"), None, 0
    error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else None
    return statistics.mean(differences), error, len(differences)


def _row(name: str, result: dict, reference: dict[int, float]) -> str:
    accuracies = {row["fold"]: row["accuracy"] for row in result["folds"]}
    per_fold = " ".join(f"{100 * accuracies[k]:.1f}" if k in accuracies else "·" for k in range(FOLDS))
    seconds = statistics.mean(row["seconds"] for row in result["folds"])
    load = statistics.mean(row.get("load", result.get("load_before", 0.0)) for row in result["folds"])
    delta = error = beats = "–"
    if name != "reference":
        mean_delta, se, common = paired(accuracies, reference)
        folds = "" if common == FOLDS else f" ({common} fold{'s' if common > 1 else ''})"
        delta = f"{mean_delta:+.2f}{folds}" if common else "no common fold"
        error = f"{se:.2f}" if se is not None else "–"
        beats = ("yes" if mean_delta > 2 * se else "no") if se is not None else "–"
    return (f"| {name} | {100 * statistics.mean(accuracies.values()):.2f} | {per_fold} | {delta} | {error} | {beats} "
            f"| {seconds:.0f} | {load:.1f} |")


def table() -> str:
    lines = [f"Machine: {machine()}", "",
             "5-fold stratified cross-validation over the 600 photos of flowers-dev (480 train / 120 scored per fold, "
             "the same folds for every row; · = a fold not measured). Δ = mean of the per-fold paired differences "
             "from the reference, in points (one photo of a fold = 0.83 points); SE = their standard error (sd/√n); "
             "a row beats the reference when Δ > 2 SE. Seconds: mean per fold of the whole recipe (backbone "
             "features included, photo decoding not) under the load shown (1-min load average on 2 cores shared "
             "with other work: inflated several-fold).", ""]
    for model in MODELS:
        folder = OUT / model
        results = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
        if not results:
            continue
        reference = {row["fold"]: row["accuracy"] for row in results.get("reference", {"folds": []})["folds"]}
        elsewhere = sorted({result["machine"] for result in results.values()} - {machine()})
        lines += [f"### {next(iter(results.values()))['model']}", "",
                  *[f"Rows measured on {other}: {', '.join(n for n, r in results.items() if r['machine'] == other)}"
                    "\n" for other in elsewhere],
                  "| candidate | mean top-1 % | per fold % | Δ vs reference | SE | Δ > 2 SE | s / fold | load |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [_row(name, result, reference) for name, result in
                  sorted(results.items(), key=lambda item: item[0] != "reference")]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run")
    runner.add_argument("--model", choices=sorted(MODELS), required=True)
    runner.add_argument("--candidate", default="all")
    commands.add_parser("table")
    args = parser.parse_args()
    if args.command == "run":
        run(args.model, args.candidate)
    text = table()
    write_result("train_cv.md", text)
    print(text)


if __name__ == "__main__":
    main()

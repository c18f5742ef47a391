"""The training phases on cached backbone features: the head, then the last blocks; and the held-out scores.

Phase 1 trains the head (dropout → dense softmax) on the pooled features of every cached view; phase 2 fine-tunes
the last K blocks and the head on the cached activations at their input, one view per image and epoch, BatchNorm in
inference mode. With a validation part and a patience, a phase stops early and keeps its best epoch, and
fine-tuning is kept only when it beats the head's validation loss; without either, the whole schedule runs and
fine-tuning's result is the average of its last epochs' weights (stochastic weight averaging).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .features import Features, Network
from .progress import Reporter
from .recipe import Settings


@dataclass
class Phase:
    """One training phase: a model on cached inputs, how to draw an epoch's inputs, and its budget."""

    name: str
    model: object
    epoch_inputs: object  # (epoch) -> (x, y_onehot, sample_weight)
    val: tuple | None  # (x, y_onehot), or None: no validation
    epochs: int
    learning_rate: float
    averaged_epochs: int = 0  # the last epochs whose weights are averaged into the result (0: none)


@dataclass
class HeldOutScores:
    n: int
    accuracy: float | None
    per_class: list[dict]
    confusion: list[list[int]]
    predictions: list[dict]  # per test file: true class, predicted class, its probability


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[labels]


def class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """Inverse-frequency weights (mean 1 over the samples), so unbalanced folders do not bias the classifier."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (classes * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


def _epoch_line(row: dict, epochs: int, eta: float) -> str:
    validation = (f", val loss {row['val_loss']:.3f}, val accuracy {100 * row['val_accuracy']:.1f}%"
                  if row["val_loss"] is not None else "")
    return (f"{row['phase']} epoch {row['epoch']}/{epochs}: loss {row['loss']:.3f}, accuracy "
            f"{100 * row['accuracy']:.1f}%{validation} ({row['seconds']:.1f} s, ETA {eta:.0f} s)")


def _epoch(phase: Phase, epoch: int, settings: Settings) -> dict:
    begin = time.perf_counter()
    x, y, weights = phase.epoch_inputs(epoch)
    fitted = phase.model.fit(x, y, sample_weight=weights, batch_size=settings.batch_size, epochs=1, shuffle=True,
                             verbose=0)
    val_loss = val_accuracy = None
    if phase.val is not None:
        val_loss, val_accuracy = (float(v) for v in phase.model.evaluate(*phase.val, batch_size=256, verbose=0))
    return {"phase": phase.name, "epoch": epoch + 1, "loss": float(fitted.history["loss"][0]),
            "accuracy": float(fitted.history["accuracy"][0]), "val_loss": val_loss, "val_accuracy": val_accuracy,
            "seconds": round(time.perf_counter() - begin, 3)}


def run_phase(phase: Phase, settings: Settings, reporter: Reporter, best_so_far: float = np.inf) -> list[dict]:
    """The phase's epochs; with validation and a patience, early stopping on the validation loss, the best weights
    restored at the end, and the starting weights kept when no epoch beats `best_so_far`; otherwise the whole schedule,
    its last `averaged_epochs` weight-averaged."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    steps = -(-len(phase.epoch_inputs(0)[0]) // settings.batch_size)
    patience = settings.recipe.patience if phase.val is not None else None
    averaged = min(phase.averaged_epochs, phase.epochs) if patience is None else 0  # early stopping keeps its best
    averaged = averaged if averaged >= 2 else 0  # the average of one epoch is that epoch
    # cosine decay; with averaging, down to half the rate over the epochs before it, then held (SWA's constant rate)
    schedule = keras.optimizers.schedules.CosineDecay(phase.learning_rate,
                                                      max(1, steps * (phase.epochs - averaged)),
                                                      alpha=0.5 if averaged else 0.0)
    phase.model.compile(keras.optimizers.Adam(schedule),
                        keras.losses.CategoricalCrossentropy(label_smoothing=settings.recipe.label_smoothing),
                        metrics=["accuracy"])
    history: list[dict] = []
    best_loss, waited = best_so_far, 0
    best_weights = phase.model.get_weights() if np.isfinite(best_so_far) else None
    average, taken = None, 0
    started = time.perf_counter()
    for epoch in reporter.track(range(phase.epochs), phase.epochs, f"{phase.name} epochs"):
        row = _epoch(phase, epoch, settings)
        history.append(row)
        if epoch >= phase.epochs - averaged:
            row["averaged"] = True
            weights = phase.model.get_weights()
            taken += 1
            average = weights if average is None else [a + (w - a) / taken for a, w in zip(average, weights)]
        eta = (time.perf_counter() - started) / (epoch + 1) * (phase.epochs - epoch - 1)
        reporter.info(_epoch_line(row, phase.epochs, eta))
        if patience is None:
            continue
        if row["val_loss"] < best_loss - 1e-4:
            best_loss, best_weights, waited = row["val_loss"], phase.model.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                reporter.info(f"{phase.name}: validation loss has not improved for {waited} epochs: stopping")
                break
    if patience is not None:
        _keep_best(phase, history, best_weights, best_so_far, reporter)
    elif average is not None:
        phase.model.set_weights(average)
        reporter.info(f"{phase.name}: weights averaged over its last {taken} epochs")
    return history


def _keep_best(phase: Phase, history: list[dict], best_weights, best_so_far: float, reporter: Reporter) -> None:
    if best_weights is not None:
        phase.model.set_weights(best_weights)
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    if history[best]["val_loss"] < best_so_far - 1e-4:
        history[best]["best"] = True
        reporter.info(f"{phase.name}: keeping epoch {best + 1} (validation loss {history[best]['val_loss']:.3f})")
    else:
        reporter.info(f"{phase.name}: no epoch beat the validation loss before it ({best_so_far:.3f}): "
                      "keeping the weights it started from")


def head_model(network: Network, dropout: bool = True):
    """The head alone, on pooled features (sharing its layers with the network)."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    model = network.model
    features = keras.Input(shape=(model.get_layer("global_pool").output.shape[-1],))
    hidden = model.get_layer("head_dropout")(features) if dropout else features
    return keras.Model(features, model.get_layer("predictions")(hidden))


def top_model(network: Network):
    """The fine-tuned blocks and the head, from the cached activations on; BatchNorm stays in inference mode."""
    from .runtime import tensorflow

    keras = tensorflow().keras
    model = network.model
    top = keras.Model(model.get_layer(network.cut).output, model.output)
    for layer in top.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    return top


def fit_head(network: Network, train: Features, labels: np.ndarray, val, classes: int, settings: Settings,
             reporter: Reporter) -> list[dict]:
    """Phase 1: the backbone frozen, the head trained on the pooled features of every cached view."""
    views = train.pooled.shape[1]
    x = train.pooled.reshape(-1, train.pooled.shape[-1])
    y = one_hot(np.repeat(labels, views), classes)
    weights = class_weights(labels, classes)[np.repeat(labels, views)]
    val = None if val is None else (val[0].pooled[:, 0], one_hot(val[1], classes))
    return run_phase(Phase("head", head_model(network), lambda epoch: (x, y, weights), val, settings.head_epochs,
                           settings.recipe.head_learning_rate), settings, reporter)


def fit_blocks(network: Network, train: Features, labels: np.ndarray, val, classes: int, settings: Settings,
               reporter: Reporter, best_so_far: float) -> list[dict]:
    """Phase 2: the last K blocks and the head at a lower learning rate; each epoch draws one view per image."""
    if not network.cut:
        return []
    activations = train.activations
    y, weights = one_hot(labels, classes), class_weights(labels, classes)[labels]
    rng = np.random.default_rng(settings.seed)

    def epoch_inputs(epoch: int):
        chosen = rng.integers(activations.shape[1], size=len(labels))
        return activations[np.arange(len(labels)), chosen].astype(np.float32), y, weights

    val = None if val is None else (val[0].activations[:, 0].astype(np.float32), one_hot(val[1], classes))
    return run_phase(Phase("fine-tune", top_model(network), epoch_inputs, val, settings.fine_tune_epochs,
                           settings.recipe.fine_tune_learning_rate,
                           int(settings.fine_tune_epochs * settings.recipe.averaged_fraction)),
                     settings, reporter, best_so_far)


def fit(network: Network, train: Features, labels: np.ndarray, val: tuple[Features, np.ndarray] | None,
        classes: int, settings: Settings, reporter: Reporter) -> list[dict]:
    """Both phases in order; returns the per-epoch history."""
    history = fit_head(network, train, labels, val, classes, settings, reporter)
    head_loss = min((row["val_loss"] for row in history if row["val_loss"] is not None), default=np.inf)
    return history + fit_blocks(network, train, labels, val, classes, settings, reporter, head_loss)


def predict(network: Network, features: Features) -> np.ndarray:
    """Class probabilities from the center-crop view (exactly the deployed model's input)."""
    if network.cut:
        return np.asarray(top_model(network).predict(features.activations[:, 0].astype(np.float32), batch_size=64,
                                                     verbose=0))
    return np.asarray(head_model(network, dropout=False).predict(features.pooled[:, 0], batch_size=256, verbose=0))


def scores_from_confusion(confusion: np.ndarray, classes: tuple[str, ...]) -> list[dict]:
    """Per-class precision, recall, F1 and support from a confusion matrix (rows: true, columns: predicted)."""
    rows = []
    for i, name in enumerate(classes):
        true_positive = float(confusion[i, i])
        predicted, actual = float(confusion[:, i].sum()), float(confusion[i].sum())
        precision = true_positive / predicted if predicted else None
        recall = true_positive / actual if actual else None
        f1 = 2 * true_positive / (predicted + actual) if predicted + actual else None  # = 2PR / (P + R)
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": int(actual)})
    return rows


def held_out_scores(scores: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], files: list[str]) -> HeldOutScores:
    """Accuracy, per-class scores, the confusion matrix and every file's prediction."""
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    predicted = np.argmax(scores, axis=1) if len(scores) else np.zeros(0, np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    accuracy = float(np.trace(confusion) / len(labels)) if len(labels) else None
    rows = [{"file": file, "class": classes[label], "predicted": classes[int(p)], "confidence": round(float(row[p]), 6)}
            for file, label, p, row in zip(files, labels, predicted, scores)]
    return HeldOutScores(len(labels), accuracy, scores_from_confusion(confusion, classes), confusion.tolist(), rows)

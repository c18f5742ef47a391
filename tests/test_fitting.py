"""Stochastic weight averaging in mobikit.fitting.run_phase, on a real Keras model: fine-tuning's result is the mean
of its averaged epochs' weights, at a learning rate held at half over them; early stopping keeps its best epoch."""

from __future__ import annotations

import numpy as np
import pytest

from mobikit.fitting import Phase, run_phase
from mobikit.progress import Reporter
from mobikit.recipe import Recipe, settings_for


def recording_model(snapshots: list):
    """A real Keras softmax layer whose weights are recorded after every epoch's fit."""
    from mobikit.runtime import tensorflow

    keras = tensorflow().keras

    class Recording(keras.Sequential):
        def fit(self, *args, **kwargs):
            history = super().fit(*args, **kwargs)
            snapshots.append(self.get_weights())
            return history

    keras.utils.set_random_seed(0)
    return Recording([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])


def toy_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 4)).astype(np.float32), np.eye(3, dtype=np.float32)[rng.integers(3, size=64)]


def test_the_result_is_the_mean_of_the_averaged_epochs_weights():
    snapshots: list = []
    model = recording_model(snapshots)
    x, y = toy_data()
    settings = settings_for(Recipe(), batch_size=16)
    history = run_phase(Phase("fine-tune", model, lambda epoch: (x, y, None), None, 6, 3e-4, 3), settings, Reporter())
    assert [bool(row.get("averaged")) for row in history] == [False] * 3 + [True] * 3
    for weights, *seen in zip(model.get_weights(), *snapshots[3:]):
        np.testing.assert_allclose(weights, np.mean(seen, axis=0), rtol=1e-5, atol=1e-7)
    assert not np.allclose(model.get_weights()[0], snapshots[-1][0])  # an average, not the last epoch
    assert float(model.optimizer.learning_rate) == pytest.approx(1.5e-4)  # held at half over the averaged epochs


def test_early_stopping_keeps_its_best_epoch_and_averages_nothing():
    snapshots: list = []
    model = recording_model(snapshots)
    x, y = toy_data()
    settings = settings_for(Recipe(patience=50), batch_size=16)
    history = run_phase(Phase("fine-tune", model, lambda epoch: (x, y, None), (x, y), 4, 3e-2, 2), settings,
                        Reporter())
    assert not any(row.get("averaged") for row in history)
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    for weights, kept in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(weights, kept)

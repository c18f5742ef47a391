"""The training recipe as data: the defaults `mobikit train` uses for every data set and model, and the settings of
one run (the recipe with a request's overrides). Nothing here is tuned to a data set: the defaults were chosen by
5-fold cross-validation against a plain Keras fine-tune (benchmarks/train_cv.py) and may depend only on counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """The training defaults: the same for every data set and model."""

    views: int = 8  # cached views per training image: the center crop and (views - 1) augmented ones
    zoom: float = 0.3  # augmentation: zoom in by up to this fraction, then a random R×R crop of the square
    brightness: float = 0.1  # ± fraction of the value range
    contrast: float = 0.1
    dropout: float = 0.2
    label_smoothing: float = 0.1
    head_epochs: int = 20
    head_learning_rate: float = 1e-3
    fine_tune_blocks: int = 5
    fine_tune_epochs: int = 20
    fine_tune_learning_rate: float = 3e-4  # cosine decay to half of it, then held there for the averaged epochs
    # stochastic weight averaging (Izmailov et al. 2018): the weights of this last share of fine-tuning's epochs
    # (rounded down) are averaged into the result; not with early stopping (patience), which keeps its best epoch
    averaged_fraction: float = 0.5
    patience: int | None = None  # early stopping on the validation loss; None: the whole schedule runs
    batch_size: int = 32
    test_fraction: float = 0.2  # carved out of DATA when --test is not given
    val_fraction: float = 0.0  # carved out of DATA when --val is not given (0: none; a given --val is watched)
    cache_budget_mb: int = 1536  # fine-tuning activations kept in memory; fewer views when they would not fit


RECIPE = Recipe()


@dataclass
class Settings:
    """The hyper-parameters of one run: the recipe with the request's overrides applied."""

    head_epochs: int
    fine_tune_epochs: int
    fine_tune_blocks: int
    batch_size: int
    seed: int
    recipe: Recipe


def settings_for(recipe: Recipe, epochs: int | None = None, fine_tune: int | None = None,
                 batch_size: int | None = None, seed: int = 0) -> Settings:
    """The recipe's values, each replaced by the override given (None keeps the recipe's)."""
    return Settings(head_epochs=epochs or recipe.head_epochs, fine_tune_epochs=epochs or recipe.fine_tune_epochs,
                    fine_tune_blocks=recipe.fine_tune_blocks if fine_tune is None else fine_tune,
                    batch_size=batch_size or recipe.batch_size, seed=seed, recipe=recipe)

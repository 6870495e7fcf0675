"""Errors that point somewhere: a keyword ``tg.fit`` does not take is named with where it belongs.

A bare ``TypeError: fit() got an unexpected keyword argument 'clipnorm'`` leaves the user to find out
that clipping, like the learning rate, is a setting of the optimizer object; the message here says so,
with the line to write, or names the keyword of ``fit`` the user probably meant.
"""
from __future__ import annotations

import difflib
import inspect

from ..optim import Optimizer, Scipy, first_order

__all__ = ["unknown_keywords"]

# Keras', scikit-learn's and PyTorch's spellings of tg.fit's own settings.
_SYNONYMS = {
    "max_iter": "maxiter", "max_iters": "maxiter", "n_iter": "maxiter", "iterations": "maxiter",
    "num_epochs": "epochs", "n_epochs": "epochs", "epoch": "epochs", "max_epochs": "epochs",
    "seed": "random_state", "batchsize": "batch_size", "steps": "maxiter",
    "validation_split": None, "method": "optimizer", "solver": "optimizer", "weights": "sample_weight",
    "n_threads": "threads", "workers": "n_jobs", "callbacks": "callback",
}
_OPTIMIZER_SYNONYMS = {"learning_rate": "lr", "learningrate": "lr", "alpha": "lr", "beta_1": "beta1",
                       "beta_2": "beta2", "epsilon": "eps", "clipvalue": "clipnorm", "max_norm": "clipnorm"}


def _optimizer_settings() -> dict:
    """setting -> the built-in minibatch optimizers (by class name) whose constructor takes it."""
    rules = [getattr(first_order, name) for name in first_order.__all__]
    settings: dict = {}
    for cls in (c for c in rules if isinstance(c, type) and issubclass(c, Optimizer) and c is not Scipy):
        for name in list(inspect.signature(cls.__init__).parameters)[1:]:
            settings.setdefault(name, []).append(cls.__name__)
    return settings


def unknown_keywords(who: str, given: dict, known) -> str:
    """The message for keywords ``given`` that ``who`` (a function taking ``known``) does not take."""
    name, value = next(iter(sorted(given.items())))
    head = f"{who}() got an unexpected keyword argument {name!r}"
    settings = _optimizer_settings()
    setting = _OPTIMIZER_SYNONYMS.get(name, name)
    if setting in settings:
        owners = settings[setting]
        example = "Adam" if "Adam" in owners else owners[0]
        return (f"{head}: {setting!r} is a setting of the optimizer, not of {who}; give it to the optimizer "
                f"object: tg.{who}(model, X, y, tg.optim.{example}({setting}={value!r}), ...) "
                f"(taken by {', '.join(sorted(owners))})")
    meant = _SYNONYMS.get(name.lower(), "") if name.lower() in _SYNONYMS else \
        next(iter(difflib.get_close_matches(name, list(known), n=1)), "")
    if name.lower() == "validation_split":
        return (f"{head}: hold out rows yourself and pass them as validation_data=(X_val, y_val) "
                "(tg.datasets.train_test_split splits X and y)")
    if meant:
        return f"{head}; did you mean {meant}={value!r}?"
    return f"{head}; {who} takes: {', '.join(sorted(known))}"

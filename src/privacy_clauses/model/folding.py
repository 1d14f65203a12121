"""Thresholds folded into the classifier bias, so plain transformers tools decide as we do.

A saved model's bias for label ``i`` is ``b_i - logit(t_i)``: its logit is positive (its
sigmoid is at least 0.5) exactly when the calibrated probability reaches the threshold
``t_i``. ``pipeline()`` with score >= 0.5 and ``AutoModelForSequenceClassification`` with
logit > 0 then give the thresholded decisions. Loading adds ``logit(t_i)`` back, so this
package works with calibrated probabilities. The label rules (at least one category,
``other`` alone) need ``apply_thresholds``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from transformers import PreTrainedModel

FOLDED_KEY = "bias_shift"  # in privacy_clauses.json: what was added to the bias, per label
EPSILON = 1e-6


def logit_shift(thresholds: Sequence[float]) -> list[float]:
    """``-logit(t)`` per label: added to the bias at save time, subtracted at load time."""
    t = np.clip(np.asarray(thresholds, dtype=np.float64), EPSILON, 1 - EPSILON)
    return [float(v) for v in -np.log(t / (1 - t))]


def classifier_layer(model: PreTrainedModel) -> torch.nn.Linear:
    """The output layer: the last ``Linear`` with one output per label."""
    layers = [
        module
        for module in model.modules()
        if isinstance(module, torch.nn.Linear) and module.out_features == model.config.num_labels
    ]
    if not layers or layers[-1].bias is None:
        raise ValueError(f"{type(model).__name__}: no output layer with a bias to fold thresholds into")
    return layers[-1]


def shift_bias(model: PreTrainedModel, shift: Sequence[float]) -> None:
    """Add ``shift`` to the output layer's bias, in place."""
    bias = classifier_layer(model).bias
    with torch.no_grad():
        bias.add_(torch.as_tensor(shift, dtype=bias.dtype, device=bias.device))


@contextmanager
def folded(
    model: PreTrainedModel, thresholds: Sequence[float], labels: Sequence[str]
) -> Iterator[list[float]]:
    """The model with thresholds folded into its bias (and listed in its config) for saving;
    restored on exit, so the caller's model keeps calibrated outputs."""
    shift = logit_shift(thresholds)
    bias = classifier_layer(model).bias
    original = bias.detach().clone()
    shift_bias(model, shift)
    model.config.thresholds = dict(zip(labels, (float(t) for t in thresholds), strict=True))
    try:
        yield shift
    finally:
        with torch.no_grad():
            bias.copy_(original)  # exactly, not by subtracting the shift again

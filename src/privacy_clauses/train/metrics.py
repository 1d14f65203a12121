"""The early-stopping metric: the shared task scores (``model/metrics.py``) at threshold 0.5."""

from __future__ import annotations

import numpy as np

from ..model.metrics import sigmoid, task_scores


def compute_metrics(eval_prediction) -> dict[str, float]:
    """Trainer hook; ``label_ids`` is ``(labels, basis_known)`` (the Trainer's two label names)."""
    labels, basis_known = eval_prediction.label_ids
    decisions = (sigmoid(eval_prediction.predictions) >= 0.5).astype(int)
    return task_scores(decisions, np.asarray(labels).astype(int), np.asarray(basis_known).astype(bool))

"""The metric for early stopping: macro-F1 per task on validation data (scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from ..data.labels import TASK_COLUMNS


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def task_scores(decisions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Micro- and macro-F1 per task; macro averages labels with support only."""
    scores = {}
    for task, columns in TASK_COLUMNS.items():
        y_true, y_pred = labels[:, columns], decisions[:, columns]
        supported = y_true.sum(axis=0) > 0
        scores[f"{task}_micro_f1"] = float(f1_score(y_true, y_pred, average="micro", zero_division=0))
        scores[f"{task}_macro_f1"] = (
            float(f1_score(y_true[:, supported], y_pred[:, supported], average="macro", zero_division=0))
            if supported.any()
            else 0.0
        )
    scores["macro_f1"] = (scores["categories_macro_f1"] + scores["legal_basis_macro_f1"]) / 2
    return scores


def compute_metrics(eval_prediction) -> dict[str, float]:
    """Trainer hook: scores at the default 0.5 threshold (thresholds are tuned after training)."""
    logits, labels = eval_prediction
    return task_scores((sigmoid(logits) >= 0.5).astype(int), labels.astype(int))

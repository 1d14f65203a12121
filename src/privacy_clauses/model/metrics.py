"""The one F1 implementation: per task, micro- and macro-F1 over labels with support, legal basis
scored only on clauses whose basis is known. Early stopping, thresholds and reports all use it."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from ..data.labels import TASK_COLUMNS


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=float)))


def headline(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Micro-F1 and macro-F1 of one task; macro averages only labels with support (NaN if none)."""
    supported = y_true.sum(axis=0) > 0 if len(y_true) else np.zeros(y_true.shape[1], dtype=bool)
    if not supported.any():
        return {"micro_f1": float("nan"), "macro_f1": float("nan")}
    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "macro_f1": float(
            f1_score(y_true[:, supported], y_pred[:, supported], average="macro", zero_division=0)
        ),
    }


def task_scores(
    decisions: np.ndarray, labels: np.ndarray, basis_known: np.ndarray | None = None
) -> dict[str, float]:
    """``{task}_micro_f1``, ``{task}_macro_f1`` and ``macro_f1``, the mean over the tasks that can be
    scored: a corpus without legal-basis labels (OPP-115) is judged on categories alone."""
    known = np.ones(len(labels), dtype=bool) if basis_known is None else np.asarray(basis_known, bool)
    scores: dict[str, float] = {}
    for task, columns in TASK_COLUMNS.items():
        rows = known if task == "legal_basis" else np.ones(len(labels), dtype=bool)
        for key, value in headline(labels[rows][:, columns], decisions[rows][:, columns]).items():
            scores[f"{task}_{key}"] = value
    macros = [scores[f"{task}_macro_f1"] for task in TASK_COLUMNS]
    scores["macro_f1"] = float(np.nanmean(macros)) if not np.isnan(macros).all() else 0.0
    return scores

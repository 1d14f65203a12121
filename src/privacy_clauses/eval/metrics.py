"""Metrics per task with scikit-learn: per label, micro/macro/samples F1, exact match, per policy, and
bootstrap confidence intervals over policies and over clauses; each averaged over seeds."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from ..data.labels import TASK_COLUMNS, TASKS
from ..model.metrics import headline
from .predictions import Predictions

HEADLINE = ("micro_f1", "macro_f1")


def task_rows(run: Predictions, task: str, index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Truth and decisions of one task (for the clauses at ``index``, default all); legal-basis
    scores skip clauses whose basis is unknown."""
    rows = np.arange(len(run)) if index is None else np.asarray(index, dtype=int)
    if task == "legal_basis":
        rows = rows[run.basis_known[rows]]
    columns = TASK_COLUMNS[task]
    return run.labels[rows][:, columns], run.decisions[rows][:, columns]


def task_metrics(run: Predictions, task: str) -> dict:
    """Every figure of one task for one run."""
    y_true, y_pred = task_rows(run, task)
    if len(y_true) == 0:
        return {"clauses": 0}
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    names = TASKS[task]
    return {
        "clauses": len(y_true),
        **headline(y_true, y_pred),
        # a clause with no true and no predicted label (no legal basis, rightly) scores 1
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", zero_division=1.0)),
        "exact_match": float(accuracy_score(y_true, y_pred)),
        "per_label": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        "unsupported_labels": [name for name, s in zip(names, support, strict=True) if s == 0],
    }


def mean_std(values: Sequence[float]) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    return {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values)) if len(values) > 1 else 0.0}


def summarize(runs: Sequence[Predictions], task: str) -> dict:
    """Mean ± std over seeds of every scalar and per-label figure of a task."""
    per_run = [task_metrics(run, task) for run in runs]
    if per_run[0]["clauses"] == 0:
        return {"clauses": 0}
    summary = {"clauses": per_run[0]["clauses"], "unsupported_labels": per_run[0]["unsupported_labels"]}
    for key in ("micro_f1", "macro_f1", "samples_f1", "exact_match"):
        summary[key] = mean_std([m[key] for m in per_run])
    summary["per_label"] = {
        name: {
            key: mean_std([m["per_label"][name][key] for m in per_run]) if key != "support" else value
            for key, value in figures.items()
        }
        for name, figures in per_run[0]["per_label"].items()
    }
    return summary


def per_policy(runs: Sequence[Predictions], task: str) -> dict[str, dict[str, float]]:
    """Headline figures of each held-out policy, averaged over seeds."""
    result = {}
    for policy in sorted(set(runs[0].policy_ids)):
        index = np.flatnonzero(np.asarray(runs[0].policy_ids) == policy)
        if not task_rows(runs[0], task, index)[0].size:
            continue
        scores = [headline(*task_rows(run, task, index)) for run in runs]
        result[policy] = {key: float(np.nanmean([s[key] for s in scores])) for key in HEADLINE} | {
            "clauses": len(index)
        }
    return result


def bootstrap_ci(
    runs: Sequence[Predictions], task: str, by: str, resamples: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """95% percentile intervals of the seed-mean micro- and macro-F1, resampling clauses
    (``by="clauses"``) or whole policies (``by="policies"``) with replacement."""
    rng = np.random.default_rng(seed)
    base = runs[0]
    if by == "policies":
        groups = [np.flatnonzero(np.asarray(base.policy_ids) == p) for p in sorted(set(base.policy_ids))]
    else:
        groups = [np.array([i]) for i in range(len(base))]
    samples: dict[str, list[float]] = {key: [] for key in HEADLINE}
    for _ in range(resamples):
        index = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        scores = [headline(*task_rows(run, task, index)) for run in runs]
        with warnings.catch_warnings():  # a resample where no label has support scores NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            for key in HEADLINE:
                samples[key].append(np.nanmean([s[key] for s in scores]))
    return {key: [float(v) for v in np.nanpercentile(values, [2.5, 97.5])] for key, values in samples.items()}

"""Evaluation: held-out and leave-one-policy-out, baselines beside the model, metrics, reports, plots."""

from .crossval import cross_validate
from .heldout import evaluate_model
from .predictions import Evaluation, EvaluationError, Predictions
from .report import headline_table, write_report

__all__ = [
    "Evaluation",
    "EvaluationError",
    "Predictions",
    "cross_validate",
    "evaluate_model",
    "headline_table",
    "write_report",
]

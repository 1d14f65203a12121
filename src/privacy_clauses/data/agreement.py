"""Inter-annotator agreement between two label passes over the same clauses (Cohen's kappa)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sklearn.metrics import cohen_kappa_score

from .errors import PrivacyClausesError
from .labels import TASKS
from .records import ClauseRecord


def _kappa(first: list[int], second: list[int]) -> float:
    """Cohen's kappa; NaN when neither pass uses the label (agreement is undefined)."""
    if not any(first) and not any(second):
        return math.nan
    if first == second:
        return 1.0
    return float(cohen_kappa_score(first, second))


def agreement(first: Sequence[ClauseRecord], second: Sequence[ClauseRecord]) -> dict:
    """Per task and per label: kappa, positives in each pass, and disagreements.

    The task-level ``kappa`` pools every (clause, label) decision of the task; ``exact``
    is the share of clauses whose whole label set is identical.
    """
    by_id = {record.id: record for record in second}
    missing = [record.id for record in first if record.id not in by_id]
    if missing or len(by_id) != len(first):
        raise PrivacyClausesError(f"the two passes cover different clauses (e.g. {missing[:3]})")
    pairs = [(record, by_id[record.id]) for record in first]
    result: dict = {"clauses": len(pairs), "tasks": {}}
    for task, labels in TASKS.items():
        pairs_known = [
            (a, b) for a, b in pairs if getattr(a, task) is not None and getattr(b, task) is not None
        ]
        sets = [(set(getattr(a, task)), set(getattr(b, task))) for a, b in pairs_known]
        per_label, pooled_a, pooled_b = {}, [], []
        for label in labels:
            col_a = [int(label in a) for a, _ in sets]
            col_b = [int(label in b) for _, b in sets]
            pooled_a += col_a
            pooled_b += col_b
            per_label[label] = {
                "kappa": _kappa(col_a, col_b),
                "first": sum(col_a),
                "second": sum(col_b),
                "disagreements": sum(x != y for x, y in zip(col_a, col_b, strict=True)),
            }
        result["tasks"][task] = {
            "kappa": _kappa(pooled_a, pooled_b),
            "exact": sum(a == b for a, b in sets) / len(sets) if sets else math.nan,
            "labels": per_label,
        }
    return result


def agreement_table(first: Sequence[ClauseRecord], second: Sequence[ClauseRecord]) -> str:
    """The agreement figures as Markdown tables, one per task."""
    figures = agreement(first, second)
    lines = [f"{figures['clauses']} clauses"]
    for task, numbers in figures["tasks"].items():
        lines += [
            "",
            f"{task}: pooled kappa {numbers['kappa']:.3f}, identical label sets {numbers['exact']:.1%}",
            "",
            "| label | kappa | pass 1 | pass 2 | disagreements |",
            "|---|---|---|---|---|",
        ]
        for label, row in numbers["labels"].items():
            kappa = "n/a" if math.isnan(row["kappa"]) else f"{row['kappa']:.3f}"
            lines.append(f"| {label} | {kappa} | {row['first']} | {row['second']} | {row['disagreements']} |")
    return "\n".join(lines)

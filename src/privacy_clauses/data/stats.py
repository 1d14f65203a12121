"""Label counts per policy (``data stats``), as a table a person reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .labels import CATEGORIES, LEGAL_BASES
from .records import ClauseRecord


def label_counts(records: Sequence[ClauseRecord]) -> dict[str, Counter]:
    """Per policy: ``clauses`` and the number of clauses carrying each label."""
    counts: dict[str, Counter] = {}
    for record in records:
        counter = counts.setdefault(record.policy_id, Counter())
        counter["clauses"] += 1
        counter.update(record.categories)
        counter.update(record.legal_basis or [])
        if not record.legal_basis:
            counter["(no basis)" if record.legal_basis is not None else "(basis unknown)"] += 1
    return dict(sorted(counts.items()))


def stats_table(records: Sequence[ClauseRecord]) -> str:
    """A Markdown table: one row per label, one column per policy, and a total."""
    counts = label_counts(records)
    policies = list(counts)
    total = sum(counts.values(), Counter())
    rows = ["clauses", *CATEGORIES, *LEGAL_BASES, "(no basis)"]
    if total["(basis unknown)"]:
        rows.append("(basis unknown)")
    header = ["label", *policies, "total"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(counts[p][row]) for p in policies] + [str(total[row])]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

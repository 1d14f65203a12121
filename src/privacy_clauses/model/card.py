"""The model card (``README.md`` in a model folder), filled from what training gathered."""

from __future__ import annotations


def _metrics_table(metrics: dict) -> str:
    rows = [f"| {name} | {value:.3f} |" for name, value in sorted(metrics.items())
            if isinstance(value, float)]  # fmt: skip
    return "\n".join(["| metric | value |", "|---|---|", *rows]) if rows else "(none recorded)"


def model_card(meta: dict) -> str:
    """Render the card: data, base model, metrics, intended use, limits."""
    config = meta.get("config", {})
    thresholds = ", ".join(
        f"{name}={value:.2f}" for name, value in zip(meta["labels"], meta["thresholds"], strict=True)
    )
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [privacy-policy, multi-label, opp-115, gdpr]
---

# privacy-clauses classifier

Labels clauses of website privacy policies with OPP-115 practice categories
(`category:*`) and GDPR Art. 6(1) legal bases (`basis:*`), multi-label.

- **Base model:** {config.get("base_model", "unknown")}
- **Training data:** {config.get("data", "unknown")} (policies held out: test
  {meta.get("test_policies", [])}, validation {meta.get("validation_policies", [])})
- **Label scheme version:** {meta["scheme_version"]}
- **Input:** the clause, paired with its context (the chain of headings and lead-ins above it).

## Metrics (held-out policies)

{_metrics_table(meta.get("metrics", {}))}

## Decision thresholds (tuned on validation policies)

{thresholds}

## Intended use

Reading privacy policies at scale: finding which practices and legal bases a policy states.
The labels describe what the text says, not whether a practice is lawful.

## Limits

Trained on a small set of English policies; rare labels (`do_not_track`, `vital_interests`,
`public_task`) have few or no training examples and are unreliable. Predictions need the
thresholds and label rules of `privacy_clauses` (`ClauseClassifier`); a plain pipeline
returns raw per-label probabilities.
"""

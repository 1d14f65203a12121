"""Per-policy summary: which practices and legal bases each input states, with counts and top clause."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..data.labels import BASIS_PREFIX, CATEGORY_PREFIX


def summarize(records: Iterable[dict]) -> dict[str, dict]:
    """For each policy (its ``policy_id``; a table without one is one policy): clause count, and
    per label the count and the most probable clause."""
    summary: dict[str, dict] = {}
    for record in records:
        key = record.get("policy_id") or record["source"]
        entry = summary.setdefault(key, {"source": record["source"], "clauses": 0, "labels": {}})
        entry["clauses"] += 1
        labels = [CATEGORY_PREFIX + c for c in record["categories"]]
        labels += [BASIS_PREFIX + b for b in record["legal_basis"]]
        for label in labels:
            probability = record["probabilities"][label]
            slot = entry["labels"].setdefault(label, {"count": 0, "top_probability": -1.0})
            slot["count"] += 1
            if probability > slot["top_probability"]:
                slot |= {"top_probability": probability, "top_id": record["id"], "top_text": record["text"]}
    return summary


def summary_markdown(summary: dict[str, dict]) -> str:
    lines = ["# Policy summary", ""]
    for source, entry in summary.items():
        lines += [
            f"## {source}",
            "",
            f"{entry['clauses']} clauses",
            "",
            "| label | clauses | top clause |",
            "|---|---|---|",
        ]
        for label, slot in sorted(entry["labels"].items()):
            text = slot["top_text"].replace("|", "\\|")
            lines.append(f"| {label} | {slot['count']} | {text[:160]} |")
        lines.append("")
    return "\n".join(lines)


def write_summary(summary: dict[str, dict], path: str | Path) -> list[Path]:
    """Write the summary as JSON at ``path`` and as Markdown beside it (``.md``)."""
    path = Path(path)
    json_path = path if path.suffix == ".json" else path.with_suffix(".json")
    md_path = json_path.with_suffix(".md")
    json_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    md_path.write_text(summary_markdown(summary), encoding="utf-8")
    return [json_path, md_path]

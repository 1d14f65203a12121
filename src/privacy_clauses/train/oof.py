"""The out-of-fold predictions file of a LOPO run (``predictions.jsonl`` beside its
``metrics.json``): written by ``evaluate --cv lopo``, read back by ``thresholds: oof`` with
``oof_predictions``. A model trained on every policy has the LOPO folds as its inner folds, so
their predictions can set its thresholds without training the inner models again."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..data.labels import ALL_LABELS


def write_oof_predictions(
    path: str | Path, runs: Iterable[tuple[str, int, list[str], list[str], np.ndarray]]
) -> None:
    """One line per (system, seed, clause): its policy and every label's probability."""
    with Path(path).open("w", encoding="utf-8") as out:
        for system, seed, ids, policies, probs in runs:
            for clause, policy, row in zip(ids, policies, probs, strict=True):
                scores = {label: round(float(p), 4) for label, p in zip(ALL_LABELS, row, strict=True)}
                line = {"system": system, "seed": seed, "id": clause, "policy_id": policy, "probs": scores}
                out.write(json.dumps(line) + "\n")


def read_oof_predictions(path: str | Path, system: str) -> dict[int, dict[str, tuple[str, np.ndarray]]]:
    """``{seed: {clause id: (policy id, probabilities in ALL_LABELS order)}}`` of ``system``."""
    runs: dict[int, dict[str, tuple[str, np.ndarray]]] = {}
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["system"] == system:
                probs = np.array([row["probs"][label] for label in ALL_LABELS], dtype=float)
                runs.setdefault(row["seed"], {})[row["id"]] = (row["policy_id"], probs)
    return runs

"""The out-of-fold predictions file of a LOPO run (``predictions.jsonl`` beside its
``metrics.json``): written by ``evaluate --cv lopo``, read back by ``thresholds: oof`` with
``oof_predictions``. A model trained on every policy has the LOPO folds as its inner folds, so
their predictions can set its thresholds without training the inner models again."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..data.errors import PrivacyClausesError
from ..data.labels import ALL_LABELS
from ..model.card import lopo_system
from .config import TrainConfig


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
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
                if row["system"] == system:
                    probs = np.array([row["probs"][label] for label in ALL_LABELS], dtype=float)
                    runs.setdefault(row["seed"], {})[row["id"]] = (row["policy_id"], probs)
            except (ValueError, KeyError, TypeError) as error:
                raise PrivacyClausesError(f"{path}:{number}: not a prediction line ({error!r})") from error
    return runs


def saved_oof_probs(config: TrainConfig, ids: list[str], policies: list[str]) -> list[np.ndarray]:
    """Per seed of ``config.oof_predictions``, the probabilities of clauses ``ids`` (of ``policies``).
    The LOPO run must be of this recipe (its ``metrics.json`` says so) and over exactly these
    policies: a fold that trained on another policy would leak it into the thresholds."""
    path = Path(config.oof_predictions)
    report = path.with_name("metrics.json")
    try:
        system = lopo_system(json.loads(report.read_text(encoding="utf-8")), config.model_dump())
    except (OSError, ValueError) as error:
        raise PrivacyClausesError(f"{report}: cannot read the LOPO report of {path} ({error})") from error
    if system is None:
        raise PrivacyClausesError(
            f"{report}: no model trained with this config's recipe; run 'evaluate --cv lopo' with it, "
            "or set oof_predictions=null to train the inner folds"
        )
    expected = sorted(set(policies))
    runs = []
    for seed, saved in sorted(read_oof_predictions(path, system).items()):
        covered = sorted({policy for policy, _ in saved.values()})
        missing = [clause for clause in ids if clause not in saved]
        if covered != expected or missing:
            raise PrivacyClausesError(
                f"{path}: seed {seed} covers policies {covered}, not the training policies "
                f"{expected}{f' (no prediction for {missing[0]})' if missing else ''}; "
                "set oof_predictions=null to train the inner folds"
            )
        runs.append(np.stack([saved[clause][1] for clause in ids]))
    if not runs:
        raise PrivacyClausesError(f"{path}: no predictions of system '{system}'")
    return runs

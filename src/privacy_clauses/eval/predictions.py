"""Out-of-sample predictions of one system: what every metric, plot and error list is computed from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.errors import PrivacyClausesError
from ..data.records import ClauseRecord
from ..data.splits import to_example
from ..data.validate import is_written


class EvaluationError(PrivacyClausesError):
    """Evaluation data that cannot give an honest figure; one line for the user."""


@dataclass
class Predictions:
    """Probabilities and 0/1 decisions of one system for clauses it never trained on."""

    ids: list[str]
    policy_ids: list[str]
    texts: list[str]
    contexts: list[str]
    labels: np.ndarray  # (n, len(ALL_LABELS)) multi-hot truth
    basis_known: np.ndarray  # (n,) False where the corpus has no legal-basis labels
    probs: np.ndarray
    decisions: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> Predictions:
        index = np.asarray(index, dtype=int)
        return Predictions(
            [self.ids[i] for i in index], [self.policy_ids[i] for i in index],
            [self.texts[i] for i in index], [self.contexts[i] for i in index],
            self.labels[index], self.basis_known[index], self.probs[index], self.decisions[index],
        )  # fmt: skip

    @staticmethod
    def concat(parts: Sequence[Predictions]) -> Predictions:
        """Pool folds into one set (the out-of-fold predictions of cross-validation)."""
        return Predictions(
            [i for p in parts for i in p.ids], [i for p in parts for i in p.policy_ids],
            [t for p in parts for t in p.texts], [c for p in parts for c in p.contexts],
            np.concatenate([p.labels for p in parts]), np.concatenate([p.basis_known for p in parts]),
            np.concatenate([p.probs for p in parts]), np.concatenate([p.decisions for p in parts]),
        )  # fmt: skip

    def sorted_by_id(self) -> Predictions:
        return self.subset(np.argsort(self.ids, kind="stable"))


def evaluation_records(records: Sequence[ClauseRecord], source: str) -> list[ClauseRecord]:
    """The records to score, refusing written training text: figures must be on real policies."""
    written = [record.id for record in records if is_written(record)]
    if written:
        raise EvaluationError(
            f"{source}: {len(written)} clause(s) are written training text (source: written), "
            f"e.g. {written[0]}; evaluation uses real policies only"
        )
    if not records:
        raise EvaluationError(f"{source}: no clauses to evaluate")
    return list(records)


def make_predictions(
    records: Sequence[ClauseRecord], probs: np.ndarray, decisions: np.ndarray
) -> Predictions:
    """Bundle a system's output for ``records`` with their truth."""
    examples = [to_example(record) for record in records]
    return Predictions(
        ids=[e["id"] for e in examples],
        policy_ids=[e["policy_id"] for e in examples],
        texts=[e["text"] for e in examples],
        contexts=[e["context"] for e in examples],
        labels=np.asarray([e["labels"] for e in examples], dtype=int).reshape(len(examples), -1),
        basis_known=np.asarray([e["basis_known"] for e in examples], dtype=bool),
        probs=np.asarray(probs, dtype=float),
        decisions=np.asarray(decisions, dtype=int),
    )


@dataclass
class Evaluation:
    """What an evaluation produced: per system, one pooled ``Predictions`` per seed."""

    mode: str  # "held-out" or "lopo"
    systems: dict[str, list[Predictions]]
    seeds: list[int]
    seconds: float
    folds: list[dict]
    configs: dict[str, dict]

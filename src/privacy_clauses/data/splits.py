"""Policy-grouped splits as a ``datasets.DatasetDict``: a policy is never in two splits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, DatasetDict

from .errors import PrivacyClausesError
from .labels import ALL_LABELS, BASIS_PREFIX, CATEGORY_PREFIX
from .records import ClauseRecord, read_records


def to_example(record: ClauseRecord) -> dict:
    """A record as a training example with a multi-hot ``labels`` row over ``ALL_LABELS``.

    Where the legal basis is unknown (``None``), ``basis_known`` is False and the basis
    part of ``labels`` is zero; metrics and losses must mask it.
    """
    present = {CATEGORY_PREFIX + c for c in record.categories}
    present |= {BASIS_PREFIX + b for b in record.legal_basis or []}
    return {
        "id": record.id,
        "policy_id": record.policy_id,
        "text": record.text,
        "context": record.context,
        "labels": [1.0 if name in present else 0.0 for name in ALL_LABELS],
        "basis_known": record.legal_basis is not None,
    }


def policy_ids(records: Sequence[ClauseRecord]) -> list[str]:
    """The policies in ``records``, sorted: the fold order of leave-one-policy-out."""
    return sorted({record.policy_id for record in records})


def split_by_policy(
    records: Sequence[ClauseRecord],
    test: Sequence[str],
    validation: Sequence[str] = (),
) -> DatasetDict:
    """Put the ``test`` and ``validation`` policies in their splits and the rest in train."""
    known = set(policy_ids(records))
    unknown = sorted((set(test) | set(validation)) - known)
    if unknown:
        known_ids = ", ".join(sorted(known))
        raise PrivacyClausesError(f"unknown policy id(s): {', '.join(unknown)}; known: {known_ids}")
    overlap = sorted(set(test) & set(validation))
    if overlap:
        raise PrivacyClausesError(f"policy in both test and validation: {', '.join(overlap)}")
    groups: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for record in records:
        split = (
            "test"
            if record.policy_id in test
            else "validation"
            if record.policy_id in validation
            else "train"
        )
        groups[split].append(to_example(record))
    if not groups["train"]:
        raise PrivacyClausesError("no policy left for training")
    return DatasetDict({name: Dataset.from_list(rows) for name, rows in groups.items() if rows})


def lopo_fold(records: Sequence[ClauseRecord], fold: int) -> DatasetDict:
    """Fold ``fold`` of leave-one-policy-out: test is policy ``fold`` (sorted order),
    validation is the next policy, train is the rest."""
    ids = policy_ids(records)
    if len(ids) < 3:
        raise PrivacyClausesError(f"leave-one-policy-out needs at least 3 policies, found {len(ids)}")
    if not 0 <= fold < len(ids):
        raise PrivacyClausesError(f"fold must be in 0..{len(ids) - 1}, got {fold}")
    return split_by_policy(records, test=[ids[fold]], validation=[ids[(fold + 1) % len(ids)]])


def load_splits(
    path: str | Path,
    *,
    test: Sequence[str] = (),
    validation: Sequence[str] = (),
    fold: int | None = None,
) -> DatasetDict:
    """Read a clause file and split it by held-out policy ids or by a LOPO fold."""
    records = read_records(path)
    if fold is not None:
        return lopo_fold(records, fold)
    return split_by_policy(records, test=test, validation=validation)

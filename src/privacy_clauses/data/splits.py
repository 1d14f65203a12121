"""Policy-grouped splits as a ``datasets.DatasetDict``: a policy is never in two splits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def lopo_splits(ids: Sequence[str]) -> list[tuple[str, str]]:
    """(test, validation) per leave-one-policy-out fold, in sorted policy order: each policy is held
    out once, and validation is the next policy, so it always comes from the training side."""
    ids = sorted(ids)
    if len(ids) < 3:
        raise PrivacyClausesError(f"leave-one-policy-out needs at least 3 policies, found {len(ids)}")
    return [(policy, ids[(i + 1) % len(ids)]) for i, policy in enumerate(ids)]


def split_records(
    records: Sequence[ClauseRecord], test: Sequence[str], validation: Sequence[str] = ()
) -> tuple[list[ClauseRecord], list[ClauseRecord], list[ClauseRecord]]:
    """Train, validation and test records by policy id; a policy is never in two of them."""
    known = set(policy_ids(records))
    unknown = sorted((set(test) | set(validation)) - known)
    if unknown:
        known_ids = ", ".join(sorted(known))
        raise PrivacyClausesError(f"unknown policy id(s): {', '.join(unknown)}; known: {known_ids}")
    overlap = sorted(set(test) & set(validation))
    if overlap:
        raise PrivacyClausesError(f"policy in both test and validation: {', '.join(overlap)}")
    held_out = set(test) | set(validation)
    return (
        [r for r in records if r.policy_id not in held_out],
        [r for r in records if r.policy_id in validation],
        [r for r in records if r.policy_id in test],
    )


def split_by_policy(
    records: Sequence[ClauseRecord],
    test: Sequence[str],
    validation: Sequence[str] = (),
) -> DatasetDict:
    """Put the ``test`` and ``validation`` policies in their splits and the rest in train."""
    train, valid, held_out = split_records(records, test, validation)
    if not train:
        raise PrivacyClausesError("no policy left for training")
    groups = {"train": train, "validation": valid, "test": held_out}
    return DatasetDict(
        {name: Dataset.from_list([to_example(r) for r in rows]) for name, rows in groups.items() if rows}
    )


def lopo_fold(records: Sequence[ClauseRecord], fold: int) -> DatasetDict:
    """Fold ``fold`` of leave-one-policy-out (``lopo_splits``) as splits."""
    folds = lopo_splits(policy_ids(records))
    if not 0 <= fold < len(folds):
        raise PrivacyClausesError(f"fold must be in 0..{len(folds) - 1}, got {fold}")
    test, validation = folds[fold]
    return split_by_policy(records, test=[test], validation=[validation])


def inner_folds(train: Dataset, exclude: set[str] = frozenset()) -> Iterator[tuple[str, Dataset, Dataset]]:
    """Leave-one-policy-out inside a train split: per policy not in ``exclude`` (written text),
    ``(policy, the rest, that policy)``. Out-of-fold predictions for thresholds come from these."""
    for held in sorted(set(train["policy_id"]) - set(exclude)):
        yield (
            held,
            train.filter(lambda row, held=held: row["policy_id"] != held),
            train.filter(lambda row, held=held: row["policy_id"] == held),
        )


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

import pytest

from privacy_clauses.data import (
    ALL_LABELS,
    load_splits,
    lopo_fold,
    policy_ids,
    read_records,
    split_by_policy,
)

from .conftest import DATA

RECORDS = read_records(DATA / "clauses.jsonl")


def policies_by_split(splits) -> dict[str, set[str]]:
    return {name: set(split["policy_id"]) for name, split in splits.items()}


@pytest.mark.parametrize("fold", range(5))
def test_lopo_fold_never_puts_a_policy_in_two_splits(fold):
    splits = lopo_fold(RECORDS, fold)
    groups = policies_by_split(splits)
    assert groups["test"] == {policy_ids(RECORDS)[fold]}
    assert len(groups["validation"]) == 1
    assert not groups["train"] & groups["test"]
    assert not groups["train"] & groups["validation"]
    assert not groups["test"] & groups["validation"]
    assert sum(len(s) for s in splits.values()) == len(RECORDS)


def test_every_policy_is_tested_once_across_folds():
    tested = [next(iter(policies_by_split(lopo_fold(RECORDS, k))["test"])) for k in range(5)]
    assert sorted(tested) == policy_ids(RECORDS)


def test_held_out_policies_by_id():
    splits = load_splits(DATA / "clauses.jsonl", test=["gigster"], validation=["workhirespot"])
    assert policies_by_split(splits) == {
        "train": {"ecomgigs", "gigapros", "gigmasters"},
        "validation": {"workhirespot"},
        "test": {"gigster"},
    }


def test_labels_are_multi_hot_in_the_scheme_order():
    splits = split_by_policy(RECORDS, test=["gigster"])
    row = next(r for r in splits["test"] if r["id"] == "gigster:0003")
    record = next(r for r in RECORDS if r.id == "gigster:0003")
    on = {name for name, value in zip(ALL_LABELS, row["labels"], strict=True) if value == 1.0}
    expected = {f"category:{c}" for c in record.categories} | {f"basis:{b}" for b in record.legal_basis}
    assert on == expected
    assert len(row["labels"]) == len(ALL_LABELS) == 16
    assert row["basis_known"] is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test": ["nobody"]}, "unknown policy id(s): nobody"),
        ({"test": ["gigster"], "validation": ["gigster"]}, "both test and validation"),
        ({"test": policy_ids(RECORDS)}, "no policy left for training"),
    ],
)
def test_bad_split_requests_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        split_by_policy(RECORDS, **kwargs)


def test_fold_out_of_range():
    with pytest.raises(ValueError, match="fold must be in 0..4"):
        lopo_fold(RECORDS, 5)

import math

import pytest

from privacy_clauses.data import ClauseRecord
from privacy_clauses.data.agreement import agreement, agreement_table


def rec(i: int, categories, basis) -> ClauseRecord:
    return ClauseRecord(
        id=f"p:{i}", policy_id="p", text="t", start=0, end=1, context="",
        categories=categories, legal_basis=basis,
    )  # fmt: skip


def test_identical_passes_agree_perfectly():
    passes = [rec(0, ["other"], []), rec(1, ["data_security"], ["consent"])]
    result = agreement(passes, passes)
    assert result["tasks"]["categories"]["kappa"] == 1.0
    assert result["tasks"]["legal_basis"]["exact"] == 1.0
    assert math.isnan(result["tasks"]["legal_basis"]["labels"]["public_task"]["kappa"])


def test_kappa_matches_a_hand_computed_value():
    # 4 clauses; label data_security: pass 1 = 1,1,0,0; pass 2 = 1,0,0,0
    first = [
        rec(0, ["data_security"], []),
        rec(1, ["data_security"], []),
        rec(2, ["other"], []),
        rec(3, ["other"], []),
    ]
    second = [
        rec(0, ["data_security"], []),
        rec(1, ["other"], []),
        rec(2, ["other"], []),
        rec(3, ["other"], []),
    ]
    row = agreement(first, second)["tasks"]["categories"]["labels"]["data_security"]
    # po = 3/4; pe = (2/4)(1/4) + (2/4)(3/4) = 1/2; kappa = (0.75-0.5)/(1-0.5) = 0.5
    assert row["kappa"] == pytest.approx(0.5)
    assert (row["first"], row["second"], row["disagreements"]) == (2, 1, 1)
    assert "| data_security | 0.500 | 2 | 1 | 1 |" in agreement_table(first, second)


def test_passes_over_different_clauses_are_refused():
    with pytest.raises(ValueError, match="different clauses"):
        agreement([rec(0, ["other"], [])], [rec(1, ["other"], [])])

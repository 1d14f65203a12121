from privacy_clauses.cli import main
from privacy_clauses.data import read_records
from privacy_clauses.data.duplicates import near_duplicates
from privacy_clauses.data.records import ClauseRecord

from .conftest import DATA


def clause(i: int, text: str) -> ClauseRecord:
    return ClauseRecord(id=f"w:{i}", policy_id="w", text=text, start=0, end=1, context="",
                        categories=["other"], legal_basis=[])  # fmt: skip


def test_identical_and_near_identical_clauses_are_found_and_distinct_ones_are_not():
    records = [
        clause(0, "We keep invoices for seven years because tax law requires it."),
        clause(1, "We keep invoices for seven years because tax law requires it!"),
        clause(2, "Our app never shares your location with advertisers."),
    ]
    pairs = near_duplicates(records)
    assert [(p.first, p.second) for p in pairs] == [("w:0", "w:1")]
    assert pairs[0].similarity >= 0.9
    against = near_duplicates(
        [records[2]], [clause(9, "Our app never shares your location with advertisers.")]
    )
    assert [(p.first, p.second) for p in against] == [("w:2", "w:9")]


def test_supplementary_set_has_no_near_duplicates_within_or_with_the_seed_clauses():
    """Issue 6: TF-IDF cosine >= 0.9 between two written clauses, or to a seed clause, is a defect."""
    written = read_records(DATA / "supplementary.jsonl")
    assert len(written) >= 8000 and len({r.policy_id for r in written}) >= 120  # issue 14, round 2
    assert near_duplicates(written, read_records(DATA / "clauses.jsonl")) == []


def test_cli_duplicates_exit_status(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "duplicates",
                str(DATA / "supplementary.jsonl"),
                "--against",
                str(DATA / "clauses.jsonl"),
            ]
        )
        == 0
    )
    assert "0 near-duplicate pair(s)" in capsys.readouterr().out

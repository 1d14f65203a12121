"""The OPP-115 importer, on a tiny fictional corpus in the OPP-115 format (tests/fixtures/opp115).

Annotators 10, 11, 12 label policy 101 and 20, 21, 22 policy 202. The fixture holds one span in
raw-HTML offsets (1003), one relocatable mismatch (1010), one undroppable mismatch whose annotation
then counts segment-wide (2003), one annotation without a span (1008), spans that spill 1 and 7
characters into the next sentence (1006, 1007), a span shorter than 10 characters (2007), and an
errant span (1015 "Retention Period"). Policy 303 has no annotation file.
"""

import json
import shutil
from pathlib import Path

import pytest

from privacy_clauses.data import read_records, validate_file
from privacy_clauses.data.opp115 import OPP115Error, import_opp115
from privacy_clauses.data.splits import to_example

FIXTURE = Path(__file__).parent / "fixtures" / "opp115"
ACME = "101_acme-widgets.example"
GAMES = "202_example-games.example"

# Hand-computed from the fixture: a category needs spans of two different annotators that
# overlap the clause by >= min(10, clause length, span length) characters.
CLAUSE_LABELS = {
    (ACME, "Acme Widgets Privacy Policy"): ["other"],  # Other by 10 and 11
    (ACME, "Information We Collect"): ["other"],  # no span reaches the heading
    (ACME, "We collect your name and email address when you register."): ["first_party_collection_use"],
    # 12's span is in raw-HTML offsets; 10's crosses the &amp; entity
    (ACME, "We use cookies to remember your preferences & settings."): ["first_party_collection_use"],
    # 10 and 11 by span, 12 without a span (segment-wide)
    (ACME, "We share your email address with our payment processor."): ["third_party_sharing_collection"],
    # sharing: spills of 1 and 7 characters do not count, only 12 (segment-wide) -> not enough;
    # choice: 10, and 12 whose mismatching span was relocated
    (ACME, "You may opt out of marketing emails at any time."): ["user_choice_control"],
    (ACME, "Security"): ["other"],
    # retention here only by 10: 11's span on it is errant and ignored
    (ACME, "We protect your data with encryption."): ["data_security"],
    (ACME, "Access is limited to staff who need it."): ["data_security"],  # 12 and 11
    (ACME, "We keep logs for 30 days."): ["data_retention"],  # 11 and 12
    (GAMES, "Changes to This Policy"): ["other"],  # only 22 (dropped span, counted segment-wide)
    (GAMES, "We may update this policy from time to time."): ["policy_change"],  # 20 and 22
    (GAMES, "We will post the new policy on this page."): ["policy_change"],  # 21 and 22
    (GAMES, "We do not respond to Do Not Track signals."): ["do_not_track"],  # 20 and 21
    # audiences: 22, and 20's 8-character span "under 13"; 21's spill "Our" and lone Other do not count
    (GAMES, "Our service is not directed to children under 13."): ["international_specific_audiences"],
}

# Majority of the policy's three annotators (at least two) per segment.
SEGMENT_LABELS = {
    (ACME, 0): ["other"],
    (ACME, 1): ["first_party_collection_use"],
    (ACME, 2): ["third_party_sharing_collection", "user_choice_control"],
    (ACME, 3): ["data_retention", "data_security"],
    (GAMES, 0): ["policy_change"],
    (GAMES, 1): ["do_not_track", "international_specific_audiences"],  # Other by 21 alone
}


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A writable copy of the fixture corpus."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "OPP-115"))


def run(tmp_path: Path, level: str = "clause", corpus: Path = FIXTURE):
    output = tmp_path / "out" / f"opp115-{level}.jsonl"
    return import_opp115(corpus, output, level=level), output


def test_clause_labels_follow_the_two_annotator_overlap_rule(tmp_path):
    _, output = run(tmp_path)
    records = read_records(output)
    assert {(r.policy_id, r.text): r.categories for r in records} == CLAUSE_LABELS
    assert len(records) == len(CLAUSE_LABELS)


def test_records_carry_ids_context_source_and_an_unknown_basis(tmp_path):
    _, output = run(tmp_path)
    records = read_records(output)
    assert [r.id for r in records if r.policy_id == GAMES] == [f"{GAMES}:{n:04d}" for n in range(5)]
    by_text = {r.text: r for r in records}
    assert by_text["We collect your name and email address when you register."].context == (
        "Information We Collect"
    )
    assert by_text["We keep logs for 30 days."].context == "Security"  # a <li> item under the heading
    raw = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert all(row["legal_basis"] is None and row["source"] == "opp115" for row in raw)
    example = to_example(records[0])
    assert example["basis_known"] is False
    assert not any(example["labels"][10:]), "no basis label where the basis is unknown"


def test_segment_level_uses_the_majority_of_the_policys_annotators(tmp_path):
    report, output = run(tmp_path, level="segment")
    records = read_records(output)
    assert {(r.policy_id, int(r.id.rsplit(":", 1)[1])): r.categories for r in records} == SEGMENT_LABELS
    assert records[1].text.startswith("Information We Collect We collect your name")
    assert report.records == 6 and report.level == "segment"


def test_span_verification_figures(tmp_path):
    report, _ = run(tmp_path)
    assert report.annotations == 26
    assert report.spans == 26  # spans with offsets and selectedText, the errant one not counted
    assert report.matched == 24  # 23 in tag-free offsets, 1 in raw-HTML offsets
    assert report.matched_markup == 1
    assert report.relocated == 1
    assert report.dropped == 1
    assert report.errant == 1
    assert report.segment_wide == 2  # 1008 has no span; 2003's only span was dropped
    assert report.match_rate == pytest.approx(24 / 26)
    assert "24 match their offsets (92.3%" in str(report)


def test_errant_span_is_ignored(tmp_path, corpus):
    _, output = run(tmp_path, corpus=corpus)
    labels = {r.text: r.categories for r in read_records(output)}
    assert labels["We protect your data with encryption."] == ["data_security"]

    shutil.rmtree(corpus / "documentation")  # the folder may be absent: then the span counts
    report, output = run(tmp_path / "without", corpus=corpus)
    labels = {r.text: r.categories for r in read_records(output)}
    assert labels["We protect your data with encryption."] == ["data_retention", "data_security"]
    assert report.errant == 0 and report.spans == 27


@pytest.mark.parametrize("level", ["clause", "segment"])
def test_output_validates_and_offsets_point_into_the_policy_texts(tmp_path, level):
    _, output = run(tmp_path, level=level)
    assert validate_file(output) == []
    policies = output.parent / "policies"
    assert sorted(p.name for p in policies.iterdir()) == [f"{ACME}.txt", f"{GAMES}.txt"]
    for record in read_records(output):
        source = (policies / f"{record.policy_id}.txt").read_text(encoding="utf-8")
        assert " ".join(source[record.start : record.end].split()) == record.text
    assert not list(output.parent.glob(".*.tmp")), "no temporary file left behind"


def test_policy_without_annotations_is_skipped_with_a_warning(tmp_path):
    report, _ = run(tmp_path)
    assert report.policies == 2
    assert any("303_no-notes.example.html" in w and "skipped" in w for w in report.warnings)
    assert "warning: 303_no-notes.example.html" in str(report)


def append_row(corpus: Path, row: str) -> tuple[Path, int]:
    path = corpus / "annotations" / f"{GAMES}.csv"
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(row + "\r\n")
    return path, len(path.read_text(encoding="utf-8").splitlines())


def test_malformed_csv_row_is_a_one_line_error(tmp_path, corpus):
    path, line = append_row(corpus, "2009,test_batch,20,202")
    with pytest.raises(OPP115Error) as caught:
        run(tmp_path, corpus=corpus)
    assert str(caught.value) == f"{path}:{line}: expected 9 columns, found 4"
    assert isinstance(caught.value, ValueError)


def test_invalid_json_is_a_one_line_error(tmp_path, corpus):
    path, line = append_row(corpus, '2009,test_batch,20,202,1,Other,"{not json",http://x.example,1/2/15')
    with pytest.raises(OPP115Error, match="invalid JSON in column 7") as caught:
        run(tmp_path, corpus=corpus)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(caught.value)


def test_missing_folder_is_a_one_line_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(OPP115Error) as caught:
        run(tmp_path, corpus=missing)
    assert str(caught.value) == f"{missing}: no such folder"
    assert not (tmp_path / "out").exists(), "nothing written on error"


def test_unknown_level_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown level 'paragraph'"):
        run(tmp_path, level="paragraph")

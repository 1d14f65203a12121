import json

import pytest

from privacy_clauses.cli import main
from privacy_clauses.data import validate_file

from .conftest import DATA

SOURCE = "# Policy\n\nWe collect your email. We never sell it.\n"


def good(**changes) -> dict:
    record = {
        "id": "acme:0002", "policy_id": "acme", "text": "We collect your email.",
        "start": 10, "end": 32, "context": "Policy",
        "categories": ["first_party_collection_use"], "legal_basis": [],
    }  # fmt: skip
    record.update(changes)
    return record


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "acme.md").write_text(SOURCE, encoding="utf-8")

    def write(*lines) -> str:
        path = tmp_path / "clauses.jsonl"
        text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
        path.write_text(text + "\n", encoding="utf-8")
        return str(path)

    return write


def test_bundled_dataset_is_valid():
    assert validate_file(DATA / "clauses.jsonl") == []


def test_good_file_is_valid(corpus):
    assert validate_file(corpus(good())) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "invalid JSON"),
        (json.dumps({k: v for k, v in good().items() if k != "text"}), "schema: text"),
        (json.dumps(good(start="10")), "schema: start"),
        (json.dumps(good(categories=["first_party"])), "unknown label(s): first_party"),
        (json.dumps(good(legal_basis=["gdpr"])), "unknown label(s): gdpr"),
        (json.dumps(good(categories=[])), "empty categories"),
        (
            json.dumps(good(categories=["other", "data_security"])),
            "'other' beside another category",
        ),
        (json.dumps(good(start=11)), "offsets 11:32 do not match"),
        (json.dumps(good(end=999)), "offsets 10:999 do not match"),
        (json.dumps(good(policy_id="nobody")), "policy 'nobody' has no source file"),
    ],
)
def test_each_problem_is_reported_with_file_line_and_id(corpus, line, expected):
    path = corpus(json.dumps(good(id="acme:0001")), line)
    problems = validate_file(path)
    assert any(expected in p.message for p in problems), [str(p) for p in problems]
    problem = next(p for p in problems if expected in p.message)
    assert problem.line == 2
    assert str(problem).startswith(f"{path}:2: ")


def test_duplicate_id_names_the_first_line(corpus):
    problems = validate_file(corpus(good(), good()))
    assert [str(p).split(": ", 1)[1] for p in problems] == ["acme:0002: duplicate id (first on line 1)"]


def test_policy_without_clauses_is_reported(corpus, tmp_path):
    (tmp_path / "policies" / "lonely.txt").write_text("Nothing labeled here.", encoding="utf-8")
    problems = validate_file(corpus(good()))
    assert [p.message for p in problems] == ["policy 'lonely' (lonely.txt) has no clauses"]


def test_written_records_are_checked_against_the_written_folder(corpus, tmp_path):
    (tmp_path / "written").mkdir()
    (tmp_path / "written" / "w-shop.md").write_text(SOURCE, encoding="utf-8")
    written = good(id="w-shop:0002", policy_id="w-shop", source="written")
    assert validate_file(corpus(written)) == []  # only written records: seed policies need none
    problems = validate_file(corpus(written | {"start": 0, "end": 3}))
    assert [p.message for p in problems] == ["offsets 0:3 do not match the text in w-shop.md"]
    problems = validate_file(corpus(written | {"policy_id": "w-gone"}))
    assert [p.message for p in problems] == ["written document 'w-gone' has no source file"]


def test_unknown_basis_is_none_for_corpora_without_it(corpus):
    assert validate_file(corpus(good(legal_basis=None))) == []


def test_cli_validate_exit_status_and_output(corpus, capsys):
    assert main(["data", "validate", corpus(good())]) == 0
    assert "OK (1 clauses)" in capsys.readouterr().out
    bad = corpus(good(categories=[]))
    assert main(["data", "validate", bad]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{bad}:1: acme:0002: empty categories: every clause needs at least one category"]


def test_cli_validate_missing_file(tmp_path, capsys):
    assert main(["data", "validate", str(tmp_path / "nope.jsonl")]) == 1
    assert "file not found" in capsys.readouterr().out


def test_cli_stats_on_a_broken_file_is_one_line_and_exit_2(corpus, capsys):
    assert main(["data", "stats", corpus("{broken")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and ":1: invalid JSON" in err[0]


def test_cli_stats_counts_labels_per_policy(capsys):
    assert main(["data", "stats", str(DATA / "clauses.jsonl")]) == 0
    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()}
    assert rows["clauses"].endswith("| 591 |")
    assert rows["public_task"].endswith("| 0 |")

"""The HTML reader: main content of saved pages (chrome dropped), offsets into the page, one path."""

import json
from pathlib import Path

import pytest

from privacy_clauses.data import html, validate_file
from privacy_clauses.data.policies import clause_records
from privacy_clauses.data.segment import segment
from privacy_clauses.data.sources import read_policy

PAGES = sorted((Path(__file__).parent / "fixtures" / "pages").rglob("*.html"))
START, END = "<!-- policy:start -->", "<!-- policy:end -->"


def split(path: Path):
    """Whole-page clauses inside the policy markers (body) and outside them (chrome)."""
    text = read_policy(path).text
    low, high = text.index(START), text.index(END)
    whole = segment(text, "html", whole_page=True)
    body = {(c.start, c.end) for c in whole if low <= c.start < high}
    chrome = {(c.start, c.end): c.text for c in whole if not low <= c.start < high}
    return text, body, chrome


def test_there_are_at_least_ten_pages_with_chrome():
    assert len(PAGES) >= 10
    assert all(len(split(path)[2]) >= 8 for path in PAGES)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_main_content_drops_every_chrome_line(path):
    text, _, chrome = split(path)
    kept = [chrome[(c.start, c.end)] for c in segment(text, "html") if (c.start, c.end) in chrome]
    assert kept == []


def test_main_content_keeps_the_policy_body():
    body_total = body_kept = 0
    for path in PAGES:
        text, body, _ = split(path)
        kept = {(c.start, c.end) for c in segment(text, "html")}
        body_total += len(body)
        body_kept += len(body & kept)
    assert body_kept / body_total >= 0.99, (body_kept, body_total)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_offsets_index_the_page_itself(path):
    text = read_policy(path).text
    for clause in segment(text, "html"):
        shown = html.visible_text(text[clause.start : clause.end])
        assert "".join(shown.split()) == "".join(clause.text.split())


def test_headings_and_lists_keep_the_context_chain_and_the_footer_is_gone():
    text = read_policy(PAGES[0]).text  # acme-shop
    clauses = {c.text: c.context for c in segment(text, "html")}
    rights = "You may also ask us to correct or delete it by writing to privacy@acme-outdoor.example."
    assert clauses[rights] == "Privacy Policy > Your rights"
    assert clauses["the search terms you enter in our shop."] == (
        "Privacy Policy > Information We Collect > When you browse our site, we collect:"
    )
    chrome = {"Home", "Shop", "My account", "All rights reserved.", "Accept all Reject all Cookie settings"}
    assert not chrome & set(clauses)


def test_whole_page_keeps_the_old_behaviour():
    text = read_policy(PAGES[0]).text
    texts = [c.text for c in segment(text, "html", whole_page=True)]
    assert {"Home", "Shop", "My account", "All rights reserved."} <= set(texts)
    assert texts.index("Home") < texts.index("Privacy Policy") < texts.index("All rights reserved.")


def test_a_fragment_without_main_content_is_kept_whole():
    assert [c.text for c in segment("<p>We sell nothing.</p>", "html")] == ["We sell nothing."]


def test_validate_checks_offsets_of_extracted_html(tmp_path):
    (tmp_path / "policies").mkdir()
    page = tmp_path / "policies" / "maison.html"
    page.write_bytes(next(p for p in PAGES if p.stem == "maison-lefevre").read_bytes())  # windows-1252
    records = [r | {"categories": ["other"], "legal_basis": []} for r in clause_records(page, "maison")]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (tmp_path / "clauses.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert validate_file(tmp_path / "clauses.jsonl") == []
    records[3]["start"] += 5
    lines[3] = json.dumps(records[3], ensure_ascii=False)
    (tmp_path / "clauses.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = validate_file(tmp_path / "clauses.jsonl")
    assert len(problems) == 1 and "do not match the text in maison.html" in problems[0].message


def test_tokens_cover_the_source_and_map_entities():
    source = "<p class='x'>Caf&eacute; &amp; bar<br/>next</p><!-- note -->"
    tokens = html.tokens(source)
    assert tokens[0].start == 0 and tokens[-1].end == len(source)
    assert all(a.end == b.start for a, b in zip(tokens, tokens[1:], strict=False))
    assert html.visible_text(source) == "Café & barnext"
    entity = next(t for t in tokens if t.value == "é")
    assert source[entity.start : entity.end] == "&eacute;"


def test_data_segment_cli_extracts_unless_whole_page(tmp_path):
    from privacy_clauses.cli import main

    page = PAGES[0]
    for flag, wanted in (([], 21), (["--whole-page"], 48)):
        out = tmp_path / f"clauses{len(flag)}.jsonl"
        assert main(["data", "segment", str(page), "-o", str(out), *flag]) == 0
        lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert len(lines) == wanted and lines[0]["policy_id"] == "acme-shop"


def test_data_segment_cli_names_an_unwritable_output_in_one_line(tmp_path, capsys):
    from privacy_clauses.cli import main

    assert main(["data", "segment", str(PAGES[0]), "-o", str(tmp_path / "missing" / "out.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "cannot write" in err[0]

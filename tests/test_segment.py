import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_clauses.data.segment import format_of, segment, segment_file

from .conftest import POLICIES

SEEDS = sorted(POLICIES.iterdir())
ARCHIVE_NOTICE = re.compile(r"\A> \*The following text is extracted.*?\n\n", re.S)


def assert_offsets_valid(source: str, clauses) -> None:
    for clause in clauses:
        assert 0 <= clause.start < clause.end <= len(source)
        assert " ".join(source[clause.start : clause.end].split()) == clause.text


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_offsets_round_trip_on_every_seed_clause(path):
    source = path.read_text(encoding="utf-8")
    clauses = segment_file(path)
    assert len(clauses) > 30
    assert_offsets_valid(source, clauses)
    starts = [c.start for c in clauses]
    assert starts == sorted(starts), "clauses come in document order"
    assert all(a.end <= b.start for a, b in zip(clauses, clauses[1:], strict=False)), "no overlap"


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_no_word_of_the_policy_body_is_lost(path):
    source = path.read_text(encoding="utf-8")
    notice = ARCHIVE_NOTICE.match(source)
    body_start = notice.end() if notice else 0
    covered = bytearray(len(source))
    for clause in segment_file(path):
        covered[clause.start : clause.end] = b"\x01" * (clause.end - clause.start)
    lost = [
        m.group()
        for m in re.finditer(r"[^\W\d_]{2,}", source[body_start:])
        if not covered[body_start + m.start()]
    ]
    assert lost == []


def test_archive_notice_is_not_a_clause():
    clauses = segment_file(POLICIES / "gigapros.md")
    assert not any("Wayback Machine" in c.text for c in clauses)
    assert clauses[0].text == "Privacy Policy | GigaPros.com"


def test_markdown_headings_and_bullets_give_context():
    clauses = segment_file(POLICIES / "gigapros.md")
    bullet = next(c for c in clauses if c.text == "detect and prevent fraudulent activities;")
    assert bullet.context.startswith("Privacy Policy | GigaPros.com > Purposes of Data Processing")
    assert bullet.context.endswith("necessary for the purposes of our legitimate interests, such as to:")
    consent = next(c for c in clauses if c.text.startswith("**Consent** – we rely"))
    assert "legitimate interests" not in consent.context, "a list lead-in ends with its list"


def test_plain_text_headings_on_their_own_line():
    clauses = segment_file(POLICIES / "gigmasters.md")
    texts = [c.text for c in clauses]
    assert "Log Files" in texts
    first = next(c for c in clauses if c.text.startswith("Like most standard Web site servers"))
    assert first.context == "GigMasters Privacy Policy > Log Files"
    # an address with hard line breaks is not a run of headings
    address = next(c for c in clauses if c.text == "33 South Main Street")
    assert address.context.endswith("Contacting the Web Site")


def test_short_lines_after_a_leadin_are_list_items_not_headings():
    clauses = segment_file(POLICIES / "ecomgigs.txt")
    item = next(c for c in clauses if c.text == "Ad networks")
    assert item.context.endswith("These partners include:")


def test_emails_urls_and_abbreviations_do_not_split():
    text = (
        "Contact us at support@gigapros.com or visit www.example.com/privacy.html today. "
        "We use cookies, e.g. session cookies, i.e. small files. "
        "Google, Inc. (“Google”) provides analytics. See https://stripe.com/privacy for more."
    )
    assert [c.text for c in segment(text, "text")] == [
        "Contact us at support@gigapros.com or visit www.example.com/privacy.html today.",
        "We use cookies, e.g. session cookies, i.e. small files.",
        "Google, Inc. (“Google”) provides analytics.",
        "See https://stripe.com/privacy for more.",
    ]


def test_in_short_summary_is_a_sentence_not_a_heading():
    source = "Sharing\n\nIn short: we share little.\n\nWe share data with processors.\n"
    clauses = segment(source, "text")
    assert [c.text for c in clauses] == [
        "Sharing",
        "In short: we share little.",
        "We share data with processors.",
    ]
    assert clauses[1].context == clauses[2].context == "Sharing"


def test_html_structure_and_offsets():
    source = (
        "<html><head><title>x</title><style>p{}</style></head><body>"
        "<h1>Privacy</h1><h2>Cookies</h2><p>We use <b>cookies</b> &amp; logs. They help.</p>"
        "<p>We share data with:</p><ul><li>payment processors</li><li>advertisers</li></ul>"
        "</body></html>"
    )
    clauses = segment(source, "html")
    assert [c.text for c in clauses] == [
        "Privacy", "Cookies", "We use cookies & logs.", "They help.", "We share data with:",
        "payment processors", "advertisers",
    ]  # fmt: skip
    assert clauses[2].context == "Privacy > Cookies"
    assert clauses[5].context == "Privacy > Cookies > We share data with:"
    assert source[clauses[5].start : clauses[5].end] == "payment processors"
    assert source[clauses[2].start : clauses[2].end] == "We use <b>cookies</b> &amp; logs."


def test_format_of_picks_html_by_extension():
    assert format_of("a/b.HTML") == "html"
    assert format_of("a/b.htm") == "html"
    assert format_of("a/b.md") == format_of("a/b.txt") == "markdown"


@pytest.mark.parametrize(
    "source",
    [
        "",
        "   \n\n\t",
        "no punctuation at all just words " * 50,
        "x" * 100_000,
        ("word " * 20_000).strip(),
        "ctrl\x00chars\x07here\x1b[31m. And\r\nwindows\rlines.",
        "# \n## \n- \n* \n1.\n> \n",
        "<<<>>> &&& ;;; ::: ...",
    ],
)
@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_hostile_input_never_crashes(source, fmt):
    clauses = segment(source, fmt)
    if fmt == "markdown":
        assert_offsets_valid(source, clauses)


def test_segmentation_is_deterministic():
    path = POLICIES / "ecomgigs.txt"
    assert segment_file(path) == segment_file(path)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_random_text_gives_valid_offsets(source):
    assert_offsets_valid(source, segment(source, "markdown"))
    for clause in segment(source, "html"):
        assert 0 <= clause.start < clause.end <= len(source)


def test_segmenter_still_reproduces_the_labeled_dataset():
    """The dataset's clauses are the segmenter's output; a change that moves them needs relabeling."""
    from privacy_clauses.data import read_records
    from privacy_clauses.data.policies import clause_records

    labeled = [
        r.model_dump(include={"id", "text", "start", "end", "context"})
        for r in read_records(POLICIES.parent / "clauses.jsonl")
    ]
    fresh = [{k: v for k, v in r.items() if k != "policy_id"} for path in SEEDS for r in clause_records(path)]
    assert sorted(fresh, key=lambda r: r["id"]) == sorted(labeled, key=lambda r: r["id"])

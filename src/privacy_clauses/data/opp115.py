"""Import the OPP-115 corpus (Wilson et al., ACL 2016) as clause records.

The corpus is not bundled (research licence); ``import_opp115`` reads the folder a user
downloaded: ``sanitized_policies/<id>_<domain>.html`` (segments separated by ``|||``, numbered
from 0), ``annotations/<id>_<domain>.csv`` (Excel CSV, no header: annotation id, batch,
annotator, policy id, segment id, category, attribute JSON, URL, date) and, if present,
``documentation/errant_span_indexes/*.csv`` ((annotation id, attribute) pairs whose offsets are
wrong; an attribute written ``<n>_<attribute>`` is read as ``<attribute>``).

Text. A segment's text is its HTML with tags removed and entities unescaped: what the annotators
saw. In the policy file we write (``policies/<policy_id>.txt``, segments joined by a blank line),
tags that break a line in a browser (``<br>``, ``<p>``, lists, ...) become line breaks and ``<li>``
a "- " item, so that the segmenter finds headings, list items and their lead-ins; annotation
offsets are mapped through these insertions.

Spans. An attribute has a span when ``0 <= start < end`` and it has a ``selectedText``. A span
*matches* when its ``selectedText`` equals the segment text at its offsets, whitespace ignored
(the tag-free text has no space where the browser showed a line break). Offsets that count the
HTML markup also match and are counted apart (``matched_markup``), so the report shows which
indexing the corpus uses. A span that matches neither way is *relocated* when its text occurs
exactly once in the segment, else *dropped*: guessing between two places would label the wrong
clause. Spans listed as errant are ignored.

Clause labels. A clause takes a category when at least two different annotators marked it with
a span that overlaps the clause by at least min(10 characters, clause length, span length).
Ten characters keep a span that runs over a sentence end into the next word or two ("... data.
You may") from labelling the next sentence, while a short span ("under 13") still labels the
clause that holds it and a short heading still takes a label from a span that covers it. An
annotation with no usable span (none given, or all errant or dropped) counts for every clause of
its segment: the annotator judged that the segment states the practice, and we cannot tell where.
A clause with no category gets ``other``; ``other`` beside another category is dropped.

Segment labels (``level="segment"``): a category counts when more than half of the policy's
distinct annotators marked it on the segment.

The corpus does not annotate legal bases: every record has ``"legal_basis": null`` (unknown, not
"none") and ``"source": "opp115"``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import html as html_reader
from .labels import CATEGORIES, OTHER
from .policies import policy_files
from .records import ClauseFileError, Problem, write_records
from .segment import Clause, segment

SOURCE = "opp115"
LEVELS = ("clause", "segment")
MIN_OVERLAP = 10
MIN_CLAUSE_ANNOTATORS = 2
SEGMENT_SEPARATOR = "|||"
POLICY_JOINER = "\n\n"

OPP115_NAMES: dict[str, str] = {
    "First Party Collection/Use": "first_party_collection_use",
    "Third Party Sharing/Collection": "third_party_sharing_collection",
    "User Choice/Control": "user_choice_control",
    "User Access, Edit and Deletion": "user_access_edit_deletion",
    "Data Retention": "data_retention",
    "Data Security": "data_security",
    "Policy Change": "policy_change",
    "Do Not Track": "do_not_track",
    "International and Specific Audiences": "international_specific_audiences",
    "Other": "other",
}

_BLOCK_TAGS = {
    "address", "article", "blockquote", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4",
    "h5", "h6", "header", "hr", "ol", "p", "section", "table", "tr", "ul",
}  # fmt: skip
_WORD = re.compile(r"\w")
_ERRANT_PREFIX = re.compile(r"^\d+_")


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower().replace("&", "and"))


_CATEGORY_OF = {_name_key(name): category for name, category in OPP115_NAMES.items()}


class OPP115Error(ClauseFileError):
    """A corpus file that cannot be read; the one-line message names the file and line."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        super().__init__([Problem(str(path), line, "", message)])


@dataclass
class ImportReport:
    """What ``import_opp115`` wrote, and how the corpus's spans held up against its text."""

    output: Path
    level: str
    policies: int = 0
    segments: int = 0
    records: int = 0
    annotations: int = 0
    segment_wide: int = 0  # annotations without a usable span, counted for their whole segment
    spans: int = 0  # spans checked (errant ones not included)
    matched: int = 0  # selectedText equals the text at the offsets
    matched_markup: int = 0  # of ``matched``: only when the offsets count the HTML markup
    relocated: int = 0  # found again by a unique search within the segment
    dropped: int = 0  # not found, or found more than once
    errant: int = 0  # listed in documentation/errant_span_indexes/, ignored
    categories: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    @property
    def match_rate(self) -> float:
        """Share of checked spans whose selectedText matches their offsets (0.0 when none)."""
        return self.matched / self.spans if self.spans else 0.0

    def lines(self) -> list[str]:
        """The report as lines to print; warnings last, each starting ``warning:``."""
        unit = "clause" if self.level == "clause" else "segment"
        found = [
            f"{self.output}: {self.records} {unit} records from {self.policies} policies "
            f"({self.segments} segments); policy texts in {self.output.parent / 'policies'}",
            f"annotations: {self.annotations}, of which {self.segment_wide} without a usable span "
            "(counted for their whole segment)",
            f"spans: {self.spans} checked, {self.matched} match their offsets ({self.match_rate:.1%}; "
            f"{self.matched_markup} counting HTML markup), {self.relocated} relocated, "
            f"{self.dropped} dropped; {self.errant} errant span(s) ignored",
            "categories: " + ", ".join(f"{c} {self.categories[c]}" for c in CATEGORIES if self.categories[c]),
        ]
        return found + [f"warning: {warning}" for warning in self.warnings]

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class _Segment:
    """One segment: ``view`` is the tag-free text the annotators saw, ``plain`` what we write;
    ``view_map``/``raw_map`` take a view or raw-HTML index to a ``plain`` index (one past the end too)."""

    raw: str
    view: str
    plain: str
    view_map: list[int]
    raw_map: list[int]


@dataclass
class _Annotation:
    annotator: str
    segment: int
    category: str
    spans: list[tuple[int, int]] | None  # in ``plain`` coordinates; None: the whole segment


def import_opp115(corpus_dir: str | Path, output: str | Path, level: str = "clause") -> ImportReport:
    """Convert an OPP-115 folder into a clause file ``output`` plus ``policies/`` beside it.

    Records are one per clause (``level="clause"``) or per segment (``"segment"``), labelled as
    the module docstring says, so that training and evaluation run on the corpus unchanged.
    Raises ``OPP115Error`` (a ``ValueError``) with a one-line message for unreadable input.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected clause or segment")
    root = _corpus_root(Path(corpus_dir))
    output = Path(output)
    report = ImportReport(output=output, level=level)
    errant = _read_errant(root / "documentation" / "errant_span_indexes")
    html_files = sorted(
        path
        for path in (root / "sanitized_policies").iterdir()
        if path.is_file() and path.suffix.lower() in (".html", ".htm")
    )
    if not html_files:
        raise OPP115Error(root / "sanitized_policies", 0, "no .html policies")
    texts: dict[str, str] = {}
    records: list[dict] = []
    for path in html_files:
        policy_id = path.stem
        csv_path = root / "annotations" / f"{policy_id}.csv"
        if not csv_path.is_file():
            report.warnings.append(f"{path.name}: no annotations/{csv_path.name}; policy skipped")
            continue
        segments = [_render(raw) for raw in _read_html(path).split(SEGMENT_SEPARATOR)]
        annotations = _read_annotations(csv_path, segments, errant, report)
        if not annotations:
            report.warnings.append(f"{csv_path.name}: no annotations; policy skipped")
            continue
        text = POLICY_JOINER.join(s.plain for s in segments)
        starts = _segment_starts(segments)
        make = _clause_records if level == "clause" else _segment_records
        found = make(policy_id, text, starts, annotations)
        if not found:
            report.warnings.append(f"{path.name}: no text; policy skipped")
            continue
        texts[policy_id] = text
        records += found
        report.policies += 1
        report.segments += len(segments)
    stems = {path.stem for path in html_files}
    for path in sorted((root / "annotations").glob("*.csv")):
        if path.stem not in stems:
            report.warnings.append(f"annotations/{path.name}: no sanitized policy; ignored")
    if not records:
        raise OPP115Error(root, 0, "no annotated policy to import")
    others = sorted(set(policy_files(output.parent / "policies")) - set(texts))
    if others:
        report.warnings.append(
            f"{output.parent / 'policies'} also holds {len(others)} other policy file(s) "
            f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); "
            "'data validate' will report them as having no clauses"
        )
    _write(output, texts, records)
    report.records = len(records)
    report.categories = Counter(c for record in records for c in record["categories"])
    return report


# --- reading ------------------------------------------------------------------------


def _corpus_root(folder: Path) -> Path:
    for root in (folder, folder / "OPP-115"):
        if (root / "sanitized_policies").is_dir() and (root / "annotations").is_dir():
            return root
    if not folder.is_dir():
        raise OPP115Error(folder, 0, "no such folder")
    raise OPP115Error(folder, 0, "not an OPP-115 folder: expected sanitized_policies/ and annotations/")


def _read_html(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")  # bytes: keep line ends as the offsets saw them
    except UnicodeDecodeError as error:
        raise OPP115Error(path, 0, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise OPP115Error(path, 0, f"cannot read: {error.strerror}") from error


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first line, row)`` for each non-blank row of an Excel-dialect CSV file."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, dialect="excel")
            line = 1
            try:
                for row in reader:
                    if any(cell.strip() for cell in row):
                        yield line, row
                    line = reader.line_num + 1
            except csv.Error as error:
                raise OPP115Error(path, reader.line_num, f"malformed CSV: {error}") from error
    except UnicodeDecodeError as error:
        raise OPP115Error(path, 0, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise OPP115Error(path, 0, f"cannot read: {error.strerror}") from error


def _read_errant(folder: Path) -> set[tuple[str, str]]:
    """The (annotation id, attribute) pairs whose span offsets the corpus documents as wrong."""
    pairs: set[tuple[str, str]] = set()
    if folder.is_dir():
        for path in sorted(folder.glob("*.csv")):
            for _, row in _csv_rows(path):
                if len(row) >= 2:
                    pairs.add((row[0].strip(), _ERRANT_PREFIX.sub("", row[1].strip())))
    return pairs


def _read_annotations(
    path: Path, segments: list[_Segment], errant: set[tuple[str, str]], report: ImportReport
) -> list[_Annotation]:
    annotations = [_parse_row(path, line, row, segments, errant, report) for line, row in _csv_rows(path)]
    report.annotations += len(annotations)
    report.segment_wide += sum(1 for a in annotations if a.spans is None)
    return annotations


def _parse_row(
    path: Path,
    line: int,
    row: list[str],
    segments: list[_Segment],
    errant: set[tuple[str, str]],
    report: ImportReport,
) -> _Annotation:
    def fail(message: str) -> OPP115Error:
        return OPP115Error(path, line, message)

    if len(row) < 7:
        raise fail(f"expected 9 columns, found {len(row)}")
    annotation_id, annotator, number_text, name = row[0].strip(), row[2].strip(), row[4].strip(), row[5]
    try:
        number = int(number_text)
    except ValueError:
        raise fail(f"segment id {number_text!r} is not a number") from None
    if not 0 <= number < len(segments):
        raise fail(f"segment {number} out of range: the policy has {len(segments)} segments")
    category = _CATEGORY_OF.get(_name_key(name))
    if category is None:
        raise fail(f"unknown category {name.strip()!r}")
    try:
        attributes = json.loads(row[6])
    except json.JSONDecodeError as error:
        raise fail(f"invalid JSON in column 7: {error.msg} (char {error.pos})") from None
    if not isinstance(attributes, dict) or not all(isinstance(v, dict) for v in attributes.values()):
        raise fail("column 7 is not a JSON object of attribute objects")
    spans = []
    for attribute, value in attributes.items():
        start, end = value.get("startIndexInSegment"), value.get("endIndexInSegment")
        start, end = -1 if start is None else start, -1 if end is None else end
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in (start, end)):
            raise fail(f"attribute {attribute!r}: span indexes are not integers")
        selected = value.get("selectedText")
        if not 0 <= start < end or not isinstance(selected, str) or selected.strip() in ("", "null"):
            continue
        if (annotation_id, attribute) in errant:
            report.errant += 1
            continue
        span = _place(segments[number], start, end, selected, report)
        if span is not None:
            spans.append(span)
    return _Annotation(annotator, number, category, spans or None)


# --- text and spans -----------------------------------------------------------------


def _render(raw: str) -> _Segment:
    """Strip tags and unescape entities (``view``), and write line breaks for block tags (``plain``),
    reading the HTML through the project's HTML reader."""
    view: list[str] = []
    plain: list[str] = []
    view_map: list[int] = []
    raw_map: list[int] = []
    for token in html_reader.tokens(raw):
        if token.kind == "text" and len(token.value) == token.end - token.start:  # plain characters
            for char in token.value:
                raw_map.append(len(plain))
                view_map.append(len(plain))
                view.append(char)
                plain.append(" " if char in "\r\n\t" else char)  # a browser shows a line end as a space
            continue
        raw_map.extend([len(plain)] * (token.end - token.start))
        if token.kind == "text":  # an entity: its characters all stand for the whole reference
            for char in token.value:
                view_map.append(len(plain))
                view.append(char)
                plain.append(char)
        elif token.kind in ("start", "end"):
            for char in _tag_break(token.value, token.kind == "end"):
                if char != "\n" or plain[-2:] != ["\n", "\n"]:
                    plain.append(char)
    raw_map.append(len(plain))
    view_map.append(len(plain))
    return _Segment(raw, "".join(view), "".join(plain), view_map, raw_map)


def _tag_break(name: str, closing: bool) -> str:
    """What a tag shows as in plain text: a line break, a list item, a blank line or nothing."""
    if name == "br":
        return "" if closing else "\n"
    if name == "li":
        return "" if closing else "\n- "
    return "\n\n" if name in _BLOCK_TAGS else ""


def _squash(text: str) -> str:
    return "".join(html_reader.visible_text(text).split())


def _place(
    seg: _Segment, start: int, end: int, selected: str, report: ImportReport
) -> tuple[int, int] | None:
    """Check a span against the segment; return it in ``plain`` coordinates, or None if dropped."""
    report.spans += 1
    wanted = _squash(selected)
    if end <= len(seg.view) and _squash(seg.view[start:end]) == wanted:
        report.matched += 1
        return seg.view_map[start], seg.view_map[end]
    if end <= len(seg.raw) and _squash(seg.raw[start:end]) == wanted:
        report.matched += 1
        report.matched_markup += 1
        return seg.raw_map[start], seg.raw_map[end]
    pattern = r"\s*".join(re.escape(char) for char in wanted)
    found = list(re.finditer(pattern, seg.view)) if wanted else []
    if len(found) == 1:
        report.relocated += 1
        return seg.view_map[found[0].start()], seg.view_map[found[0].end()]
    report.dropped += 1
    return None


def _overlaps(span: tuple[int, int], start: int, end: int) -> bool:
    """Whether a span overlaps [start, end) by at least min(MIN_OVERLAP, clause, span length)."""
    needed = max(1, min(MIN_OVERLAP, end - start, span[1] - span[0]))
    return min(span[1], end) - max(span[0], start) >= needed


# --- records ------------------------------------------------------------------------


def _segment_starts(segments: list[_Segment]) -> list[int]:
    starts, pos = [], 0
    for seg in segments:
        starts.append(pos)
        pos += len(seg.plain) + len(POLICY_JOINER)
    return starts


def _segment_of(starts: list[int], offset: int) -> int:
    return bisect_right(starts, offset) - 1


def _pieces(clause: Clause, text: str, starts: list[int]) -> Iterator[tuple[int, Clause]]:
    """A clause cut at segment borders: ``(segment number, part)``; almost always one part."""
    for number in range(_segment_of(starts, clause.start), len(starts)):
        seg_start = starts[number]
        seg_end = starts[number + 1] - len(POLICY_JOINER) if number + 1 < len(starts) else len(text)
        if seg_start >= clause.end:
            break
        start, end = max(clause.start, seg_start), min(clause.end, seg_end)
        if (start, end) == (clause.start, clause.end):
            yield number, clause
            continue
        part = text[start:end]
        body = part.strip()
        if body and _WORD.search(body):
            first = start + len(part) - len(part.lstrip())
            yield number, Clause(" ".join(body.split()), first, first + len(body), clause.context)


def _labels(votes: dict[str, set[str]], needed: Callable[[int], bool]) -> list[str]:
    """Categories with enough distinct annotators, in scheme order; ``other`` only when alone."""
    found = [c for c in CATEGORIES if needed(len(votes.get(c, ())))]
    if len(found) > 1 and OTHER in found:
        found.remove(OTHER)
    return found or [OTHER]


def _record(policy_id: str, number: int, part: Clause, labels: list[str]) -> dict:
    return {
        "id": f"{policy_id}:{number:04d}",
        "policy_id": policy_id,
        "text": part.text,
        "start": part.start,
        "end": part.end,
        "context": part.context,
        "categories": labels,
        "legal_basis": None,
        "source": SOURCE,
    }


def _clause_records(
    policy_id: str, text: str, starts: list[int], annotations: list[_Annotation]
) -> list[dict]:
    by_segment: dict[int, list[_Annotation]] = defaultdict(list)
    for annotation in annotations:
        by_segment[annotation.segment].append(annotation)
    records: list[dict] = []
    for clause in segment(text, "markdown"):
        for number, part in _pieces(clause, text, starts):
            start, end = part.start - starts[number], part.end - starts[number]
            votes: dict[str, set[str]] = defaultdict(set)
            for a in by_segment[number]:
                if a.spans is None or any(_overlaps(span, start, end) for span in a.spans):
                    votes[a.category].add(a.annotator)
            labels = _labels(votes, lambda n: n >= MIN_CLAUSE_ANNOTATORS)
            records.append(_record(policy_id, len(records), part, labels))
    return records


def _segment_records(
    policy_id: str, text: str, starts: list[int], annotations: list[_Annotation]
) -> list[dict]:
    annotators = len({a.annotator for a in annotations})
    votes: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for a in annotations:
        votes[a.segment][a.category].add(a.annotator)
    contexts: dict[int, str] = {}
    for clause in segment(text, "markdown"):
        contexts.setdefault(_segment_of(starts, clause.start), clause.context)
    records: list[dict] = []
    for number, seg_start in enumerate(starts):
        seg_end = starts[number + 1] - len(POLICY_JOINER) if number + 1 < len(starts) else len(text)
        raw = text[seg_start:seg_end]
        body = raw.strip()
        if not _WORD.search(body):
            continue
        first = seg_start + len(raw) - len(raw.lstrip())
        part = Clause(" ".join(body.split()), first, first + len(body), contexts.get(number, ""))
        labels = _labels(votes[number], lambda n: 2 * n > annotators)
        records.append(_record(policy_id, len(records), part, labels))
    return records


# --- writing ------------------------------------------------------------------------


def _write(output: Path, texts: dict[str, str], records: list[dict]) -> None:
    """Write the policy texts, then the clause file, each through a temporary file and a rename."""
    folder = output.parent / "policies"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OPP115Error(folder, 0, f"cannot create folder: {error.strerror}") from error
    for policy_id, text in texts.items():
        _atomic(folder / f"{policy_id}.txt", lambda tmp, text=text: _write_text(tmp, text))
    _atomic(output, lambda tmp: write_records(records, tmp))


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file beside it, so that a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError as error:
        raise OPP115Error(path, 0, f"cannot write: {error.strerror or error}") from error
    finally:
        temporary.unlink(missing_ok=True)

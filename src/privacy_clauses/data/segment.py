"""Split a policy (plain text, Markdown or HTML) into clauses with offsets and context.

Structure comes first: markdown-it (for ``.md`` and ``.txt``) or the project's HTML reader
(``html.py``: main content by trafilatura) gives headings, paragraphs and list items. Plain-text
headings on their own line ("Log Files") and list lead-ins ("... such as to:")
are recognised by a few layout rules. Inside each unit, nupunkt splits
sentences. Every clause keeps its exact character span in the source and the
chain of headings and lead-ins above it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nupunkt
from markdown_it import MarkdownIt

from . import html
from .sources import format_of as format_of  # re-exported: callers pick formats here
from .sources import read_policy

PLAIN_HEADING_LEVEL = 7  # below every Markdown heading
LEADIN_SEPARATOR = " > "

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LIST_MARKER = re.compile(r"\s*(?:[*+-]|\d{1,9}[.)])(?:\s+|$)")
_QUOTE_MARKER = re.compile(r"\s*>\s?")
_HEADING_MARKER = re.compile(r"\s*#{1,6}(?:\s+|$)")
_ARCHIVE_NOTICE = re.compile(r"extracted and transformed from .* archived on", re.I)
_TITLE = re.compile(r"\bprivacy\s+(?:policy|notice|statement)\b", re.I)
_SUMMARY = re.compile(r"\s*(?:in short|in a nutshell|in summary|summary)\b", re.I)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_MARKUP = re.compile(r"\*\*|__|(?<!\w)[*_]|(?<=\w)[*_](?!\w)|\\")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_WORD = re.compile(r"\w")
_HTML_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "footer",
    "form", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
    "td", "th", "title", "tr", "ul",
}  # fmt: skip
_HTML_LIST_TAGS = {"ul", "ol", "dl"}
_HTML_HEADING = re.compile(r"h[1-6]")


@dataclass(frozen=True)
class Clause:
    """One sentence, list item or heading of a policy."""

    text: str
    start: int
    end: int
    context: str


@dataclass
class _Unit:
    """A heading, a paragraph line group or a list item, before sentence splitting.

    ``offsets[i]`` is the source index of ``text[i]``; ``None`` means the text is the
    contiguous source slice starting at ``start``.
    """

    kind: str  # "heading" | "text" | "item"
    text: str
    start: int
    block: int
    level: int = 0
    offsets: list[int] | None = None
    hard_break: bool = False

    def source_index(self, i: int) -> int:
        return self.start + i if self.offsets is None else self.offsets[i]


@dataclass
class _Context:
    headings: list[tuple[int, str]] = field(default_factory=list)
    paragraph_leadin: str = ""
    list_leadin: str = ""
    list_block: int = -1

    def chain(self, block: int) -> str:
        parts = [text for _, text in self.headings]
        if self.paragraph_leadin:
            parts.append(self.paragraph_leadin)
        if self.list_leadin and block == self.list_block:
            parts.append(self.list_leadin)
        return LEADIN_SEPARATOR.join(parts)


def clean_inline(text: str) -> str:
    """Drop Markdown emphasis and link targets, and collapse whitespace (for context strings)."""
    text = _MD_LINK.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    return " ".join(text.split())


def segment(source: str, fmt: str = "markdown", whole_page: bool = False) -> list[Clause]:
    """Split ``source`` into clauses; ``fmt`` is ``"markdown"``, ``"text"`` or ``"html"``.

    HTML keeps only the page's main content (menus, banners, footers dropped) unless
    ``whole_page``; offsets always index ``source`` itself.
    """
    if fmt == "html":
        units = _html_units(source, whole_page)
    elif fmt in ("markdown", "text"):
        units = _markdown_units(source)
    else:
        raise ValueError(f"unknown format {fmt!r}: expected markdown, text or html")
    return list(_clauses(units))


def segment_file(path: str | Path, whole_page: bool = False) -> list[Clause]:
    """Read a policy file (any encoding; HTML, Markdown, text or PDF) and segment it."""
    policy = read_policy(path)
    return segment(policy.text, policy.fmt, whole_page)


# --- structure: Markdown and plain text --------------------------------------------


def _line_spans(source: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for match in _LINE_BREAK.finditer(source):
        spans.append((pos, match.start()))
        pos = match.end()
    spans.append((pos, len(source)))
    return spans


def _markdown_units(source: str) -> list[_Unit]:
    """Walk markdown-it's block tokens and cut each block into line units."""
    lines = _line_spans(source)
    tokens = MarkdownIt("commonmark").parse(source)
    units: list[_Unit] = []
    block, list_depth, item_first_lines = 0, 0, set()
    quote_depth, skip_quote = 0, False
    for token in tokens:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            if list_depth == 0:
                block += 1
            list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif kind == "list_item_open" and token.map:
            item_first_lines.add(token.map[0])
        elif kind == "blockquote_open":
            quote_depth += 1
            if not units and token.map:  # an archive notice heads the file
                text = source[lines[token.map[0]][0] : lines[token.map[1] - 1][1]]
                skip_quote = bool(_ARCHIVE_NOTICE.search(" ".join(text.split())))
        elif kind == "blockquote_close":
            quote_depth -= 1
            if quote_depth == 0:
                skip_quote = False
        elif skip_quote or not token.map:
            continue
        elif kind == "heading_open":
            block += 1
            start, end = _content_span(source, lines[token.map[0]], quote_depth, heading=True)
            if end > start:
                level = int(token.tag[1])
                units.append(_Unit("heading", source[start:end], start, block, level=level))
        elif kind in ("paragraph_open", "code_block", "fence", "html_block"):
            if list_depth == 0:
                block += 1
            unit_kind = "item" if list_depth else "text"
            for number in range(token.map[0], token.map[1]):
                is_marker_line = number in item_first_lines
                start, end = _content_span(source, lines[number], quote_depth, is_marker_line)
                if end <= start:
                    continue
                raw_end = lines[number][1]
                hard = source[end:raw_end].startswith("  ") or source[start:end].endswith("\\")
                kind_here = "item" if is_marker_line else unit_kind
                units.append(_Unit(kind_here, source[start:end], start, block, hard_break=hard))
    return _join_wrapped_lines(units, source)


def _content_span(
    source: str,
    line: tuple[int, int],
    quote_depth: int,
    marker: bool = False,
    heading: bool = False,
) -> tuple[int, int]:
    """Strip quote, list and heading markers and surrounding whitespace from a line."""
    start, end = line
    for _ in range(quote_depth):
        match = _QUOTE_MARKER.match(source, start, end)
        if match:
            start = match.end()
    for pattern, wanted in ((_LIST_MARKER, marker), (_HEADING_MARKER, heading)):
        match = pattern.match(source, start, end) if wanted else None
        if match:
            start = match.end()
    if heading:
        end = start + len(source[start:end].rstrip().rstrip("#"))
    while start < end and source[start].isspace():
        start += 1
    while end > start and source[end - 1].isspace():
        end -= 1
    return start, end


def _join_wrapped_lines(units: list[_Unit], source: str) -> list[_Unit]:
    """Join a line to the next when the text was hard-wrapped mid-sentence."""
    joined: list[_Unit] = []
    for unit in units:
        prev = joined[-1] if joined else None
        if (
            prev is not None
            and unit.kind == "text"
            and prev.kind in ("text", "item")
            and prev.block == unit.block
            and not prev.hard_break
            and _continues(prev.text, unit.text)
        ):
            end = unit.start + len(unit.text)
            prev.text = source[prev.start : end]
            prev.hard_break = unit.hard_break
            continue
        joined.append(unit)
    return joined


def _continues(previous: str, following: str) -> bool:
    if previous.rstrip()[-1:] in ".!?:;)\"”'’" or _looks_like_heading(previous):
        return False
    if _looks_like_heading(following):
        return False
    return following[:1].islower() or len(previous.split()) > 12


# --- structure: HTML --------------------------------------------------------------


def _html_units(source: str, whole_page: bool = False) -> list[_Unit]:
    """Headings, paragraphs and list items of a page, from the project's HTML reader; unless
    ``whole_page``, only the blocks that trafilatura counts as the page's main content."""
    units: list[_Unit] = []
    block, list_depth = 0, 0
    kind, level = "text", 0
    chars: list[str] = []
    offsets: list[int] = []
    elements = html.Elements()
    paths: list[tuple[int, ...]] = []  # the elements enclosing each unit

    def flush() -> None:
        nonlocal block
        text = "".join(chars)
        lead = len(text) - len(text.lstrip())
        body = text.strip()
        if body and _WORD.search(body):
            where = offsets[lead : lead + len(body)]
            if kind == "text" and list_depth == 0:
                block += 1
            units.append(_Unit(kind, body, where[0], block, level, where))
            paths.append(elements.path)
        chars.clear()
        offsets.clear()

    for token in html.tokens(source):
        name = token.value
        if token.kind == "text":
            if not token.skipped:
                chars.append(name)
                offsets.extend(token.offsets)
        elif token.kind == "start" and name not in html.SKIP_TAGS:
            if name in _HTML_LIST_TAGS:
                flush()
                if list_depth == 0:
                    block += 1
                list_depth += 1
            elif _HTML_HEADING.fullmatch(name) or name == "summary":  # a summary heads its details
                flush()
                block += 1
                kind, level = "heading", PLAIN_HEADING_LEVEL if name == "summary" else int(name[1])
            elif name in _HTML_BLOCK_TAGS:
                flush()
                kind = "item" if list_depth else "text"
        elif token.kind == "end" and name not in html.SKIP_TAGS:
            if name in _HTML_LIST_TAGS:
                flush()
                list_depth = max(0, list_depth - 1)
            elif _HTML_HEADING.fullmatch(name) or name in _HTML_BLOCK_TAGS or name == "summary":
                flush()
                kind, level = ("item" if list_depth else "text"), 0
        elements.feed(token)  # after the flush: text before a tag belongs to the enclosing element
    flush()
    if whole_page or not units:
        return units
    levels = [unit.level if unit.kind == "heading" else 0 for unit in units]
    keep = html.main_content_mask([unit.text for unit in units], source, levels, paths)
    return [unit for unit, kept in zip(units, keep, strict=True) if kept]


# --- headings, lead-ins and sentences ---------------------------------------------


def _looks_like_heading(text: str) -> bool:
    """A short title-like line with no sentence punctuation: "Log Files", "Other Information:"."""
    bare = clean_inline(text)
    words = bare.split()
    if not words or len(words) > 12 or len(bare) > 90 or _YEAR.search(bare):
        return False
    if not bare[0].isupper():
        return False
    if bare.endswith(":"):
        return len(words) <= 5
    return bare[-1] not in '.,;!)"”' and "http" not in bare


def _is_plain_heading(
    unit: _Unit, previous: _Unit | None, following: _Unit | None, context: _Context
) -> bool:
    """A title-like line of its own, followed by text; inside a list only after a full sentence."""
    if unit.hard_break or following is None or not _looks_like_heading(unit.text):
        return False
    if _is_short_line(following.text):  # a run of short lines is a list, not headings
        return False
    if unit.block != context.list_block:
        return True
    return previous is not None and previous.text.rstrip()[-1:] in ".!?"


def _is_short_line(text: str) -> bool:
    return _looks_like_heading(text) and len(text.split()) <= 6


def _is_leadin(text: str) -> bool:
    return text.rstrip().endswith(":")


def _clauses(units: list[_Unit]) -> Iterator[Clause]:
    block_sizes = Counter(unit.block for unit in units)
    context = _Context()
    for index, unit in enumerate(units):
        following = units[index + 1] if index + 1 < len(units) else None
        if context.list_block != -1 and unit.block > context.list_block:
            context.list_leadin, context.list_block = "", -1
        previous = units[index - 1] if index else None
        if unit.kind == "text" and _is_plain_heading(unit, previous, following, context):
            unit.kind = "heading"
            unit.level = 1 if index == 0 and _TITLE.search(unit.text) else PLAIN_HEADING_LEVEL
        if unit.kind == "heading":
            level = unit.level
            parents = [text for lvl, text in context.headings if lvl < level]
            yield from _split(unit, LEADIN_SEPARATOR.join(parents), whole=True)
            context.headings = [h for h in context.headings if h[0] < level]
            context.headings.append((level, clean_inline(unit.text)))
            context.paragraph_leadin = context.list_leadin = ""
            context.list_block = -1
            continue
        if _SUMMARY.match(unit.text) and previous is not None and previous.kind != "heading":
            # "In short, ..." opens a new topic whose own heading the page lost
            context.headings = [h for h in context.headings if h[0] < PLAIN_HEADING_LEVEL]
            context.paragraph_leadin = ""
        yield from _split(unit, context.chain(unit.block))
        if _is_leadin(unit.text) and following is not None:
            _open_leadin(context, clean_inline(unit.text), unit, following, block_sizes)


def _open_leadin(context: _Context, text: str, unit: _Unit, following: _Unit, block_sizes: Counter) -> None:
    """A line ending in ':' frames what follows: the rest of its block, the next list, or the
    section until the next heading."""
    if (
        following.block == unit.block
        or following.kind == "item"
        or (following.kind == "text" and block_sizes[following.block] > 1)
    ):
        context.list_leadin, context.list_block = text, following.block
    else:
        context.paragraph_leadin = text
        context.list_leadin, context.list_block = "", -1


def _split(unit: _Unit, context: str, whole: bool = False) -> Iterator[Clause]:
    """Split a unit into sentence clauses; a heading stays whole."""
    spans = [(0, len(unit.text))] if whole else nupunkt.sent_spans(unit.text)
    for start, end in spans:
        piece = unit.text[start:end]
        lead = len(piece) - len(piece.lstrip())
        piece = piece.strip()
        if not piece or not _WORD.search(piece):
            continue
        first = start + lead
        yield Clause(
            text=" ".join(piece.split()),
            start=unit.source_index(first),
            end=unit.source_index(first + len(piece) - 1) + 1,
            context=context,
        )

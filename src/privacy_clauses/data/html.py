"""The project's one HTML reader: tokens with source offsets, visible text, and the page's main content.

The standard library's HTML parser turns a page into tokens (text, start and end tags) that keep
the source index of every character, so clause offsets always index the HTML file itself.
trafilatura decides which blocks are the page's main content (the policy) and which are chrome
(menus, cookie banners, sidebars, footers); ``main_content_mask`` aligns its output with the
page's own blocks word by word, so headings, lists and offsets come from the page, not from
trafilatura's rewriting. The segmenter (``segment.py``), the OPP-115 importer (``opp115.py``)
and the validator (``validate.py``) all read HTML through this module.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from html import unescape
from html.parser import HTMLParser

logger = logging.getLogger(__name__)

SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head"})
_WORDS = re.compile(r"\w+")
MIN_MATCHED = 0.5  # share of a block's words trafilatura must keep for the block to count as content


@dataclass(frozen=True)
class Token:
    """One piece of a page: ``kind`` is "text", "start", "end" or "other" (comments, declarations).

    ``value`` is the unescaped text or the lower-case tag name; ``start``/``end`` its source span;
    ``offsets[i]`` the source index of ``value[i]`` (text only; an entity's characters all map to
    the entity's first character). ``skipped`` marks text inside script, style, head and the like.
    """

    kind: str
    value: str
    start: int
    end: int
    offsets: tuple[int, ...] = ()
    skipped: bool = False


class _Tokenizer(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.found: list[tuple[str, str, int, tuple[int, ...] | None]] = []
        self.skip_depth = 0

    def _pos(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.found.append(("start", tag, self._pos(), None))
        if tag in SKIP_TAGS:
            self.skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        self.found.append(("end", tag, self._pos(), None))
        if tag in SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.found.append(("start", tag, self._pos(), None))
        self.found.append(("end", tag, -1, None))  # same source span as its start tag

    def handle_data(self, data: str) -> None:
        start = self._pos()
        self.found.append(("text", data, start, tuple(range(start, start + len(data)))))

    def _reference(self, raw: str) -> None:
        start, text = self._pos(), unescape(raw)
        self.found.append(("text", text, start, (start,) * len(text)))

    def handle_entityref(self, name: str) -> None:
        self._reference(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._reference(f"&#{name};")

    def _other(self, *_: object) -> None:
        self.found.append(("other", "", self._pos(), None))

    handle_comment = handle_decl = handle_pi = unknown_decl = _other


def tokens(source: str) -> list[Token]:
    """The page as tokens in source order; together their spans cover the whole source."""
    parser = _Tokenizer(source)
    parser.feed(source)
    parser.close()
    found = parser.found
    ends, following = [0] * len(found), len(source)
    for index in range(len(found) - 1, -1, -1):  # a token ends where the next one starts
        ends[index] = following
        if found[index][2] != -1:
            following = found[index][2]
    result: list[Token] = []
    depth = 0
    for (kind, value, start, offsets), end in zip(found, ends, strict=True):
        if start == -1:  # the end half of <br/>: an empty span at the start tag's end
            start = end = result[-1].end
        if kind == "start" and value in SKIP_TAGS:
            depth += 1
        elif kind == "end" and value in SKIP_TAGS:
            depth = max(0, depth - 1)
        result.append(Token(kind, value, start, end, offsets or (), skipped=kind == "text" and depth > 0))
    return result


VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class Elements:
    """The open elements while reading tokens: ``path`` numbers each enclosing element uniquely.

    An end tag closes the nearest open element of its name (and any left unclosed inside it);
    an end tag with no open element of its name is ignored, as browsers do.
    """

    def __init__(self) -> None:
        self.stack: list[tuple[str, int]] = []
        self.count = 0

    def feed(self, token: Token) -> None:
        if token.kind == "start" and token.value not in VOID_TAGS:
            self.count += 1
            self.stack.append((token.value, self.count))
        elif token.kind == "end":
            for depth in range(len(self.stack) - 1, -1, -1):
                if self.stack[depth][0] == token.value:
                    del self.stack[depth:]
                    break

    @property
    def path(self) -> tuple[int, ...]:
        return tuple(number for _, number in self.stack)


def visible_text(source: str) -> str:
    """The text a reader sees: tags removed, entities unescaped, script/style/head dropped."""
    return "".join(token.value for token in tokens(source) if token.kind == "text" and not token.skipped)


def main_text(source: str, precision: bool = False) -> str | None:
    """The page's main content as plain text according to trafilatura (``None``: nothing found);
    ``precision`` asks it to leave out doubtful parts, else it leans towards keeping them."""
    import trafilatura

    return trafilatura.extract(
        source,
        output_format="txt",
        include_comments=False,
        include_tables=True,
        include_links=False,
        include_images=False,
        favor_recall=not precision,
        favor_precision=precision,
        deduplicate=False,
    )


SHINGLE = 4  # words per aligned unit: common words alone would make the alignment slow and loose


def _shingles(words: list[str]) -> list[str]:
    size = min(SHINGLE, len(words))
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)] if size else []


def _aligned(blocks: list[str], sizes: list[int], extracted: str | None, ordered: bool = True) -> list[bool]:
    """Blocks at least half of whose words line up with ``extracted``: an order-preserving
    alignment of runs of SHINGLE words, a word counting when a matched run covers it.
    Unless ``ordered``, a run counts wherever it occurs in ``extracted`` (faster, looser)."""
    if not extracted:
        return [False] * len(blocks)
    page_words: list[str] = []
    owner: list[int] = []
    for number, block in enumerate(blocks):
        words = _WORDS.findall(block.lower())
        page_words += words
        owner += [number] * len(words)
    page, wanted = _shingles(page_words), _shingles(_WORDS.findall(extracted.lower()))
    width = len(page_words) - len(page) + 1 if page else 0
    covered = [False] * len(page_words)
    if ordered:
        runs = [
            (a, size)
            for a, _, size in SequenceMatcher(None, page, wanted, autojunk=False).get_matching_blocks()
        ]
    else:
        present = set(wanted)
        runs = [(a, 1) for a, shingle in enumerate(page) if shingle in present]
    for a, size in runs:
        for position in range(a, a + size + width - 1 if size else a):
            covered[position] = True
    matched = [0] * len(blocks)
    for position, hit in enumerate(covered):
        matched[owner[position]] += hit
    return [size > 0 and hits >= MIN_MATCHED * size for hits, size in zip(matched, sizes, strict=True)]


def main_content_mask(
    blocks: list[str], source: str, levels: list[int], paths: list[tuple[int, ...]]
) -> list[bool]:
    """Which of the page's text ``blocks`` (in page order) belong to its main content.

    1. A block counts when at least half of its words line up with trafilatura's extraction
       (favouring recall; an order-preserving word alignment, so a menu's "Contact us" never
       borrows the body's).
    2. Kept blocks cut off from the longest kept run by ``MAX_GAP`` or more dropped blocks (an
       announcement bar above the menu, a table of contents) are dropped.
    3. Kept blocks outside the innermost element (``paths[i]``: the block's enclosing elements)
       that holds all of trafilatura's precise extraction, or outside the innermost one that holds
       ``CONTAINER_SHARE`` of the kept words, are dropped: a cookie notice, a call to action,
       testimonials or a legal footer beside the policy, which its fallback extractors let through.
    4. A heading (``levels[i]`` > 0, its level) counts when one of the next ``HEADING_REACH`` text
       blocks of its section does: trafilatura's fallback extractors drop headings, and the
       context chain needs them.
    When trafilatura finds no main content, every block is kept rather than none.
    """
    sizes = [len(_WORDS.findall(block.lower())) for block in blocks]
    keep = _aligned(blocks, sizes, main_text(source))
    if not any(keep):
        logger.info("no main content found; keeping the whole page")
        return [True] * len(blocks)
    keep = _main_run(keep, sizes)
    precise = _aligned(blocks, sizes, main_text(source, precision=True), ordered=False)  # for a container
    container = _innermost([path for path, kept in zip(paths, precise, strict=True) if kept])
    if container is not None:
        keep = [kept and container in path for kept, path in zip(keep, paths, strict=True)]
    return _with_headings(_inside_container(keep, sizes, paths), levels)


HEADING_REACH = 2


def _innermost(paths: list[tuple[int, ...]]) -> int | None:
    """The innermost element enclosing every one of ``paths`` (``None``: none, or no paths)."""
    if not paths:
        return None
    common = paths[0]
    for path in paths[1:]:
        size = 0
        while size < min(len(common), len(path)) and common[size] == path[size]:
            size += 1
        common = common[:size]
    return common[-1] if common else None


def _with_headings(keep: list[bool], levels: list[int]) -> list[bool]:
    """Add each heading one of whose next HEADING_REACH text blocks (before a heading of the same
    or a higher level ends its section; subheadings pass) is kept."""
    result = list(keep)
    for index in range(len(keep) - 1, -1, -1):  # backwards: a heading over a kept subheading
        if not levels[index] or result[index]:
            continue
        seen = 0
        for following in range(index + 1, len(keep)):
            if levels[following] and levels[following] <= levels[index]:
                break
            if result[following]:
                result[index] = True
                break
            if not levels[following]:
                seen += 1
                if seen >= HEADING_REACH:
                    break
    return result


CONTAINER_SHARE = 0.8


def _inside_container(keep: list[bool], sizes: list[int], paths: list[tuple[int, ...]]) -> list[bool]:
    """Drop kept blocks outside the innermost element holding CONTAINER_SHARE of the kept words."""
    total = sum(size for size, kept in zip(sizes, keep, strict=True) if kept)
    words_in: dict[int, int] = {}
    for size, kept, path in zip(sizes, keep, paths, strict=True):
        if kept:
            for element in path:
                words_in[element] = words_in.get(element, 0) + size
    inner = None
    for element, words in words_in.items():  # those holding enough nest; the innermost is numbered last
        if words >= CONTAINER_SHARE * total and (inner is None or element > inner):
            inner = element
    if inner is None:
        return keep
    return [kept and inner in path for kept, path in zip(keep, paths, strict=True)]


MAX_GAP = 3


def _main_run(keep: list[bool], sizes: list[int]) -> list[bool]:
    """Keep only the kept blocks of the run (split at MAX_GAP dropped blocks) with the most words."""
    runs: list[list[int]] = []
    gap = MAX_GAP
    for index, kept in enumerate(keep):
        if not kept:
            gap += 1
            continue
        if gap >= MAX_GAP:
            runs.append([])
        runs[-1].append(index)
        gap = 0
    if not runs:
        return keep
    main = max(runs, key=lambda run: sum(sizes[i] for i in run))
    chosen = set(main)
    return [index in chosen for index in range(len(keep))]

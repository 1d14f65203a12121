"""Check a clause file against the label scheme and the policy sources (``data validate``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from . import html
from .labels import CATEGORIES, LEGAL_BASES, OTHER
from .policies import default_policy_dir, policy_files
from .records import ClauseRecord, Problem, parse_lines
from .sources import SourceError, read_policy


def _squash(text: str) -> str:
    return "".join(text.split())


def _offsets_match(record: ClauseRecord, source: str, is_html: bool) -> bool:
    if record.end > len(source) or record.start >= record.end:
        return False
    span = source[record.start : record.end]
    if is_html:  # offsets index the page itself, main-content extraction or not
        return _squash(html.visible_text(span)) == _squash(record.text)
    return " ".join(span.split()) == " ".join(record.text.split())


def label_problems(record: ClauseRecord) -> list[str]:
    """What is wrong with a record's labels, by the rules of LABELS.md."""
    found = []
    unknown = [c for c in record.categories if c not in CATEGORIES]
    unknown += [b for b in record.legal_basis or [] if b not in LEGAL_BASES]
    if unknown:
        found.append(f"unknown label(s): {', '.join(unknown)}")
    if not record.categories:
        found.append("empty categories: every clause needs at least one category")
    if OTHER in record.categories and len(set(record.categories)) > 1:
        found.append("'other' beside another category")
    for name, labels in (("categories", record.categories), ("legal_basis", record.legal_basis)):
        repeated = [label for label, n in Counter(labels or []).items() if n > 1]
        if repeated:
            found.append(f"repeated label(s) in {name}: {', '.join(repeated)}")
    return found


def is_written(record: ClauseRecord) -> bool:
    """Whether a record is training text we wrote (``"source": "written"``), not a real policy's."""
    return getattr(record, "source", None) == "written"


def _offset_problems(record: ClauseRecord, sources: dict[str, Path], texts: dict[str, str]) -> list[str]:
    source_path = sources.get(record.policy_id)
    if source_path is None:
        kind = "written document" if is_written(record) else "policy"
        return [f"{kind} '{record.policy_id}' has no source file"]
    if record.policy_id not in texts:
        try:
            texts[record.policy_id] = read_policy(source_path).text
        except SourceError as error:
            texts[record.policy_id] = ""
            return [str(error)]
    is_html = source_path.suffix.lower() in (".html", ".htm")
    if _offsets_match(record, texts[record.policy_id], is_html):
        return []
    return [f"offsets {record.start}:{record.end} do not match the text in {source_path.name}"]


def validate_file(
    path: str | Path, policies: str | Path | None = None, written: str | Path | None = None
) -> list[Problem]:
    """Return every problem in the clause file ``path``; an empty list means it is valid.

    Offsets are checked against ``policies`` (default: ``policies/`` beside the file), and
    those of records marked ``"source": "written"`` against ``written`` (default: ``written/``
    beside the file), where the documents we wrote for training live.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        return [Problem(name, 0, "", "file not found")]
    sources = policy_files(policies or default_policy_dir(path))
    written_sources = policy_files(written or path.parent / "written")
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    clause_counts: Counter[str] = Counter()
    try:
        parsed = list(parse_lines(path))
    except UnicodeDecodeError as error:
        return [Problem(name, 0, "", f"not UTF-8: {error.reason} at byte {error.start}")]
    for line, record, problem in parsed:
        if problem:
            problems.append(problem)
            continue
        assert record is not None
        messages = label_problems(record)
        if record.id in seen:
            messages.insert(0, f"duplicate id (first on line {seen[record.id]})")
        seen.setdefault(record.id, line)
        if is_written(record):
            messages += _offset_problems(record, written_sources, texts)
        else:
            clause_counts[record.policy_id] += 1
            messages += _offset_problems(record, sources, texts)
        problems += [Problem(name, line, record.id, message) for message in messages]
    if not parsed:
        problems.append(Problem(name, 0, "", "no clauses in file"))
    for policy_id, source_path in sources.items():
        if clause_counts and clause_counts[policy_id] == 0:
            problems.append(Problem(name, 0, "", f"policy '{policy_id}' ({source_path.name}) has no clauses"))
    return problems

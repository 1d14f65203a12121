"""Streaming readers: policy files, folders of them, clause tables (JSONL, CSV, Parquet, gzipped), stdin.

Each input becomes a ``Source``; its clauses are read only when it is processed, so memory
stays flat however many inputs there are. A source yields ``ClauseRow`` items and, for a bad
line of a table, ``Reject`` items (file, line, reason), so one bad line costs one line. A
source that cannot be read at all raises ``InputError`` naming the file.

Policy files are read by ``data.sources`` (any encoding, PDF) and segmented by ``data.segment``
(HTML: main content unless ``whole_page``). A table's columns other than ``text``, ``id`` and
``context`` (``policy_id``, ``url``, anything else) are carried to every output row.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ..data.errors import PrivacyClausesError
from ..data.policies import POLICY_SUFFIXES
from ..data.segment import segment
from ..data.sources import SourceError, decode, read_policy

TABLE_SUFFIXES = (".jsonl", ".csv", ".parquet", ".jsonl.gz", ".csv.gz")
STDIN = "-"
TABLE_FIELDS = ("id", "text", "context")
SAMPLE_BYTES = 1 << 20  # bytes read to choose a table's encoding


class InputError(PrivacyClausesError):
    """One input that cannot be read; the message names the file and, where known, the line."""


@dataclass(frozen=True)
class ClauseRow:
    """A clause to label, with where it came from and the table columns it carries."""

    source: str
    id: str
    text: str
    context: str = ""
    start: int | None = None
    end: int | None = None
    policy_id: str = ""
    extra: dict = field(default_factory=dict)
    line: int = 0  # a table row's line (CSV: where the row starts; Parquet: row number)


@dataclass(frozen=True)
class Reject:
    """A table line that could not be labeled, and why."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}" if self.line else f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class Source:
    """One input: a policy document or a clause table; ``policy_id`` names a policy document."""

    name: str
    kind: str  # "policy" | "table"
    policy_id: str = ""
    whole_page: bool = False

    def rows(self) -> Iterator[ClauseRow | Reject]:
        """Stream the clauses (and rejected table lines); an unreadable input raises ``InputError``."""
        if self.kind == "policy":
            return _policy_rows(self)
        return _table_rows(self.name, self.policy_id)


def kind_of(path: str | Path) -> str | None:
    """``"table"``, ``"policy"`` or ``None`` (not an input) for a file name."""
    name = str(path).lower()
    if name.endswith(TABLE_SUFFIXES):
        return "table"
    return "policy" if name.endswith(POLICY_SUFFIXES) else None


def expand_inputs(inputs: list[str], whole_page: bool = False) -> list[Source]:
    """Turn command-line inputs (files, folders searched recursively, ``-``) into sources.

    An input is named by its path inside the folder given without the suffix (``acme.com/privacy``;
    a file given directly by its stem), or with the suffix where two inputs would share a name;
    this name is a policy's id and the prefix of its clause ids.
    """
    found: list[tuple[str, str, str]] = []  # (path, kind, name with suffix)
    for item in inputs:
        path = Path(item)
        if item == STDIN:
            found.append((STDIN, "policy", "stdin"))
        elif path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                kind = kind_of(child)
                if kind:
                    found.append((str(child), kind, child.relative_to(path).as_posix()))
        else:
            found.append((str(path), kind_of(path) or "policy", path.name))
    short = [_strip_suffix(name) for _, _, name in found]
    taken = Counter(short)
    return [
        Source(path, kind, stem if taken[stem] == 1 else name, whole_page)
        for (path, kind, name), stem in zip(found, short, strict=True)
    ]


def _strip_suffix(name: str) -> str:
    lower = name.lower()
    suffix = next((s for s in (*TABLE_SUFFIXES[::-1], *POLICY_SUFFIXES) if lower.endswith(s)), "")
    return name[: len(name) - len(suffix)] or name


def _policy_rows(source: Source) -> Iterator[ClauseRow]:
    if source.name == STDIN:
        text, fmt = sys.stdin.read(), "markdown"
        if not text.strip():
            raise InputError("-: empty input")
    else:
        if not Path(source.name).is_file():
            raise InputError(f"{source.name}: no such file")
        try:
            policy = read_policy(source.name)
        except SourceError as error:
            raise InputError(str(error)) from error
        text, fmt = policy.text, policy.fmt
    for number, clause in enumerate(segment(text, fmt, source.whole_page)):
        yield ClauseRow(
            source.name, f"{source.policy_id}:{number:04d}", clause.text, clause.context,
            clause.start, clause.end, source.policy_id,
        )  # fmt: skip


def _table_rows(name: str, stem: str) -> Iterator[ClauseRow | Reject]:
    path = Path(name)
    if not path.is_file():
        raise InputError(f"{name}: no such file")
    lower = path.name.lower()
    if lower.endswith(".parquet"):
        lines: Iterable[tuple[int, dict | None, str]] = _parquet_lines(name)
    else:
        lines = _csv_lines(name) if lower.endswith((".csv", ".csv.gz")) else _jsonl_lines(name)
    for number, row, problem in lines:
        yield Reject(name, number, problem) if row is None else _row(name, stem, number, row)


def _open_binary(name: str):
    try:
        handle = gzip.open(name, "rb") if name.lower().endswith(".gz") else open(name, "rb")  # noqa: SIM115
        sample = handle.read(SAMPLE_BYTES)
        handle.seek(0)
    except (OSError, EOFError) as error:
        raise InputError(f"{name}: cannot read ({error})") from error
    if not sample.strip():
        handle.close()
        raise InputError(f"{name}: empty file")
    try:
        encoding = _table_encoding(sample, name)
    except InputError:
        handle.close()
        raise
    return handle, encoding


def _table_encoding(sample: bytes, name: str) -> str:
    """UTF-8 when every line of the sample is, or when other lines hold valid non-ASCII UTF-8
    (then a bad line is rejected on its own, not taken as a sign of another encoding); else
    what ``data.sources.decode`` finds."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name}: UTF-16 tables are not supported; save it as UTF-8")
    if b"\x00" in sample[:8192]:
        raise InputError(f"{name}: binary file, not a clause table")
    lines = sample.splitlines()[:-1] if len(sample) == SAMPLE_BYTES else sample.splitlines()
    bad, multibyte = 0, False
    for line in lines:
        try:
            line.decode("utf-8")
            multibyte = multibyte or not line.isascii()
        except UnicodeDecodeError:
            bad += 1
    if bad == 0 or multibyte:  # valid non-ASCII UTF-8 elsewhere: the bad lines are just bad
        return "utf-8"
    try:
        encoding = decode(sample, name)[1]
    except SourceError as error:
        raise InputError(str(error)) from error
    return "utf-8" if encoding.replace("_", "-") == "utf-8-sig" else encoding


def _decoded_lines(handle, encoding: str, bad: set[int]) -> Iterator[str]:
    """Decode line by line; a line whose bytes are not valid is replaced and noted in ``bad``."""
    try:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError:
                bad.add(number)
                yield raw.decode(encoding, errors="replace")
    except (OSError, EOFError) as error:
        raise InputError(f"{handle.name}: cannot read ({error}); the lines before were labeled") from error


def _jsonl_lines(name: str) -> Iterator[tuple[int, dict | None, str]]:
    handle, encoding = _open_binary(name)
    bad: set[int] = set()
    with handle:
        for number, line in enumerate(_decoded_lines(handle, encoding, bad), start=1):
            if not line.strip():
                continue
            if number in bad:
                yield number, None, f"bytes not valid {encoding}"
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, None, f"invalid JSON ({error.msg})"
                continue
            yield (number, row, "") if isinstance(row, dict) else (number, None, "expected a JSON object")


def _csv_lines(name: str) -> Iterator[tuple[int, dict | None, str]]:
    handle, encoding = _open_binary(name)
    bad: set[int] = set()
    with handle:
        reader = csv.reader(_decoded_lines(handle, encoding, bad))
        header = next(reader, None)
        if not header or "text" not in header:
            raise InputError(f"{name}: no 'text' column in the header")
        first = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield first, None, f"malformed CSV ({error})"
                first = reader.line_num + 1
                continue
            number, first = first, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if bad.intersection(range(number, first)):
                yield number, None, f"bytes not valid {encoding}"
            elif len(cells) != len(header):
                yield number, None, f"expected {len(header)} fields, found {len(cells)}"
            else:
                yield number, dict(zip(header, cells, strict=True)), ""


def _parquet_lines(name: str) -> Iterator[tuple[int, dict | None, str]]:
    try:
        table = pq.ParquetFile(name)
    except (OSError, ValueError) as error:
        raise InputError(f"{name}: not a readable Parquet file ({error})") from error
    if "text" not in table.schema_arrow.names:
        raise InputError(f"{name}: no 'text' column")
    number = 0
    for batch in table.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            yield number, row, ""


def _row(name: str, stem: str, number: int, row: dict) -> ClauseRow | Reject:
    """A table row as a clause: ids are ``<policy_id>:<id or line>`` when a policy id is given."""
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return Reject(name, number, "missing or empty 'text'")
    policy_id = str(row.get("policy_id") or "")
    given = row.get("id")
    given = "" if given is None else str(given).strip()
    clause_id = f"{policy_id}:{given or number}" if policy_id else given or f"{stem}:{number}"
    extra = {key: _plain(value) for key, value in row.items() if key not in TABLE_FIELDS and key}
    extra.pop("policy_id", None)
    context = str(row.get("context") or "")
    return ClauseRow(name, clause_id, text, context, None, None, policy_id or stem, extra, number)


def _plain(value: object) -> object:
    """A carried cell as JSON-friendly data (Parquet dates and decimals become text)."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def count_rows(sources: list[Source]) -> int | None:
    """How many clauses the inputs hold, when that is cheap to know (tables only); else ``None``."""
    total = 0
    for source in sources:
        if source.kind != "table":
            return None
        try:
            if source.name.lower().endswith(".parquet"):
                total += pq.ParquetFile(source.name).metadata.num_rows
            else:
                opener = gzip.open if source.name.lower().endswith(".gz") else open
                with opener(source.name, "rb") as handle:
                    total += sum(chunk.count(b"\n") for chunk in iter(lambda h=handle: h.read(1 << 20), b""))
        except (OSError, EOFError, ValueError):
            continue
    return total

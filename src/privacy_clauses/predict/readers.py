"""Streaming readers: policy files, folders of them, clause tables (JSONL, CSV, Parquet), stdin.

Each input becomes a ``Source``; its clauses are read only when it is processed, so memory
stays flat however many inputs there are. A problem with one input raises ``InputError``
naming the file (and line), and the caller decides whether to skip it.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from ..data.errors import PrivacyClausesError
from ..data.policies import POLICY_SUFFIXES
from ..data.segment import format_of, segment

TABLE_SUFFIXES = (".jsonl", ".csv", ".parquet")
STDIN = "-"


class InputError(PrivacyClausesError):
    """One input that cannot be read; the message names the file and, where known, the line."""


@dataclass(frozen=True)
class ClauseRow:
    """A clause to label, with where it came from."""

    source: str
    id: str
    text: str
    context: str = ""
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Source:
    """One input: a policy document or a clause table."""

    name: str
    kind: str  # "policy" | "table"

    def rows(self) -> Iterator[ClauseRow]:
        """Stream the clauses; a bad line raises ``InputError`` when it is reached."""
        if self.kind == "policy":
            return _policy_rows(self.name)
        return _table_rows(self.name)

    def check(self) -> None:
        """Read a table once without keeping it, so a bad line fails before any output.

        A policy needs no check: it is read and segmented whole before its first clause."""
        if self.kind == "table":
            for _ in self.rows():
                pass


def expand_inputs(inputs: list[str]) -> list[Source]:
    """Turn command-line inputs (files, folders searched recursively, ``-``) into sources."""
    sources: list[Source] = []
    for item in inputs:
        path = Path(item)
        if item == STDIN:
            sources.append(Source(STDIN, "policy"))
        elif path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in POLICY_SUFFIXES + TABLE_SUFFIXES:
                    sources.append(_source(child))
        else:
            sources.append(_source(path))
    return sources


def _source(path: Path) -> Source:
    kind = "table" if path.suffix.lower() in TABLE_SUFFIXES else "policy"
    return Source(str(path), kind)


def _read_text(name: str) -> str:
    if name == STDIN:
        return sys.stdin.read()
    path = Path(name)
    if not path.is_file():
        raise InputError(f"{name}: no such file")
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{name}: empty file")
    if b"\x00" in data[:8192]:
        raise InputError(f"{name}: binary file, not a text policy")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: not UTF-8 text (byte {error.start})") from error


def _policy_rows(name: str) -> Iterator[ClauseRow]:
    text = _read_text(name)
    fmt = "markdown" if name == STDIN else format_of(name)
    stem = "stdin" if name == STDIN else Path(name).stem
    for number, clause in enumerate(segment(text, fmt)):
        yield ClauseRow(name, f"{stem}:{number:04d}", clause.text, clause.context, clause.start, clause.end)


def _table_rows(name: str) -> Iterator[ClauseRow]:
    suffix = Path(name).suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(name)
        return
    _read_text(name)  # same checks as a policy: exists, not empty, not binary, UTF-8
    stem = Path(name).stem
    with open(name, encoding="utf-8", newline="") as handle:
        if suffix == ".csv":
            lines = ((number, row) for number, row in enumerate(csv.DictReader(handle), start=2))
        else:
            lines = _jsonl_lines(name, handle)
        for number, row in lines:
            yield _row(name, stem, number, row)


def _jsonl_lines(name: str, handle) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name}:{number}: invalid JSON ({error.msg})") from error
        if not isinstance(row, dict):
            raise InputError(f"{name}:{number}: expected a JSON object")
        yield number, row


def _parquet_rows(name: str) -> Iterator[ClauseRow]:
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
            yield _row(name, Path(name).stem, number, row)


def _row(name: str, stem: str, number: int, row: dict) -> ClauseRow:
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{name}:{number}: missing or empty 'text'")
    clause_id = row.get("id")
    return ClauseRow(
        name,
        str(clause_id) if clause_id not in (None, "") else f"{stem}:{number}",
        text,
        str(row.get("context") or ""),
    )

"""The clause record (LABELS.md §3): its schema, and reading and writing JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import PrivacyClausesError


class ClauseRecord(BaseModel):
    """One labeled clause. ``legal_basis`` is ``None`` where the corpus does not annotate it."""

    model_config = ConfigDict(extra="allow", strict=True)

    id: str = Field(min_length=1)
    policy_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    context: str
    categories: list[str]
    legal_basis: list[str] | None


@dataclass(frozen=True)
class Problem:
    """Something wrong with one line of a clause file."""

    file: str
    line: int
    id: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.id + ': ' if self.id else ''}{self.message}"


class ClauseFileError(PrivacyClausesError):
    """A clause file that cannot be read; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        extra = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{extra}")


def parse_lines(path: str | Path) -> Iterator[tuple[int, ClauseRecord | None, Problem | None]]:
    """Yield ``(line number, record, problem)`` for each non-blank line of a JSONL file."""
    path = Path(path)
    with path.open(encoding="utf-8", errors="strict") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, None, Problem(str(path), number, "", f"invalid JSON: {error.msg}")
                continue
            record_id = str(raw.get("id", "")) if isinstance(raw, dict) else ""
            try:
                yield number, ClauseRecord.model_validate(raw), None
            except ValidationError as error:
                first = error.errors()[0]
                field = ".".join(str(part) for part in first["loc"]) or "record"
                message = f"schema: {field}: {first['msg']}"
                yield number, None, Problem(str(path), number, record_id, message)


def read_records(path: str | Path) -> list[ClauseRecord]:
    """Read a clause file; raise ``ClauseFileError`` on the first unreadable line."""
    try:
        parsed = list(parse_lines(path))
    except (OSError, UnicodeDecodeError) as error:
        raise ClauseFileError([Problem(str(path), 0, "", f"cannot read: {error}")]) from error
    problems = [problem for _, _, problem in parsed if problem]
    if problems:
        raise ClauseFileError(problems)
    return [record for _, record, _ in parsed if record is not None]


def write_records(records: Iterable[ClauseRecord | dict], path: str | Path) -> None:
    """Write records as UTF-8 JSON Lines (one object a line)."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for record in records:
            data = record.model_dump() if isinstance(record, ClauseRecord) else record
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")

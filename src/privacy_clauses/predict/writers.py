"""Output files: records stream into a JSON Lines part file, then become JSONL, CSV or Parquet.

The final file appears only when complete (written beside it and renamed into place).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..data.errors import PrivacyClausesError
from ..data.labels import ALL_LABELS

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
SCALAR_FIELDS = ("source", "policy_id", "id", "start", "end", "context", "text")
LABEL_FIELDS = ("categories", "legal_basis", "probabilities")


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise PrivacyClausesError(f"{path}: output must end in .jsonl, .csv or .parquet")
    return FORMATS[suffix]


def read_jsonl(path: Path) -> Iterator[dict]:
    """Complete records of a part file; a torn last line (from a crash) is ignored."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n"):
                yield json.loads(line)


def extra_columns(records: Iterator[dict]) -> list[str]:
    """The carried input columns of the records (beyond the clause and its labels), in first-seen order."""
    known = set(SCALAR_FIELDS) | set(LABEL_FIELDS)
    found: dict[str, None] = {}
    for record in records:
        found |= dict.fromkeys(key for key in record if key not in known)
    return list(found)


def carry(record: dict, extra: dict) -> dict:
    """``record`` plus the carried table columns of its input row; a column whose name the
    record already uses is carried as ``input_<name>``."""
    for key, value in extra.items():
        record[f"input_{key}" if key in record else key] = value
    return record


def _flat(record: dict, extras: list[str]) -> dict:
    row = {name: record.get(name) for name in SCALAR_FIELDS}
    row |= {name: _text(record.get(name)) for name in extras}
    row["categories"] = ";".join(record["categories"])
    row["legal_basis"] = ";".join(record["legal_basis"])
    row |= {f"p:{name}": record["probabilities"][name] for name in ALL_LABELS}
    return row


def finalize(part: Path, output: Path, records: Callable[[], Iterator[dict]] | None = None) -> None:
    """Write the records (``records()``, default: those of ``part``) to ``output`` in its format,
    atomically; CSV and Parquet read them twice (first for the carried columns)."""
    records = records or (lambda: read_jsonl(part))
    staging = output.with_name(output.name + ".tmp")
    fmt = output_format(output)
    if fmt == "jsonl":
        with staging.open("w", encoding="utf-8") as handle:
            for record in records():
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        extras = extra_columns(records())
        columns = [*SCALAR_FIELDS, *extras, "categories", "legal_basis", *(f"p:{n}" for n in ALL_LABELS)]
        with staging.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(_flat(record, extras) for record in records())
    else:
        _write_parquet(records, staging)
    os.replace(staging, output)


def parquet_schema(extras: list[str] = ()) -> pa.Schema:
    """The Parquet output's columns; ``extras`` are carried input columns, as text."""
    return pa.schema(
        [
            ("source", pa.string()), ("policy_id", pa.string()), ("id", pa.string()),
            ("start", pa.int64()), ("end", pa.int64()), ("context", pa.string()), ("text", pa.string()),
            *((name, pa.string()) for name in extras),
            ("categories", pa.list_(pa.string())), ("legal_basis", pa.list_(pa.string())),
            *((f"p:{name}", pa.float32()) for name in ALL_LABELS),
        ]
    )  # fmt: skip


def _text(value: object) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def _write_parquet(records: Callable[[], Iterator[dict]], path: Path, batch: int = 10_000) -> None:
    """Carried columns are written as text (a column's type may differ between input tables)."""
    extras = extra_columns(records())
    schema = parquet_schema(extras)
    with pq.ParquetWriter(path, schema) as writer:
        rows: list[dict] = []
        for record in records():
            row = _flat(record, extras) | {name: _text(record.get(name)) for name in extras}
            rows.append(row | {"categories": record["categories"], "legal_basis": record["legal_basis"]})
            if len(rows) >= batch:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
        writer.write_table(pa.Table.from_pylist(rows, schema=schema))

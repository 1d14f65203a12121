"""Output files: records stream into a JSON Lines part file, then become JSONL, CSV or Parquet.

The final file appears only when complete (written beside it and renamed into place).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..data.errors import PrivacyClausesError
from ..data.labels import ALL_LABELS

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
SCALAR_FIELDS = ("source", "id", "start", "end", "context", "text")


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


def _flat(record: dict) -> dict:
    row = {name: record[name] for name in SCALAR_FIELDS}
    row["categories"] = ";".join(record["categories"])
    row["legal_basis"] = ";".join(record["legal_basis"])
    row |= {f"p:{name}": record["probabilities"][name] for name in ALL_LABELS}
    return row


def finalize(part: Path, output: Path, records: Iterator[dict] | None = None) -> None:
    """Write ``records`` (default: those of ``part``) to ``output`` in its format, atomically."""
    records = records if records is not None else read_jsonl(part)
    staging = output.with_name(output.name + ".tmp")
    fmt = output_format(output)
    if fmt == "jsonl":
        with staging.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        columns = [*SCALAR_FIELDS, "categories", "legal_basis", *(f"p:{n}" for n in ALL_LABELS)]
        with staging.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(_flat(record) for record in records)
    else:
        _write_parquet(records, staging)
    os.replace(staging, output)


PARQUET_SCHEMA = pa.schema(
    [
        ("source", pa.string()), ("id", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
        ("context", pa.string()), ("text", pa.string()),
        ("categories", pa.list_(pa.string())), ("legal_basis", pa.list_(pa.string())),
        *((f"p:{name}", pa.float32()) for name in ALL_LABELS),
    ]
)  # fmt: skip


def _write_parquet(records: Iterator[dict], path: Path, batch: int = 10_000) -> None:
    with pq.ParquetWriter(path, PARQUET_SCHEMA) as writer:
        rows: list[dict] = []
        for record in records:
            rows.append(
                {**_flat(record), "categories": record["categories"], "legal_basis": record["legal_basis"]}
            )
            if len(rows) >= batch:
                writer.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA))
                rows = []
        writer.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA))

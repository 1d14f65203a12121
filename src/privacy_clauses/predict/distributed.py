"""Batch inference on a Ray cluster: the local path's readers and classifier inside Ray Data.

The driver lists the inputs (``expand_inputs``) and numbers fixed-size shards of them. Ray
Data tasks read and segment each input with the local readers (``Source.rows``);
``predict_dataset`` labels the clauses with ``map_batches`` over an actor pool, one
``ClauseClassifier`` per actor; the labelled rows stream back in input order and each shard is
written whole (the local path's Parquet schema or records; a temporary name,
then a rename). A shard file that exists is therefore complete, and a re-run skips it.
Per-policy summaries are made per shard in Ray tasks. Needs the ``ray`` extra.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
import torch

from ..data.labels import ALL_LABELS
from ..model.checkpoint import load_checkpoint
from .batch import RunReport
from .classifier import ClauseClassifier
from .devices import resolve_device, resolve_precision
from .readers import STDIN, InputError, Reject, Source, expand_inputs
from .summary import summarize, write_summary
from .writers import carry, finalize, parquet_schema, read_jsonl

logger = logging.getLogger(__name__)

SHARD_FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl"}
MANIFEST = "_manifest.json"
# Read tasks reserve no CPU: the model actors may hold every core (as the local path's
# workers do), and reading would otherwise wait for one forever. Reading and segmenting are
# light next to the model; one read task per model worker at a time keeps their processes
# (each imports this package, torch included, once) as few as the workers.
READ_CPUS = 0

PARQUET_SCHEMA = parquet_schema()  # a shard whose inputs carry table columns (url, ...) adds them
CLAUSE_SCHEMA = pa.schema(
    [
        ("shard", pa.int64()), ("source", pa.string()), ("policy_id", pa.string()), ("id", pa.string()),
        ("text", pa.string()),
        ("context", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("error", pa.string()),
        ("rejected", pa.bool_()), ("extra", pa.string()),  # carried table columns, as a JSON object
    ]
)  # fmt: skip


def read_sources(batch: pa.Table) -> pa.Table:
    """Ray task: the clauses of each input row (``shard``, ``source``, ``kind``).

    An unreadable input becomes one row whose ``error`` is the local path's message.
    """
    rows: list[dict] = []
    for shard, name, kind, policy_id in zip(
        *(batch[key].to_pylist() for key in ("shard", "source", "kind", "policy_id")), strict=True
    ):
        source = Source(name, kind, policy_id)
        try:
            clauses = [  # a bad table line (Reject) is passed on as an error row: it costs only itself
                {"shard": shard, "source": name, "policy_id": "", "id": "", "text": "", "context": "",
                 "error": str(row), "rejected": True} if isinstance(row, Reject) else
                {"shard": shard, "source": name, "policy_id": row.policy_id, "id": row.id, "text": row.text,
                 "context": row.context, "start": row.start, "end": row.end, "error": None,
                 "extra": json.dumps(row.extra, ensure_ascii=False) if row.extra else None}
                for row in source.rows()
            ]  # fmt: skip
        except InputError as error:
            clauses = [
                {"shard": shard, "source": name, "policy_id": "", "id": "", "text": "", "context": "",
                 "error": str(error)}
            ]  # fmt: skip
        rows += clauses
    return pa.Table.from_pylist(rows, schema=CLAUSE_SCHEMA)


def label_table(classifier: ClauseClassifier, table: pa.Table) -> pa.Table:
    """``table`` plus ``categories``, ``legal_basis`` and a ``p:<label>`` column per label.

    Contexts come from a ``context`` column ("" where missing, as the local readers give);
    rows with an ``error`` are passed through unlabelled.
    """
    texts = table["text"].to_pylist()
    contexts = table["context"].to_pylist() if "context" in table.column_names else [""] * len(texts)
    errors = table["error"].to_pylist() if "error" in table.column_names else [None] * len(texts)
    keep = [i for i, error in enumerate(errors) if error is None]
    predictions = classifier.predict([texts[i] for i in keep], [contexts[i] or "" for i in keep])
    categories: list[list[str]] = [[] for _ in texts]
    bases: list[list[str]] = [[] for _ in texts]
    probabilities = {name: [math.nan] * len(texts) for name in ALL_LABELS}
    for i, prediction in zip(keep, predictions, strict=True):
        categories[i], bases[i] = prediction.categories, prediction.legal_basis
        for name, value in prediction.probabilities.items():
            probabilities[name][i] = value
    table = table.append_column("categories", pa.array(categories, pa.list_(pa.string())))
    table = table.append_column("legal_basis", pa.array(bases, pa.list_(pa.string())))
    for name in ALL_LABELS:
        table = table.append_column(f"p:{name}", pa.array(probabilities[name], pa.float64()))
    return table


class Labeler:
    """Ray Data actor: loads the model once, then labels batches of clause rows."""

    def __init__(
        self, model: str, device: str = "auto", precision: str = "auto", batch_size: int = 32,
        backend: str = "torch",
    ):  # fmt: skip
        self.classifier = ClauseClassifier.from_pretrained(
            model, device=device, precision=precision, batch_size=batch_size, backend=backend
        )

    def __call__(self, batch: pa.Table) -> pa.Table:
        return label_table(self.classifier, batch)


def predict_dataset(
    dataset: ray.data.Dataset,
    model: str | Path,
    *,
    workers: int = 1,
    gpus_per_worker: float = 0,
    cpus_per_worker: float = 1,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 32,
    backend: str = "torch",
    rows_per_call: int = 256,
    labeler: type[Labeler] = Labeler,
) -> ray.data.Dataset:
    """Label a dataset of clauses (``text``, optional ``context``) on a pool of ``workers`` actors.

    Adds the columns of the local path's Parquet output (``categories``, ``legal_basis``,
    ``p:<label>``). Lazy, like every Ray Data transform: write or iterate the result. Ray Data
    restarts an actor that dies and runs its batch again (its defaults for actor pools:
    ``max_restarts=-1``, ``max_task_retries=-1``).
    """
    return dataset.map_batches(
        labeler,
        fn_constructor_kwargs={
            "model": str(model), "device": device, "precision": precision, "batch_size": batch_size,
            "backend": backend,
        },
        batch_size=rows_per_call,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker or None,
    )  # fmt: skip


def shard_path(folder: Path, index: int, fmt: str) -> Path:
    return folder / f"part-{index:05d}{SHARD_FORMATS[fmt]}"


def _skipped_path(shard: Path) -> Path:
    return shard.with_name(shard.name + ".skipped.json")


def _check_settings(model: str | Path, device: str, precision: str, gpus_per_worker: float) -> None:
    """Fail on the driver, with the local path's messages, before any worker starts."""
    load_checkpoint(model)
    worker_device = torch.device("cuda") if gpus_per_worker else resolve_device(device)
    resolve_precision(precision, worker_device)


def _manifest(folder: Path, model: str | Path, sources: list[Source], shard_size: int, fmt: str) -> int:
    """Write (or check) the run's plan; returns the number of shards."""
    digest = hashlib.sha256("\n".join(s.name for s in sources).encode("utf-8")).hexdigest()
    plan = {"model": str(Path(model).resolve()), "inputs": len(sources), "inputs_sha256": digest,
            "shard_size": shard_size, "format": fmt}  # fmt: skip
    path = folder / MANIFEST
    if path.exists():
        if json.loads(path.read_text(encoding="utf-8")) != plan:
            raise InputError(
                f"{folder}: holds shards of another run (other inputs, model, --shard-size or format); "
                "re-run with the same ones to resume, or choose a new folder"
            )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(path.name + ".tmp")
        staging.write_text(json.dumps(plan, indent=2), encoding="utf-8")
        staging.replace(path)
    return -(-len(sources) // shard_size)


def _records(table: pa.Table) -> Iterator[dict]:
    """Rows of a labelled table as the local path's records (carried columns included)."""
    for row in table.to_pylist():
        yield carry({
            "source": row["source"], "policy_id": row["policy_id"], "id": row["id"], "start": row["start"],
            "end": row["end"],
            "context": row["context"], "text": row["text"], "categories": row["categories"],
            "legal_basis": row["legal_basis"],
            "probabilities": {name: round(row[f"p:{name}"], 4) for name in ALL_LABELS},
        }, json.loads(row.get("extra") or "{}"))  # fmt: skip


def read_shard(path: str | Path) -> Iterator[dict]:
    """The records of one shard file."""
    path = Path(path)
    if path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches():
            yield from _records(pa.Table.from_batches([batch]))
    else:
        yield from read_jsonl(path)


def shard_files(folder: str | Path) -> list[Path]:
    """The shard files in ``folder``, in input order."""
    shards = [p for p in Path(folder).glob("part-*") if p.name.endswith(tuple(SHARD_FORMATS.values()))]
    return sorted(shards, key=lambda p: int(p.name.split(".")[0].removeprefix("part-")))


def read_shards(folder: str | Path) -> Iterator[dict]:
    """The records of every shard in ``folder``, in input order."""
    for path in shard_files(folder):
        yield from read_shard(path)


def summarize_shard(row: dict) -> dict:
    """Ray task: the per-policy summary of one shard (its policies are in no other shard)."""
    return {"summary": json.dumps(summarize(read_shard(row["path"])), ensure_ascii=False)}


class _ShardWriter:
    """Collects the rows of the shard in hand; writes each shard once all its rows have passed."""

    def __init__(self, folder: Path, fmt: str, pending: dict[int, int], on_error: str, report: RunReport):
        self.folder, self.fmt, self.on_error, self.report = folder, fmt, on_error, report
        self.sizes = pending  # shard -> number of inputs
        self.pending = deque(pending)
        self.tables: list[pa.Table] = []
        self.skipped: list[tuple[str, str]] = []  # unreadable inputs and rejected table lines
        self.rejected = 0

    def add(self, table: pa.Table) -> None:
        for shard in _runs(table["shard"].to_pylist()):
            while self.pending[0] != shard[0]:
                self.flush()
            part = table.slice(shard[1], shard[2])
            columns = (part[key].to_pylist() for key in ("source", "error", "rejected"))
            for name, error, rejected in zip(*columns, strict=True):
                if error is not None:
                    if self.on_error == "fail":
                        raise InputError(error)
                    logger.warning("%s %s", "rejected" if rejected else "skipped", error)
                    self.skipped.append((name, error))
                    self.rejected += bool(rejected)
            self.tables.append(part.filter(pc.is_null(part["error"])))

    def flush(self) -> None:
        """Write the first pending shard (empty if none of its inputs had clauses)."""
        index = self.pending.popleft()
        path = shard_path(self.folder, index, self.fmt)
        table = pa.concat_tables(self.tables) if self.tables else PARQUET_SCHEMA.empty_table()
        if self.skipped:  # written before the shard: a shard that exists has its list of skips
            staging = _skipped_path(path).with_suffix(".tmp")
            staging.write_text(json.dumps(self.skipped), encoding="utf-8")
            staging.replace(_skipped_path(path))
        else:  # a list from a killed run, whose input may since have been fixed
            _skipped_path(path).unlink(missing_ok=True)
        carried = "extra" in table.column_names and table["extra"].null_count < table.num_rows
        if self.fmt == "parquet" and not carried:  # columnar: the driver writes every clause
            staging = path.with_name(path.name + ".tmp")
            pq.write_table(table.select(PARQUET_SCHEMA.names).cast(PARQUET_SCHEMA), staging)
            os.replace(staging, path)
        else:
            finalize(path, path, lambda: _records(table))
        self.report.clauses += table.num_rows
        self.report.sources += self.sizes[index]  # as the local path: skipped inputs count
        self.report.rejected += self.rejected
        self.report.skipped += self.skipped
        self.tables, self.skipped, self.rejected = [], [], 0


def _runs(values: list[int]) -> Iterator[tuple[int, int, int]]:
    """(value, offset, length) of each run of equal consecutive values."""
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            yield values[start], start, i - start
            start = i


def run_distributed(
    model: str | Path,
    inputs: list[str],
    output: str | Path,
    *,
    address: str | None = None,
    workers: int = 1,
    gpus_per_worker: float = 0,
    cpus_per_worker: float = 1,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 32,
    backend: str = "torch",
    on_error: str = "skip",
    shard_size: int = 256,
    fmt: str = "parquet",
    summary: str | Path | None = None,
) -> RunReport:
    """Label every clause of ``inputs`` on Ray into shards ``output/part-NNNNN.parquet``.

    Shards of ``shard_size`` inputs, in input order; a re-run with the same inputs skips
    the shards already written. Writes the per-policy summary (default ``output/summary.json``).
    """
    if fmt not in SHARD_FORMATS:
        raise InputError(f"shard format '{fmt}': expected one of {', '.join(SHARD_FORMATS)}")
    if shard_size < 1 or workers < 1:
        raise InputError("--shard-size and --workers must be at least 1")
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: the ray engine writes a folder of shards; this is a file")
    _check_settings(model, device, precision, gpus_per_worker)
    sources = expand_inputs(inputs)
    if any(source.name == STDIN for source in sources):
        raise InputError("standard input (-) is read by the local engine only")
    count = _manifest(folder, model, sources, shard_size, fmt)
    shards = {i: sources[i * shard_size : (i + 1) * shard_size] for i in range(count)}
    report = RunReport(folder)
    pending = {}
    for index, members in shards.items():
        path = shard_path(folder, index, fmt)
        if not path.exists():
            pending[index] = members
            continue
        report.resumed_sources += len(members)
        if _skipped_path(path).exists():
            report.skipped += [tuple(item) for item in json.loads(_skipped_path(path).read_text("utf-8"))]
    with _ray_session(address):
        if pending:
            _label_shards(model, pending, folder, fmt, on_error, report, workers=workers,
                          gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker, device=device,
                          precision=precision, batch_size=batch_size, backend=backend)  # fmt: skip
        summaries = ray.data.from_items([{"path": str(p)} for p in shard_files(folder)]).map(summarize_shard)
        merged = {k: v for row in summaries.iter_rows() for k, v in json.loads(row["summary"]).items()}
    report.summary_files = write_summary(merged, summary or folder / "summary.json")
    return report


@contextmanager
def _ray_session(address: str | None) -> Iterator[None]:
    """Connect to Ray unless already connected (then leave it so); results in input order."""
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    execution = ray.data.DataContext.get_current().execution_options
    ordered = execution.preserve_order
    execution.preserve_order = True  # rows return in input order: one shard at a time
    try:
        yield
    finally:
        execution.preserve_order = ordered
        if started:
            ray.shutdown()


def _label_shards(
    model: str | Path, pending: dict[int, list[Source]], folder: Path, fmt: str, on_error: str,
    report: RunReport, **options,
) -> None:  # fmt: skip
    """Read, label and write the pending shards."""
    items = [{"shard": i, "source": s.name, "kind": s.kind, "policy_id": s.policy_id}
             for i, group in pending.items() for s in group]  # fmt: skip
    clauses = ray.data.from_items(items).map_batches(
        read_sources, batch_size=1, batch_format="pyarrow", num_cpus=READ_CPUS,
        compute=ray.data.TaskPoolStrategy(size=options["workers"]),
    )  # fmt: skip
    writer = _ShardWriter(folder, fmt, {i: len(members) for i, members in pending.items()}, on_error, report)
    labelled = predict_dataset(clauses, model, **options)
    for table in labelled.iter_batches(batch_format="pyarrow", batch_size=None):
        writer.add(table)
    while writer.pending:
        writer.flush()

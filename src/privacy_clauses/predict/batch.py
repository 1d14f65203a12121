"""Batch inference over many inputs: streaming, resumable, one bad input never loses the rest.

Records go to ``<output>.part`` (JSON Lines) in input order, in chunks; each input whose
clauses are all written is listed in ``<output>.done``. ``resume`` keeps the finished
inputs and redoes the rest. The final file replaces the part file only when complete.
Lines that cannot be labeled go to ``<output>.rejects.jsonl`` (file, line, reason).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .classifier import ClauseClassifier
from .readers import STDIN, ClauseRow, InputError, Reject, Source, count_rows, expand_inputs
from .summary import summarize, write_summary
from .writers import carry, finalize, output_format, read_jsonl

logger = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What a batch run did."""

    output: Path
    clauses: int = 0
    sources: int = 0
    resumed_sources: int = 0
    truncated: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    rejected: int = 0
    rejects_file: Path | None = None
    summary_files: list[Path] = field(default_factory=list)


def part_paths(output: Path) -> tuple[Path, Path]:
    return output.with_name(output.name + ".part"), output.with_name(output.name + ".done")


def rejects_path(output: Path) -> Path:
    """Where the lines that could not be labeled go: ``OUT.rejects.jsonl`` beside the output."""
    return output.with_name(output.name + ".rejects.jsonl")


def check_paths(inputs: list[str], output: str | Path, *others: str | Path | None) -> None:
    """Refuse, before any work, an output folder that is missing or unwritable and an output
    (or summary, report, rejects file) that is one of the inputs."""
    output = Path(output)
    output_format(output)
    folder = output.parent
    if not folder.exists():
        raise InputError(f"{output}: the output folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{output}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{output}: the output folder {folder} is not writable")
    written = [output, rejects_path(output), *(Path(p) for p in others if p)]
    for item in inputs:
        if item == STDIN:
            continue
        path = Path(item).resolve()
        for target in written:
            if target.resolve() == path:
                raise InputError(f"{target}: is also an input; writing it would destroy the input")


def _finished(part: Path, done: Path, rejects: Path, resume: bool) -> set[str]:
    """Inputs already complete; the part and rejects files are trimmed to their records."""
    if not resume or not part.exists() or not done.exists():
        for path in (part, done, rejects):
            path.unlink(missing_ok=True)
        return set()
    finished = set(done.read_text(encoding="utf-8").splitlines())
    for path, key in ((part, "source"), (rejects, "file")):
        if not path.exists():
            continue
        trimmed = path.with_name(path.name + ".trim")
        with trimmed.open("w", encoding="utf-8") as handle:
            for record in read_jsonl(path):
                if record[key] in finished:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        trimmed.replace(path)
    return finished


def _rows(sources: list[Source], report: RunReport, on_error: str) -> Iterator[ClauseRow | Reject | str]:
    """Clauses and rejected lines of every readable source, then the source's name as an end marker."""
    for source in tqdm(sources, desc="inputs", unit="file", disable=len(sources) < 2 or None):
        try:
            for item in source.rows():
                if isinstance(item, Reject) and on_error == "fail":
                    raise InputError(str(item))
                yield item
        except InputError as error:
            if on_error == "fail":
                raise
            report.skipped.append((source.name, str(error)))
            logger.warning("skipped %s", error)
            yield Reject(source.name, 0, f"skipped: {error}")
        yield source.name


def _record(row: ClauseRow, prediction) -> dict:
    """The output record: the clause, its labels and probabilities, then the carried table columns."""
    record = {
        "source": row.source, "policy_id": row.policy_id, "id": row.id, "start": row.start,
        "end": row.end, "context": row.context, "text": row.text, "categories": prediction.categories,
        "legal_basis": prediction.legal_basis, "probabilities": prediction.probabilities,
    }  # fmt: skip
    return carry(record, row.extra)


def predict_inputs(
    classifier: ClauseClassifier,
    inputs: list[str],
    output: str | Path,
    *,
    on_error: str = "skip",
    resume: bool = False,
    chunk_size: int = 1024,
    summary: str | Path | None = None,
    report_dir: str | Path | None = None,
    whole_page: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> RunReport:
    """Label every clause of ``inputs`` into ``output`` (.jsonl, .csv or .parquet).

    A bad table line goes to ``OUT.rejects.jsonl`` with its reason and the rest is labeled
    (``on_error="fail"``: the first one stops the run). Ids are unique in the output: a line
    repeating an id is rejected. ``shard=(k, n)`` takes the k-th of n contiguous slices of the
    inputs (one process of ``accelerate launch``); ``merge_shards`` joins them in input order.
    """
    output = Path(output)
    check_paths(inputs, output, summary, report_dir)
    part, done = part_paths(output)
    rejects = rejects_path(output).with_suffix(".jsonl.part")
    report = RunReport(output)
    finished = _finished(part, done, rejects, resume)
    # ids of table rows seen so far; a policy file's ids are distinct by construction (distinct
    # names in a run, numbered clauses), so a crawl of pages keeps no set that grows with it
    seen = {r["id"] for r in read_jsonl(part) if r["start"] is None} if finished else set()
    sources = [s for s in shard_of(expand_inputs(inputs, whole_page), *shard) if s.name not in finished]
    report.resumed_sources = len(finished)
    buffer: list[ClauseRow] = []
    ended: list[str] = []
    progress = tqdm(total=count_rows(sources), desc="clauses", unit="clause", disable=None)
    with (
        part.open("a", encoding="utf-8") as records,
        done.open("a", encoding="utf-8") as marks,
        rejects.open("a", encoding="utf-8") as bad,
        progress,
    ):

        def flush() -> None:
            probs = classifier.predict_proba([r.text for r in buffer], [r.context for r in buffer])
            for row, prediction in zip(buffer, classifier.decide(probs), strict=True):
                records.write(json.dumps(_record(row, prediction), ensure_ascii=False) + "\n")
            records.flush()
            bad.flush()
            marks.writelines(name + "\n" for name in ended)
            marks.flush()
            report.clauses += len(buffer)
            report.sources += len(ended)
            progress.update(len(buffer))
            buffer.clear()
            ended.clear()

        for item in _rows(sources, report, on_error):
            if isinstance(item, ClauseRow) and item.start is None and item.id in seen:
                item = Reject(item.source, item.line, f"duplicate id {item.id!r}; the first one was labeled")
                if on_error == "fail":
                    raise InputError(str(item))
            if isinstance(item, str):
                ended.append(item)
            elif isinstance(item, Reject):
                bad.write(json.dumps({"file": item.source, "line": item.line, "reason": item.reason}) + "\n")
                report.rejected += not item.reason.startswith("skipped: ")
            else:
                if item.start is None:
                    seen.add(item.id)
                buffer.append(item)
            if len(buffer) >= chunk_size:
                flush()
        flush()
    report.truncated = classifier.truncated
    if summary is not None or report_dir is not None:
        report.summary_files = _summaries(part, summary, report_dir)
    finalize(part, output)
    part.unlink()
    done.unlink()
    if rejects.stat().st_size:
        report.rejects_file = rejects.replace(rejects_path(output))
    else:  # nothing rejected: no rejects file, not even one left by an earlier run
        rejects.unlink()
        rejects_path(output).unlink(missing_ok=True)
    return report


def _summaries(part: Path, summary: str | Path | None, report_dir: str | Path | None) -> list[Path]:
    files = write_summary(summarize(read_jsonl(part)), summary) if summary is not None else []
    if report_dir is not None:
        from .report import write_report

        files += write_report(read_jsonl(part), report_dir)
    return files


def shard_of(sources: list[Source], index: int, count: int) -> list[Source]:
    """The ``index``-th of ``count`` contiguous, near-equal slices of ``sources``."""
    size, extra = divmod(len(sources), count)
    start = index * size + min(index, extra)
    return sources[start : start + size + (index < extra)]


def shard_output(output: Path, index: int) -> Path:
    return output.with_name(f"{output.name}.shard{index}.jsonl")


def merge_shards(
    output: Path, count: int, summary: str | Path | None = None, report_dir: str | Path | None = None
) -> list[Path]:
    """Join the shard outputs in order into ``output`` (and the summary); remove the shards."""
    shards = [shard_output(output, index) for index in range(count)]

    def records() -> Iterator[dict]:
        for shard in shards:
            yield from read_jsonl(shard)

    files = write_summary(summarize(records()), summary) if summary is not None else []
    if report_dir is not None:
        from .report import write_report

        files += write_report(records(), report_dir)
    finalize(shards[0], output, records)
    found = [rejects_path(shard) for shard in shards if rejects_path(shard).exists()]
    if found:
        with rejects_path(output).open("w", encoding="utf-8") as handle:
            for path in found:
                handle.write(path.read_text(encoding="utf-8"))
                path.unlink()
    for shard in shards:
        shard.unlink()
    return files


def run_predict(model: str | Path, inputs: list[str], output: str | Path, *, device: str = "auto",
                precision: str = "auto", batch_size: int = 32, backend: str = "torch",
                **options) -> RunReport | None:  # fmt: skip
    """Load the model and label ``inputs``; under ``accelerate launch`` each process takes a
    contiguous slice on its own device and the main process merges them in order.

    Returns the report (``None`` in a secondary process).
    """
    from accelerate import PartialState
    from accelerate.utils import gather_object

    check_paths(inputs, output, options.get("summary"), options.get("report_dir"))
    state = PartialState()
    world, rank = state.num_processes, state.process_index
    if world > 1 and device == "auto":
        device = str(state.device)
    classifier = ClauseClassifier.from_pretrained(
        model, device=device, precision=precision, batch_size=batch_size, backend=backend
    )
    if world == 1:
        return predict_inputs(classifier, inputs, output, **options)
    summary = options.pop("summary", None)
    report_dir = options.pop("report_dir", None)
    report = predict_inputs(
        classifier, inputs, shard_output(Path(output), rank), shard=(rank, world), **options
    )
    reports = gather_object([report])  # also waits for every process
    if not state.is_main_process:
        return None
    report = RunReport(Path(output))
    for part in reports:
        report.clauses += part.clauses
        report.sources += part.sources
        report.resumed_sources += part.resumed_sources
        report.truncated += part.truncated
        report.skipped += part.skipped
        report.rejected += part.rejected
    report.summary_files = merge_shards(Path(output), world, summary, report_dir)
    return report

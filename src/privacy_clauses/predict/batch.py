"""Batch inference over many inputs: streaming, resumable, one bad input never loses the rest.

Records go to ``<output>.part`` (JSON Lines) in input order, in chunks; each input whose
clauses are all written is listed in ``<output>.done``. ``resume`` keeps the finished
inputs and redoes the rest. The final file replaces the part file only when complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .classifier import ClauseClassifier
from .readers import ClauseRow, InputError, Source, expand_inputs
from .summary import summarize, write_summary
from .writers import finalize, output_format, read_jsonl

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
    summary_files: list[Path] = field(default_factory=list)


def part_paths(output: Path) -> tuple[Path, Path]:
    return output.with_name(output.name + ".part"), output.with_name(output.name + ".done")


def _finished(part: Path, done: Path, resume: bool) -> set[str]:
    """Inputs already complete; the part file is trimmed to their records."""
    if not resume or not part.exists() or not done.exists():
        part.unlink(missing_ok=True)
        done.unlink(missing_ok=True)
        return set()
    finished = set(done.read_text(encoding="utf-8").splitlines())
    trimmed = part.with_name(part.name + ".trim")
    with trimmed.open("w", encoding="utf-8") as handle:
        for record in read_jsonl(part):
            if record["source"] in finished:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    trimmed.replace(part)
    return finished


def _rows(sources: list[Source], report: RunReport, on_error: str) -> Iterator[ClauseRow | str]:
    """Clauses of every readable source, then the source's name as an end marker."""
    for source in tqdm(sources, desc="inputs", unit="file", disable=len(sources) < 2):
        try:
            source.check()
            yield from source.rows()
        except InputError as error:
            if on_error == "fail":
                raise
            report.skipped.append((source.name, str(error)))
            logger.warning("skipped %s", error)
            continue
        yield source.name


def predict_inputs(
    classifier: ClauseClassifier,
    inputs: list[str],
    output: str | Path,
    *,
    on_error: str = "skip",
    resume: bool = False,
    chunk_size: int = 1024,
    summary: str | Path | None = None,
    shard: tuple[int, int] = (0, 1),
) -> RunReport:
    """Label every clause of ``inputs`` into ``output`` (.jsonl, .csv or .parquet).

    ``shard=(k, n)`` takes the k-th of n contiguous slices of the inputs (one process of
    ``accelerate launch``); ``merge_shards`` joins the slices in input order.
    """
    output = Path(output)
    output_format(output)
    part, done = part_paths(output)
    report = RunReport(output)
    finished = _finished(part, done, resume)
    sources = [s for s in shard_of(expand_inputs(inputs), *shard) if s.name not in finished]
    report.resumed_sources = len(finished)
    buffer: list[ClauseRow] = []
    ended: list[str] = []
    with part.open("a", encoding="utf-8") as records, done.open("a", encoding="utf-8") as marks:

        def flush() -> None:
            probs = classifier.predict_proba([r.text for r in buffer], [r.context for r in buffer])
            for row, prediction in zip(buffer, classifier.decide(probs), strict=True):
                record = {
                    "source": row.source, "id": row.id, "start": row.start, "end": row.end,
                    "context": row.context, "text": row.text, "categories": prediction.categories,
                    "legal_basis": prediction.legal_basis, "probabilities": prediction.probabilities,
                }  # fmt: skip
                records.write(json.dumps(record, ensure_ascii=False) + "\n")
            records.flush()
            marks.writelines(name + "\n" for name in ended)
            marks.flush()
            report.clauses += len(buffer)
            report.sources += len(ended)
            buffer.clear()
            ended.clear()

        for item in _rows(sources, report, on_error):
            if isinstance(item, str):
                ended.append(item)
            else:
                buffer.append(item)
            if len(buffer) >= chunk_size:
                flush()
        flush()
    report.truncated = classifier.truncated
    if summary is not None:
        report.summary_files = write_summary(summarize(read_jsonl(part)), summary)
    finalize(part, output)
    part.unlink()
    done.unlink()
    return report


def shard_of(sources: list[Source], index: int, count: int) -> list[Source]:
    """The ``index``-th of ``count`` contiguous, near-equal slices of ``sources``."""
    size, extra = divmod(len(sources), count)
    start = index * size + min(index, extra)
    return sources[start : start + size + (index < extra)]


def shard_output(output: Path, index: int) -> Path:
    return output.with_name(f"{output.name}.shard{index}.jsonl")


def merge_shards(output: Path, count: int, summary: str | Path | None = None) -> list[Path]:
    """Join the shard outputs in order into ``output`` (and the summary); remove the shards."""
    shards = [shard_output(output, index) for index in range(count)]

    def records() -> Iterator[dict]:
        for shard in shards:
            yield from read_jsonl(shard)

    files = write_summary(summarize(records()), summary) if summary is not None else []
    finalize(shards[0], output, records())
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
    report.summary_files = merge_shards(Path(output), world, summary)
    return report

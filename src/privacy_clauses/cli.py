"""The ``privacy-clauses`` command: parses arguments, calls the API, prints. No logic of its own."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .data import ClauseFileError, read_records, validate_file, write_records
from .data.agreement import agreement_table
from .data.policies import clause_records
from .data.stats import stats_table

DEFAULT_CLAUSES = "data/clauses.jsonl"


class UserError(Exception):
    """A mistake in the user's input: reported in one line, never as a traceback."""


def _data_validate(args: argparse.Namespace) -> int:
    problems = validate_file(args.file, args.policies)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.file}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.file}: OK ({len(read_records(args.file))} clauses)")
    return 0


def _data_stats(args: argparse.Namespace) -> int:
    print(stats_table(_read(args.file)))
    return 0


def _data_segment(args: argparse.Namespace) -> int:
    records = []
    for path in args.policies:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such policy file")
        try:
            records += clause_records(path)
        except UnicodeDecodeError as error:
            raise UserError(f"{path}: not UTF-8 text ({error.reason})") from error
    write_records(records, args.output)
    print(f"{args.output}: {len(records)} unlabeled clauses from {len(args.policies)} policies")
    return 0


def _data_agreement(args: argparse.Namespace) -> int:
    print(agreement_table(_read(args.first), _read(args.second)))
    return 0


def _train(args: argparse.Namespace) -> int:
    from .model.checkpoint import ModelLoadError
    from .train.config import ConfigError, load_config
    from .train.run import TrainingError, train

    try:
        config = load_config(args.config, args.overrides)
        output = train(config, resume=args.resume)
    except (ConfigError, TrainingError, ModelLoadError) as error:
        raise UserError(str(error)) from error
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    print(f"model: {output / 'model'}")
    for name, value in metrics.items():
        print(f"  {name}: {value:.4g}" if isinstance(value, float) else f"  {name}: {value}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .model.checkpoint import ModelLoadError
    from .predict.batch import run_predict
    from .predict.readers import InputError

    try:
        report = run_predict(
            args.model, args.inputs, args.output, device=args.device, precision=args.precision,
            batch_size=args.batch_size, on_error=args.on_error, resume=args.resume, summary=args.summary,
        )  # fmt: skip
    except (ModelLoadError, InputError, ValueError) as error:
        raise UserError(str(error)) from error
    if report is None:  # a secondary process of `accelerate launch`: the main one reports
        return 0
    resumed = f", {report.resumed_sources} kept from the interrupted run" if report.resumed_sources else ""
    print(f"{report.output}: {report.clauses} clauses from {report.sources} input(s){resumed}")
    for path in report.summary_files:
        print(f"summary: {path}")
    if report.truncated:
        print(f"warning: {report.truncated} clause(s) longer than the model's maximum length were truncated")
    for _name, reason in report.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    return 1 if report.skipped else 0


def _read(path: str):
    try:
        return read_records(path)
    except FileNotFoundError as error:
        raise UserError(f"{path}: file not found") from error
    except ClauseFileError as error:
        raise UserError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="privacy-clauses", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="check, count and build clause files")
    data_commands = data.add_subparsers(dest="data_command", required=True)

    validate = data_commands.add_parser("validate", help="check a clause file; exit 1 on problems")
    validate.add_argument("file", nargs="?", default=DEFAULT_CLAUSES)
    validate.add_argument("--policies", help="folder of policy sources (default: policies/ beside FILE)")
    validate.set_defaults(run=_data_validate)

    stats = data_commands.add_parser("stats", help="print label counts per policy")
    stats.add_argument("file", nargs="?", default=DEFAULT_CLAUSES)
    stats.set_defaults(run=_data_stats)

    segment = data_commands.add_parser("segment", help="split policies into unlabeled clause records")
    segment.add_argument("policies", nargs="+", help="policy files (.md, .txt, .html)")
    segment.add_argument("-o", "--output", required=True, help="JSONL file to write")
    segment.set_defaults(run=_data_segment)

    agreement = data_commands.add_parser("agreement", help="Cohen's kappa between two label passes")
    agreement.add_argument("first")
    agreement.add_argument("second")
    agreement.set_defaults(run=_data_agreement)

    train = commands.add_parser("train", help="fine-tune a model from a YAML config")
    train.add_argument("--config", help="YAML config (default: built-in defaults)")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override config fields")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help="label every clause of policies or clause files")
    predict.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="policy/clause files, folders, or - (stdin)"
    )
    predict.add_argument("--model", required=True, help="model folder written by 'train'")
    predict.add_argument("-o", "--output", required=True, help="output file: .jsonl, .csv or .parquet")
    predict.add_argument("--summary", help="per-policy summary: FILE.json and FILE.md")
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    predict.add_argument("--precision", default="auto", help="auto, fp32, bf16, int8 (CPU), fp16 (GPU)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--on-error", choices=("skip", "fail"), default="skip")
    predict.add_argument("--resume", action="store_true", help="continue an interrupted run")
    predict.set_defaults(run=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

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
    problems = validate_file(args.file, args.policies, args.written)
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


def _data_duplicates(args: argparse.Namespace) -> int:
    from .data.duplicates import near_duplicates

    reference = [record for path in args.against for record in _read(path)]
    pairs = near_duplicates(_read(args.file), reference, threshold=args.threshold)
    for pair in pairs:
        print(pair)
    print(f"{args.file}: {len(pairs)} near-duplicate pair(s) at TF-IDF cosine >= {args.threshold}")
    return 1 if pairs else 0


def _data_import_opp115(args: argparse.Namespace) -> int:
    from .data.opp115 import import_opp115

    try:
        report = import_opp115(args.corpus, args.output, level=args.level)
    except ValueError as error:
        raise UserError(str(error)) from error
    for line in report.lines():
        print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout)
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
        if args.engine == "ray":
            report = _predict_on_ray(args)
        else:
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


def _predict_on_ray(args: argparse.Namespace):
    """The ray engine; Ray is imported only here."""
    try:
        from .predict.distributed import run_distributed
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != "ray":
            raise
        raise UserError("--engine ray needs Ray: pip install 'privacy-clauses[ray]'") from error
    return run_distributed(
        args.model, args.inputs, args.output, address=args.address, workers=args.workers,
        gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker, device=args.device,
        precision=args.precision, batch_size=args.batch_size, on_error=args.on_error,
        shard_size=args.shard_size, fmt=args.shard_format, summary=args.summary,
    )  # fmt: skip


def _evaluate(args: argparse.Namespace) -> int:
    from .eval import EvaluationError, cross_validate, evaluate_model, headline_table, write_report
    from .model.checkpoint import ModelLoadError
    from .train.config import ConfigError, load_config
    from .train.run import TrainingError

    if (args.cv is None) == (args.model is None):
        raise UserError("evaluate needs either --model DIR (held-out) or --cv lopo (cross-validation)")
    try:
        if args.model:
            evaluation = evaluate_model(args.model, args.data, device=args.device)
        else:
            config = load_config(args.config, args.overrides)
            variants = {"model": config}
            if args.ablation:
                if not config.supplementary:
                    raise UserError(
                        "--ablation compares with and without the config's supplementary set; none is set"
                    )
                variants = {
                    "model+written": config,
                    "model": config.model_copy(update={"supplementary": None}),
                }
            seeds = [config.seed + i for i in range(args.seeds)]
            evaluation = cross_validate(variants, seeds, Path(args.output) / "folds")
        metrics = write_report(evaluation, args.output, resamples=args.resamples)
    except (
        ConfigError,
        TrainingError,
        ModelLoadError,
        EvaluationError,
        ClauseFileError,
        ValueError,
    ) as error:
        raise UserError(str(error)) from error
    print(headline_table(metrics))
    print(f"{args.output}/report.md ({evaluation.mode}, {len(evaluation.seeds)} seed(s), "
          f"{evaluation.seconds / 60:.1f} min)")  # fmt: skip
    return 0


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
    validate.add_argument("--written", help="folder of written documents (default: written/ beside FILE)")
    validate.set_defaults(run=_data_validate)

    stats = data_commands.add_parser("stats", help="print label counts per policy")
    stats.add_argument("file", nargs="?", default=DEFAULT_CLAUSES)
    stats.set_defaults(run=_data_stats)

    segment = data_commands.add_parser("segment", help="split policies into unlabeled clause records")
    segment.add_argument("policies", nargs="+", help="policy files (.md, .txt, .html)")
    segment.add_argument("-o", "--output", required=True, help="JSONL file to write")
    segment.set_defaults(run=_data_segment)

    duplicates = data_commands.add_parser("duplicates", help="near-duplicate clauses (TF-IDF cosine)")
    duplicates.add_argument("file")
    duplicates.add_argument("--against", nargs="*", default=[], help="clause files to compare with too")
    duplicates.add_argument("--threshold", type=float, default=0.9)
    duplicates.set_defaults(run=_data_duplicates)

    opp115 = data_commands.add_parser("import-opp115", help="convert the OPP-115 corpus to clause records")
    opp115.add_argument("corpus", help="the OPP-115 folder (sanitized_policies/, annotations/)")
    opp115.add_argument(
        "-o", "--output", required=True, help="JSONL file (policy texts: policies/ beside it)"
    )
    opp115.add_argument("--level", choices=("clause", "segment"), default="clause")
    opp115.set_defaults(run=_data_import_opp115)

    agreement = data_commands.add_parser("agreement", help="Cohen's kappa between two label passes")
    agreement.add_argument("first")
    agreement.add_argument("second")
    agreement.set_defaults(run=_data_agreement)

    train = commands.add_parser("train", help="fine-tune a model from a YAML config")
    train.add_argument("--config", help="YAML config (default: built-in defaults)")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override config fields")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="score a model on held-out policies, or cross-validate")
    evaluate.add_argument("--model", help="model folder written by 'train' (held-out evaluation)")
    evaluate.add_argument(
        "--data", help="labeled clauses of unseen policies (default: the model's test policies)"
    )
    evaluate.add_argument("--cv", choices=("lopo",), help="leave-one-policy-out: train one model per policy")
    evaluate.add_argument("--config", help="YAML config for --cv (default: built-in defaults)")
    evaluate.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override config fields (--cv)")
    evaluate.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds per fold (--cv)")
    evaluate.add_argument(
        "--ablation", action="store_true", help="--cv with and without the config's supplementary set"
    )
    evaluate.add_argument("-o", "--output", required=True, help="report folder to write")
    evaluate.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for the CIs")
    evaluate.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    evaluate.set_defaults(run=_evaluate)

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
    _add_ray_arguments(predict)
    predict.set_defaults(run=_predict)
    return parser


def _add_ray_arguments(predict: argparse.ArgumentParser) -> None:
    predict.add_argument(
        "--engine", choices=("local", "ray"), default="local",
        help="ray: run on a Ray cluster; -o is then a folder of shards (needs the [ray] extra)",
    )  # fmt: skip
    ray = predict.add_argument_group("--engine ray")
    ray.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    ray.add_argument("--workers", type=int, default=1, help="model actors, one loaded model each")
    ray.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per actor (0.5: two share one)")
    ray.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per actor (its torch threads)")
    ray.add_argument("--shard-size", type=int, default=256, help="inputs per output shard (unit of resume)")
    ray.add_argument("--shard-format", choices=("parquet", "jsonl"), default="parquet")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

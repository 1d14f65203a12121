"""The ``privacy-clauses`` command: parses arguments, calls the API, prints. No logic of its own."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .data import read_records, validate_file, write_records
from .data.agreement import agreement_table
from .data.errors import PrivacyClausesError
from .data.policies import clause_records
from .data.sources import SourceError
from .data.stats import stats_table

DEFAULT_CLAUSES = "data/clauses.jsonl"
DESCRIPTION = "Label the clauses of privacy policies: OPP-115 practice categories and GDPR legal bases."
WHOLE_PAGE_HELP = "HTML: keep menus, banners and footers too (default: the page's main content only)"


class UserError(PrivacyClausesError):
    """A mistake in the command line itself: reported in one line, never as a traceback."""


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
            records += clause_records(path, whole_page=args.whole_page)
        except SourceError as error:
            raise UserError(str(error)) from error
    try:
        write_records(records, args.output)
    except OSError as error:
        raise UserError(f"{args.output}: cannot write ({error.strerror})") from error
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

    report = import_opp115(args.corpus, args.output, level=args.level)
    for line in report.lines():
        print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout)
    return 0


def _data_agreement(args: argparse.Namespace) -> int:
    print(agreement_table(_read(args.first), _read(args.second)))
    return 0


def _train(args: argparse.Namespace) -> int:
    from .train.config import load_config
    from .train.run import train

    output = train(load_config(args.config, args.overrides), resume=args.resume, overwrite=args.overwrite)
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    print(f"model: {output / 'model'}")
    for name, value in metrics.items():
        print(f"  {name}: {value:.4g}" if isinstance(value, float) else f"  {name}: {value}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .predict.batch import run_predict

    if args.engine == "ray":
        report = _predict_on_ray(args)
    else:
        report = run_predict(
            args.model, args.inputs, args.output, device=args.device, precision=args.precision,
            batch_size=args.batch_size, on_error=args.on_error, resume=args.resume, summary=args.summary,
            backend=args.backend, report_dir=args.report, whole_page=args.whole_page,
        )  # fmt: skip
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
    if report.rejects_file:
        print(f"rejected: {report.rejected} line(s), with reasons: {report.rejects_file}", file=sys.stderr)
    return 1 if report.skipped or report.rejected else 0


def _export(args: argparse.Namespace) -> int:
    from .predict.export import export_onnx, export_openvino

    if args.format == "onnx":
        if args.calibration:
            raise UserError("--calibration is for --format openvino --int8 (ONNX int8 is dynamic)")
        written = export_onnx(args.model, int8=args.int8)
    else:
        written = export_openvino(args.model, int8=args.int8, calibration=args.calibration)
    for path in written:
        print(path)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from .serve.app import serve
    except ImportError as error:
        raise UserError(f"serve needs fastapi and uvicorn ({error.name} is missing): "
                        "pip install 'privacy-clauses[serve]'") from error  # fmt: skip
    serve(args.model, host=args.host, port=args.port, backend=args.backend, precision=args.precision,
          device=args.device, batch_size=args.batch_size, max_batch=args.max_batch,
          max_wait_ms=args.max_wait_ms, access_log=args.access_log)  # fmt: skip
    return 0


def _push(args: argparse.Namespace) -> int:
    from .model.hub import push_model

    print(push_model(args.model, args.repo_id, private=args.private))
    return 0


def _predict_on_ray(args: argparse.Namespace):
    """The ray engine; Ray is imported only here."""
    if args.report or args.whole_page:
        raise UserError("--report and --whole-page work with the local engine only (--engine local)")
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
        shard_size=args.shard_size, fmt=args.shard_format, summary=args.summary, backend=args.backend,
    )  # fmt: skip


def _evaluate(args: argparse.Namespace) -> int:
    from .eval import cross_validate, evaluate_model, headline_table, write_report
    from .train.config import load_config

    if (args.cv is None) == (args.model is None):
        raise UserError("evaluate needs either --model DIR (held-out) or --cv lopo (cross-validation)")
    if args.model:
        evaluation = evaluate_model(args.model, args.data, device=args.device)
    else:
        config = load_config(args.config, args.overrides)
        variants = {"model": config}
        if args.ablation:
            if not config.supplementary:
                raise UserError("--ablation compares with and without the config's supplementary set; "
                                "none is set")  # fmt: skip
            variants = {
                "model+written": config,
                "model": config.model_copy(update={"supplementary": None}),
            }
        for extra in args.compare:  # the same folds and seeds with other settings
            variants[f"model[{extra}]"] = load_config(args.config, [*args.overrides, *extra.split()])
        seeds = [config.seed + i for i in range(args.seeds)]
        evaluation = cross_validate(variants, seeds, Path(args.output) / "folds")
    metrics = write_report(evaluation, args.output, resamples=args.resamples)
    print(headline_table(metrics))
    print(f"{args.output}/report.md ({evaluation.mode}, {len(evaluation.seeds)} seed(s), "
          f"{evaluation.seconds / 60:.1f} min)")  # fmt: skip
    return 0


def _read(path: str):
    try:
        return read_records(path)
    except FileNotFoundError as error:
        raise UserError(f"{path}: file not found") from error


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default (when it has one worth showing)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.required:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Subcommand parsers that show defaults too."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The command line: every option's choices and default appear in ``--help``."""
    from .model.precision import BACKENDS, PRECISIONS

    parser = _Parser(prog="privacy-clauses", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    data = commands.add_parser("data", help="check, count and build clause files")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)

    validate = data_commands.add_parser("validate", help="check a clause file; exit 1 on problems")
    validate.add_argument("file", nargs="?", default=DEFAULT_CLAUSES)
    validate.add_argument("--policies", help="folder of policy sources (default: policies/ beside FILE)")
    validate.add_argument("--written", help="folder of written documents (default: written/ beside FILE)")
    validate.set_defaults(run=_data_validate)

    stats = data_commands.add_parser("stats", help="print label counts per policy")
    stats.add_argument("file", nargs="?", default=DEFAULT_CLAUSES)
    stats.set_defaults(run=_data_stats)

    segment = data_commands.add_parser("segment", help="split policies into unlabeled clause records")
    segment.add_argument("policies", nargs="+", help="policy files (.md, .txt, .html, .pdf)")
    segment.add_argument("-o", "--output", required=True, help="JSONL file to write")
    segment.add_argument("--whole-page", action="store_true", help=WHOLE_PAGE_HELP)
    segment.set_defaults(run=_data_segment)

    duplicates = data_commands.add_parser("duplicates", help="near-duplicate clauses (TF-IDF cosine)")
    duplicates.add_argument("file")
    duplicates.add_argument("--against", nargs="*", default=[], help="clause files to compare with too")
    duplicates.add_argument("--threshold", type=float, default=0.9, help="TF-IDF cosine similarity")
    duplicates.set_defaults(run=_data_duplicates)

    opp115 = data_commands.add_parser("import-opp115", help="convert the OPP-115 corpus to clause records")
    opp115.add_argument("corpus", help="the OPP-115 folder (sanitized_policies/, annotations/)")
    opp115.add_argument(
        "-o", "--output", required=True, help="JSONL file (policy texts: policies/ beside it)"
    )
    opp115.add_argument(
        "--level", choices=("clause", "segment"), default="clause", help="a record per clause or segment"
    )
    opp115.set_defaults(run=_data_import_opp115)

    agreement = data_commands.add_parser("agreement", help="Cohen's kappa between two label passes")
    agreement.add_argument("first")
    agreement.add_argument("second")
    agreement.set_defaults(run=_data_agreement)

    train = commands.add_parser("train", help="fine-tune a model from a YAML config")
    train.add_argument("--config", help="YAML config (default: built-in defaults)")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override config fields")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace the model of an existing run folder")
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
    evaluate.add_argument(
        "--compare", action="append", default=[], metavar="'KEY=VALUE ...'",
        help="--cv: also run the config with these overrides, on the same folds and seeds (repeatable)",
    )  # fmt: skip
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
    predict.add_argument("--report", help="folder for the cross-policy table (CSV, Parquet) and HTML report")
    predict.add_argument("--whole-page", action="store_true", help=WHOLE_PAGE_HELP)
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    predict.add_argument(
        "--precision", default="auto", choices=PRECISIONS,
        help="auto: fp32 on CPU, bf16 (or fp16) on a GPU; int8 is CPU only, fp16 GPU only",
    )  # fmt: skip
    predict.add_argument("--batch-size", type=int, default=32, help="clauses per forward pass")
    predict.add_argument(
        "--backend", choices=BACKENDS, default="torch",
        help="onnx (ONNX Runtime) or openvino: on CPU, from the files of 'export' (--precision fp32 or int8)",
    )  # fmt: skip
    predict.add_argument(
        "--on-error", choices=("skip", "fail"), default="skip",
        help="an unreadable input: skip it (exit 1) or stop (exit 2)",
    )  # fmt: skip
    predict.add_argument("--resume", action="store_true", help="continue an interrupted run")
    _add_ray_arguments(predict)
    predict.set_defaults(run=_predict)

    export = commands.add_parser("export", help="export a model for serving runtimes (ONNX, OpenVINO)")
    export.add_argument("--model", required=True, help="model folder written by 'train'")
    export.add_argument("--format", choices=("onnx", "openvino"), default="onnx",
                        help="files go to MODEL/onnx/ or MODEL/openvino/")  # fmt: skip
    export.add_argument(
        "--int8", action="store_true", help="also an int8 model (onnx: dynamic; openvino: calibrated)"
    )
    export.add_argument(
        "--calibration", nargs="+", metavar="FILE|DIR",
        help="openvino --int8: 300 clauses like those you will label, in any input predict reads",
    )  # fmt: skip
    export.set_defaults(run=_export)

    serve = commands.add_parser("serve", help="HTTP API: label clauses and policies on demand")
    serve.add_argument("--model", required=True, help="model folder written by 'train'")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="TCP port")
    serve.add_argument("--backend", choices=BACKENDS, default="torch", help="as for predict")
    serve.add_argument("--precision", default="auto", choices=PRECISIONS, help="as for predict")
    serve.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    serve.add_argument("--batch-size", type=int, default=32, help="clauses per forward pass")
    serve.add_argument("--max-batch", type=int, default=64, help="clauses collected from concurrent requests")
    serve.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a batch waits to fill")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(run=_serve)

    push = commands.add_parser("push", help="publish a model folder on the Hugging Face Hub")
    push.add_argument("--model", required=True, help="model folder written by 'train'")
    push.add_argument("repo_id", help="owner/name of the model repository (created if missing)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.set_defaults(run=_push)
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
    except PrivacyClausesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

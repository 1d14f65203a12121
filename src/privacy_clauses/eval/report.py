"""An evaluation's run folder: ``metrics.json`` (everything), ``report.md`` (tables), PNG plots,
and the most confident errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.labels import ALL_LABELS, TASK_COLUMNS, TASKS
from ..train.oof import write_oof_predictions
from .metrics import bootstrap_ci, per_policy, summarize
from .plots import plot_confusion, plot_label_f1, plot_pr_curves
from .predictions import Evaluation, Predictions

TOP_ERRORS = 15


def primary_model(evaluation: Evaluation) -> str | None:
    """The model the errors and the confusion view are shown for: the first one evaluated."""
    return next((name for name in evaluation.systems if name.startswith("model")), None)


def compute_metrics(evaluation: Evaluation, resamples: int = 1000) -> dict:
    """Every figure of every system and task, machine-readable."""
    systems = {}
    for name, runs in evaluation.systems.items():
        systems[name] = {}
        for task in TASKS:
            summary = summarize(runs, task)
            if summary["clauses"]:
                summary["per_policy"] = per_policy(runs, task)
                summary["ci95"] = {
                    by: bootstrap_ci(runs, task, by, resamples) for by in ("policies", "clauses")
                }
            systems[name][task] = summary
    model_runs = evaluation.systems.get(primary_model(evaluation))
    return {
        "mode": evaluation.mode,
        "seeds": evaluation.seeds,
        "runs_per_system": {name: len(runs) for name, runs in evaluation.systems.items()},
        "seconds": round(evaluation.seconds, 1),
        "folds": evaluation.folds,
        "configs": evaluation.configs,
        "systems": systems,
        "errors": confident_errors(model_runs[0]) if model_runs else {},
    }


def confident_errors(run: Predictions, top: int = TOP_ERRORS) -> dict[str, list[dict]]:
    """The model's most confident false positives and false negatives, with text and context."""
    known = np.ones_like(run.labels, dtype=bool)
    known[:, TASK_COLUMNS["legal_basis"]] = run.basis_known[:, None]
    found = {}
    for kind, wrong, confidence in (
        ("false_positives", (run.decisions == 1) & (run.labels == 0), run.probs),
        ("false_negatives", (run.decisions == 0) & (run.labels == 1), 1 - run.probs),
    ):
        rows, columns = np.nonzero(wrong & known)
        order = np.argsort(-confidence[rows, columns], kind="stable")[:top]
        found[kind] = [
            {"id": run.ids[rows[k]], "label": ALL_LABELS[columns[k]],
             "probability": round(float(run.probs[rows[k], columns[k]]), 3),
             "text": run.texts[rows[k]], "context": run.contexts[rows[k]]}
            for k in order
        ]  # fmt: skip
    return found


def _pm(figure: dict) -> str:
    return f"{figure['mean']:.3f} ± {figure['std']:.3f}" if figure["std"] else f"{figure['mean']:.3f}"


def _ci(pair: list[float]) -> str:
    return f"[{pair[0]:.2f}, {pair[1]:.2f}]"


def headline_table(metrics: dict) -> str:
    """Per task: micro- and macro-F1 of each system with 95% bootstrap intervals, over policies
    when there are several held-out policies, else over clauses."""
    first = next(iter(metrics["systems"].values()))["categories"]
    by = "policies" if len(first.get("per_policy", {})) > 1 else "clauses"
    lines = [
        f"| task | system | micro-F1 | 95% CI ({by}) | macro-F1 | 95% CI ({by}) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for task in TASKS:
        for name, tasks in metrics["systems"].items():
            figures = tasks[task]
            if not figures["clauses"]:
                continue
            ci = figures["ci95"][by]
            lines.append(
                f"| {task} | {name} | {_pm(figures['micro_f1'])} | {_ci(ci['micro_f1'])} "
                f"| {_pm(figures['macro_f1'])} | {_ci(ci['macro_f1'])} |"
            )
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _task_section(metrics: dict, task: str) -> list[str]:
    systems = {name: tasks[task] for name, tasks in metrics["systems"].items() if tasks[task]["clauses"]}
    if not systems:
        return [f"## {task}", "", "No clause of the evaluation data has labels for this task.", ""]
    first = next(iter(systems.values()))
    names = list(systems)
    header = ["system", "micro-F1", "CI policies", "CI clauses", "macro-F1", "CI policies", "CI clauses",
              "samples-F1", "exact match"]  # fmt: skip
    rows = []
    several = len(first["per_policy"]) > 1  # an interval over one policy says nothing
    for name, f in systems.items():
        policies, clauses = f["ci95"]["policies"], f["ci95"]["clauses"]
        by_policy = [_ci(policies[key]) if several else "n/a (1 policy)" for key in ("micro_f1", "macro_f1")]
        rows.append([name, _pm(f["micro_f1"]), by_policy[0], _ci(clauses["micro_f1"]),
                     _pm(f["macro_f1"]), by_policy[1], _ci(clauses["macro_f1"]),
                     _pm(f["samples_f1"]), _pm(f["exact_match"])])  # fmt: skip
    lines = [f"## {task} ({first['clauses']} clauses)", "", *_table(header, rows), ""]
    rows = []
    for label, figures in first["per_label"].items():
        if not figures["support"]:  # F1 is undefined, not 0: nothing to find
            rows.append([label, "0", *["no support"] * len(names)])
            continue
        cells = [_pm(systems[n]["per_label"][label]["f1"]) for n in names]
        cells[0] += f" ({figures['precision']['mean']:.2f} / {figures['recall']['mean']:.2f})"
        rows.append([label, str(figures["support"]), *cells])
    lines += ["Per label (F1; precision / recall of the first system in brackets):", ""]
    lines += _table(["label", "support", *names], rows)
    if first["unsupported_labels"]:
        unsupported = ", ".join(first["unsupported_labels"])
        lines += ["", f"No support in the evaluation data (left out of macro averages): {unsupported}"]
    rows = []
    for policy, figures in first["per_policy"].items():
        scores = [systems[n]["per_policy"][policy] for n in names]
        rows.append(
            [policy, str(figures["clauses"])] + [f"{s['micro_f1']:.3f} / {s['macro_f1']:.3f}" for s in scores]
        )
    lines += ["", "Per held-out policy (micro / macro F1, mean over seeds):", ""]
    return lines + _table(["policy", "clauses", *names], rows) + [""]


def _errors_section(errors: dict) -> list[str]:
    lines = []
    for kind, rows in errors.items():
        lines += [f"### Most confident {kind.replace('_', ' ')} (model, first seed)", "",
                  "| label | p | clause | context |", "| --- | --- | --- | --- |"]  # fmt: skip
        for row in rows:
            text, context = (s.replace("|", "\\|").replace("\n", " ") for s in (row["text"], row["context"]))
            lines.append(f"| {row['label']} | {row['probability']:.2f} | {text} | {context} |")
        lines.append("")
    return lines


def report_markdown(metrics: dict) -> str:
    """The tables a person reads."""
    runs = metrics["runs_per_system"]
    how = (
        "leave-one-policy-out: one model per held-out policy, out-of-fold predictions pooled"
        if metrics["mode"] == "lopo"
        else "held-out policies the model never trained or tuned on"
    )
    lines = [
        f"# Evaluation ({metrics['mode']})", "",
        f"{how}; seeds {metrics['seeds']} (runs per system: {runs}); figures are mean ± std over seeds, "
        "95% intervals by bootstrap over held-out policies and over clauses (1000 resamples). "
        "Legal-basis figures skip clauses whose corpus has no legal-basis labels. "
        f"Took {metrics['seconds'] / 60:.1f} min.", "",
        "## Headline", "", headline_table(metrics), "",
    ]  # fmt: skip
    clauses = next(iter(metrics["systems"].values()))["categories"]
    if metrics["mode"] != "lopo" and len(clauses.get("per_policy", {})) < 2:
        warning = (f"**One held-out policy ({clauses['clauses']} clauses): a noisy figure.** "
                   "Leave-one-policy-out (`evaluate --cv lopo`) is the estimate to quote.")  # fmt: skip
        lines[-3:-3] = [warning, ""]
    for task in TASKS:
        lines += _task_section(metrics, task)
    lines += ["## Figures", "", "![per-label F1](label_f1.png)", "", "![precision-recall](pr_curves.png)", "",
              "![label confusion](confusion.png)", "", "## Errors", ""]  # fmt: skip
    return "\n".join(lines + _errors_section(metrics["errors"]))


def write_report(evaluation: Evaluation, output: str | Path, resamples: int = 1000) -> dict:
    """Write ``metrics.json``, ``report.md`` and the plots into ``output``; return the metrics.
    LOPO also writes the models' out-of-fold probabilities (``predictions.jsonl``), from which a
    model trained on every policy can take its thresholds (``oof_predictions``)."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    metrics = compute_metrics(evaluation, resamples)
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (output / "report.md").write_text(report_markdown(metrics), encoding="utf-8")
    if evaluation.mode == "lopo":
        write_oof_predictions(output / "predictions.jsonl", (
            (name, seed, run.ids, run.policy_ids, run.probs)
            for name, runs in evaluation.systems.items() if name.startswith("model")
            for seed, run in zip(evaluation.seeds, runs, strict=True)
        ))  # fmt: skip
    plot_label_f1(metrics, output / "label_f1.png")
    plot_pr_curves({name: runs[0] for name, runs in evaluation.systems.items()}, output / "pr_curves.png")
    if primary_model(evaluation):
        plot_confusion(evaluation.systems[primary_model(evaluation)][0], output / "confusion.png")
    return metrics

"""Clauses per second of this project's predict paths vs the plain transformers pipeline.

One run, one model, the same clauses (the bundled dataset, repeated), 5 interleaved rounds:
median and range. The baseline is ``transformers.pipeline("text-classification", model=..., top_k=None)``
called on the list of clause/context pairs as its documentation shows; ours is
``ClauseClassifier`` with torch at fp32, bf16 and int8, with ONNX Runtime (``--backend onnx``) and
OpenVINO (``--backend openvino``, int8 calibrated on the first 300 bundled clauses) at fp32 and
int8 (exported into ``MODEL/onnx/`` and ``MODEL/openvino/`` first if missing). Also reports, for each path,
label agreement with torch fp32 and the change in macro-F1 against the bundled labels (the model
saw most of these clauses in training, so the F1 values themselves mean little; only the change
between paths does), and how often the pipeline's own decisions (score >= 0.5, thresholds folded
into the saved model) equal predict's.

    python benchmarks/throughput.py [--model runs/default/model] [--clauses 2000] [--repeats 5]
"""

import argparse
import statistics
import time

import numpy as np
import torch
from transformers import pipeline

from privacy_clauses.data import ALL_LABELS, read_records
from privacy_clauses.data.splits import to_example
from privacy_clauses.model.metrics import task_scores
from privacy_clauses.model.thresholds import apply_thresholds
from privacy_clauses.predict.classifier import ClauseClassifier
from privacy_clauses.predict.export import export_onnx, export_openvino, exported_path

# (name, backend, precision); torch fp32 first: the reference for agreement
PATHS = (("fp32", "torch", "fp32"), ("bf16", "torch", "bf16"), ("int8", "torch", "int8"),
         ("onnx fp32", "onnx", "fp32"), ("onnx int8", "onnx", "int8"),
         ("openvino fp32", "openvino", "fp32"), ("openvino int8", "openvino", "int8"))  # fmt: skip


def interleaved_speeds(runs: dict, repeats: int) -> dict[str, list[float]]:
    """Clauses per second of each path in each of ``repeats`` rounds.

    Each round times every path once, so slow drift on this shared, noisy machine hits all
    paths alike instead of whichever happened to run last.
    """
    speeds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (run, count) in runs.items():
            started = time.perf_counter()
            run()
            speeds[name].append(count / (time.perf_counter() - started))
    return speeds


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} (range {min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="runs/default/model")
    parser.add_argument("--clauses", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="report the fastest of this many rounds")
    args = parser.parse_args()

    records = read_records("data/clauses.jsonl")
    repeat = -(-args.clauses // len(records))
    records = (records * repeat)[: args.clauses]
    texts, contexts = [r.text for r in records], [r.context for r in records]
    gold = np.asarray([to_example(r)["labels"] for r in records], dtype=int)
    print(f"torch threads: {torch.get_num_threads()}, clauses: {len(texts)}")

    if not exported_path(args.model, "onnx", "int8").is_file():
        export_onnx(args.model, int8=True)
    if not exported_path(args.model, "openvino", "int8").is_file():
        export_openvino(args.model, int8=True, calibration=["data/clauses.jsonl"])
    pipe = pipeline("text-classification", model=args.model, top_k=None, device="cpu")
    pairs = [{"text": t, "text_pair": c} for t, c in zip(texts, contexts, strict=True)]
    pipe(pairs[:8], truncation=True)
    runs = {"pipeline": (lambda: pipe(pairs, truncation=True), len(pairs))}
    classifiers = {}
    for name, backend, precision in PATHS:
        classifiers[name] = ClauseClassifier.from_pretrained(
            args.model, device="cpu", precision=precision, batch_size=args.batch_size, backend=backend
        )
        classifiers[name].predict_proba(texts[:64], contexts[:64])
        runs[name] = (lambda c=classifiers[name]: c.predict_proba(texts, contexts), len(texts))
    rounds = interleaved_speeds(runs, args.repeats)
    speed = {name: statistics.median(values) for name, values in rounds.items()}
    baseline = speed["pipeline"]
    print(f"pipeline baseline: {summary(rounds['pipeline'])} clauses/s (median of {args.repeats} rounds)")

    reference, qualified = None, {}
    for name, classifier in classifiers.items():
        decisions = apply_thresholds(classifier.predict_proba(texts, contexts), classifier.thresholds)
        scores = task_scores(decisions, gold)
        if reference is None:
            reference = (decisions, scores)
        agree = (decisions == reference[0]).mean()
        exact = (decisions == reference[0]).all(axis=1).mean()
        delta = {
            t: scores[f"{t}_macro_f1"] - reference[1][f"{t}_macro_f1"] for t in ("categories", "legal_basis")
        }
        if agree >= 0.99:
            qualified[name] = speed[name]
        ratios = [a / b for a, b in zip(rounds[name], rounds["pipeline"], strict=True)]
        print(
            f"{name}: {summary(rounds[name])} clauses/s ({statistics.median(ratios):.1f}x baseline, "
            f"range {min(ratios):.1f}-{max(ratios):.1f}); "
            f"agreement with torch fp32: {agree:.4f} of {len(ALL_LABELS)}-label decisions, "
            f"{exact:.4f} of clauses; "
            f"macro-F1 change: categories {delta['categories']:+.4f}, legal basis {delta['legal_basis']:+.4f}"
        )
    for name in ("onnx int8", "openvino int8"):
        ratios = [a / b for a, b in zip(rounds[name], rounds["int8"], strict=True)]
        print(f"{name} / torch int8, per round: median {statistics.median(ratios):.2f}x, "
              f"range {min(ratios):.2f}-{max(ratios):.2f}x")  # fmt: skip

    index = {name: i for i, name in enumerate(ALL_LABELS)}
    plain = np.zeros_like(reference[0])
    for row, scores in enumerate(pipe(pairs, truncation=True)):
        for score in scores:
            plain[row, index[score["label"]]] = score["score"] >= 0.5
    same = plain == reference[0]
    print(f"pipeline decisions (score >= 0.5) equal to predict's: {same.mean():.4f} of (clause, label) "
          f"pairs, {same.all(axis=1).mean():.4f} of clauses")  # fmt: skip

    fastest = max(qualified, key=qualified.get)
    print(
        f"fastest path with >= 99% agreement: {fastest}, {qualified[fastest]:.1f} clauses/s, "
        f"{qualified[fastest] / baseline:.1f}x baseline (targets: >= 400 clauses/s, >= 5x)"
    )


if __name__ == "__main__":
    main()

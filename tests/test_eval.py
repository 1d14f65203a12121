import json

import numpy as np
import pytest

from privacy_clauses.cli import main
from privacy_clauses.data import ALL_LABELS, read_records
from privacy_clauses.data.records import ClauseRecord
from privacy_clauses.data.splits import lopo_splits, to_example
from privacy_clauses.eval import EvaluationError, cross_validate, evaluate_model, write_report
from privacy_clauses.eval.baselines import baseline_predictions
from privacy_clauses.eval.metrics import bootstrap_ci, task_metrics
from privacy_clauses.eval.predictions import Predictions, evaluation_records, make_predictions
from privacy_clauses.model.checkpoint import load_checkpoint
from privacy_clauses.train.oof import read_oof_predictions

from .conftest import DATA
from .test_train import tiny_config

CATS, BASES = 10, 6


def record(i: int, policy: str, categories: list[str], basis: list[str] | None = (), **extra) -> ClauseRecord:
    return ClauseRecord(
        id=f"{policy}:{i:04d}", policy_id=policy, text=f"clause {i}", start=0, end=1, context="",
        categories=categories, legal_basis=None if basis is None else list(basis), **extra,
    )  # fmt: skip


def predictions(truth: list[list[str]], decided: list[list[str]], known=None, policies=None) -> Predictions:
    def hot(names):
        return [int(label in names) for label in ALL_LABELS]

    n = len(truth)
    labels, decisions = np.array([hot(t) for t in truth]), np.array([hot(d) for d in decided])
    return Predictions(
        [f"p:{i}" for i in range(n)], policies or ["p"] * n, ["t"] * n, [""] * n, labels,
        np.array(known if known is not None else [True] * n), decisions.astype(float), decisions,
    )  # fmt: skip


def test_task_metrics_match_hand_counts_and_list_unsupported_labels():
    run = predictions(
        truth=[
            ["category:other"],
            ["category:data_security"],
            ["category:data_security"],
            ["category:other"],
        ],
        decided=[
            ["category:other"],
            ["category:data_security"],
            ["category:other"],
            ["category:data_retention"],
        ],
    )
    figures = task_metrics(run, "categories")
    # other: tp 1, fp 1, fn 1 -> F1 0.5; data_security: tp 1, fn 1 -> F1 2/3; retention: fp only, no support
    assert figures["per_label"]["other"]["f1"] == pytest.approx(0.5)
    assert figures["per_label"]["data_security"]["f1"] == pytest.approx(2 / 3)
    assert figures["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)  # supported labels only
    assert figures["micro_f1"] == pytest.approx(0.5)  # tp 2, fp 2, fn 2
    assert figures["exact_match"] == pytest.approx(0.5)
    assert "data_retention" in figures["unsupported_labels"] and "other" not in figures["unsupported_labels"]


def test_legal_basis_metrics_skip_clauses_with_unknown_basis():
    run = predictions(
        truth=[["category:other", "basis:consent"], ["category:other"], ["category:other"]],
        decided=[
            ["category:other", "basis:consent"],
            ["category:other", "basis:consent"],
            ["category:other"],
        ],
        known=[True, False, True],
    )
    figures = task_metrics(run, "legal_basis")
    assert figures["clauses"] == 2
    assert figures["per_label"]["consent"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert figures["samples_f1"] == 1.0  # rightly no basis counts as a perfect clause


def test_bootstrap_intervals_hold_the_estimate_and_are_deterministic():
    truth = [["category:other"], ["category:data_security"]] * 10
    decided = [["category:other"], ["category:other"]] * 10
    run = predictions(truth, decided, policies=[f"p{i % 4}" for i in range(20)])
    point = task_metrics(run, "categories")["micro_f1"]
    for by in ("clauses", "policies"):
        ci = bootstrap_ci([run], "categories", by, resamples=200)
        assert ci["micro_f1"][0] <= point <= ci["micro_f1"][1]
        assert ci == bootstrap_ci([run], "categories", by, resamples=200)


def test_baselines_prior_and_tfidf():
    words = {"data_security": "encrypt servers firewall", "data_retention": "keep delete years"}
    train = [
        ClauseRecord(id=f"a:{i}", policy_id="a", text=f"{words[c]} {i}", start=0, end=1, context="",
                     categories=[c], legal_basis=[])
        for i, c in enumerate(["data_security"] * 6 + ["data_retention"] * 4)
    ]  # fmt: skip
    test = [r.model_copy(update={"id": f"b:{i}", "policy_id": "b"}) for i, r in enumerate(train)]
    prior = baseline_predictions("prior", train, test, test)
    security = ALL_LABELS.index("category:data_security")
    assert (prior.decisions[:, security] == 1).all() and prior.decisions.sum() == len(test)
    tfidf = baseline_predictions("tfidf", train, test, test)
    assert (tfidf.decisions == tfidf.labels).all()


def test_evaluation_refuses_written_text():
    written = [record(0, "w-doc", ["other"], source="written")]
    with pytest.raises(EvaluationError, match="written training text"):
        evaluation_records(written, "file.jsonl")


def test_lopo_folds_hold_out_each_policy_once_with_validation_from_the_rest():
    folds = lopo_splits(["a", "b", "c", "d"])
    assert [t for t, _ in folds] == ["a", "b", "c", "d"]
    assert all(t != v for t, v in folds)
    with pytest.raises(ValueError):
        lopo_splits(["a", "b"])


def test_held_out_evaluation_writes_the_report(tiny_model, tmp_path, capsys):
    output = tmp_path / "eval"
    assert main(["evaluate", "--model", str(tiny_model), "-o", str(output), "--resamples", "50"]) == 0
    printed = capsys.readouterr().out
    assert "| categories | model |" in printed and "| legal_basis | tfidf |" in printed
    assert {"metrics.json", "report.md", "label_f1.png", "pr_curves.png", "confusion.png"} <= {
        p.name for p in output.iterdir()
    }
    metrics = json.loads((output / "metrics.json").read_text())
    assert set(metrics["systems"]) == {"model", "prior", "tfidf"}
    assert metrics["folds"] == [{"test": "gigster", "validation": "workhirespot"}]
    model = metrics["systems"]["model"]["categories"]
    assert model["clauses"] == 39 and set(model["per_policy"]) == {"gigster"}
    assert 0 <= model["micro_f1"]["mean"] <= 1 and len(model["ci95"]["clauses"]["macro_f1"]) == 2
    assert metrics["errors"]["false_positives"] and "text" in metrics["errors"]["false_positives"][0]
    report = (output / "report.md").read_text()
    # gigster has no data_retention clause: "no support", not an F1 of 0; no interval over one policy
    assert "| data_retention | 0 | no support | no support | no support |" in report
    assert "n/a (1 policy)" in report and "One held-out policy (39 clauses)" in report


def test_held_out_evaluation_refuses_policies_the_model_saw(tiny_model, tmp_path):
    seen = [line for line in (DATA / "clauses.jsonl").read_text().splitlines() if '"ecomgigs"' in line]
    (tmp_path / "seen.jsonl").write_text("\n".join(seen[:5]) + "\n")
    with pytest.raises(EvaluationError, match="ecomgigs"):
        evaluate_model(tiny_model, tmp_path / "seen.jsonl")


def test_cli_evaluate_without_a_mode_is_one_line(capsys):
    assert main(["evaluate", "-o", "x"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_lopo_pools_every_clause_once_per_seed(small_data, tiny_base, tmp_path):
    config = tiny_config(small_data, tiny_base, tmp_path / "unused", "max_steps=2")
    evaluation = cross_validate({"model": config}, seeds=[1, 2], work=tmp_path / "folds")
    ids = sorted(r.id for r in read_records(small_data))
    assert set(evaluation.systems) == {"model", "prior", "tfidf"}
    assert len(evaluation.systems["model"]) == 2 and len(evaluation.systems["tfidf"]) == 1
    for runs in evaluation.systems.values():
        assert all(sorted(run.ids) == ids for run in runs)
    assert [f["test"] for f in evaluation.folds] == ["gigapros", "gigster", "workhirespot"]
    metrics = write_report(evaluation, tmp_path / "report", resamples=20)
    assert metrics["systems"]["model"]["categories"]["micro_f1"]["std"] >= 0
    assert "gigapros" in metrics["systems"]["model"]["categories"]["per_policy"]
    saved = read_oof_predictions(tmp_path / "report" / "predictions.jsonl", "model")
    assert sorted(saved) == [1, 2] and sorted(saved[2]) == ids
    first = evaluation.systems["model"][1].subset([0])
    assert np.allclose(saved[2][first.ids[0]][1], first.probs[0], atol=1e-4)
    assert not list((tmp_path / "folds").iterdir())  # fold models are discarded


def test_make_predictions_marks_unknown_basis():
    records = [record(0, "a", ["other"], None), record(1, "a", ["other"], [])]
    run = make_predictions(records, np.zeros((2, len(ALL_LABELS))), np.zeros((2, len(ALL_LABELS))))
    assert run.basis_known.tolist() == [False, True]


def test_ablation_runs_the_same_folds_with_and_without_the_written_set(
    small_data, tiny_base, tmp_path, capsys
):
    from .test_train import written_file

    config = tiny_config(small_data, tiny_base, tmp_path / "unused", "max_steps=1",
                         f"supplementary={written_file(tmp_path)}")  # fmt: skip
    evaluation = cross_validate(
        {"model+written": config, "model": config.model_copy(update={"supplementary": None})},
        seeds=[1], work=tmp_path / "folds",
    )  # fmt: skip
    assert set(evaluation.systems) == {"model+written", "model", "tfidf+written", "tfidf", "prior"}
    test_ids = sorted(r.id for r in read_records(small_data))
    assert all(sorted(runs[0].ids) == test_ids for runs in evaluation.systems.values())  # no written text

    assert (
        main(["evaluate", "--cv", "lopo", "--ablation", "-o", str(tmp_path / "x"), f"data={small_data}"]) == 2
    )
    assert "supplementary" in capsys.readouterr().err


def test_two_stage_lopo_trains_stage_one_once_per_seed_and_folds_without_validation(
    small_data, tiny_base, tmp_path, monkeypatch
):
    from privacy_clauses.eval import crossval

    from .test_train import written_file

    config = tiny_config(small_data, tiny_base, tmp_path / "unused", "max_steps=1", "thresholds=oof",
                         "pretrain_epochs=1", f"supplementary={written_file(tmp_path)}")  # fmt: skip
    stage_ones = []
    original = crossval.pretrain
    monkeypatch.setattr(crossval, "pretrain", lambda c, f: stage_ones.append(c.seed) or original(c, f))
    variants = {"model": config, "model[thresholds=validation]": config.model_copy(
        update={"thresholds": "validation"})}  # fmt: skip
    evaluation = cross_validate(variants, seeds=[1, 2], work=tmp_path / "folds")
    assert stage_ones == [1, 2]  # one stage-one model per seed, shared by both variants
    assert not list((tmp_path / "folds").glob("stage-one-*"))  # discarded like the fold models
    assert all(fold["validation"] == "" for fold in evaluation.folds)
    ids = sorted(r.id for r in read_records(small_data))
    assert all(sorted(run.ids) == ids for runs in evaluation.systems.values() for run in runs)
    assert set(evaluation.systems) == {"model", "prior", "tfidf", "model[thresholds=validation]",
                                       "tfidf[thresholds=validation]", }  # fmt: skip


def test_tfidf_oof_thresholds_come_from_the_training_policies_only(monkeypatch):
    from privacy_clauses.eval import baselines

    train = [record(i, p, ["data_security"] if i % 2 else ["other"]) for p in "abc" for i in range(6)]
    test = [record(0, "z", ["other"])]
    seen = []
    original = baselines.tfidf_probs
    def spy(train, *others, **options):
        policies = [sorted({r.policy_id for r in part}) for part in (train, *others)]
        seen.append((policies[0], policies[1:]))
        return original(train, *others, **options)

    monkeypatch.setattr(baselines, "tfidf_probs", spy)
    baseline_predictions("tfidf", train, [], test, thresholds="oof")
    assert seen[:3] == [(["b", "c"], [["a"]]), (["a", "c"], [["b"]]), (["a", "b"], [["c"]])]
    assert seen[3] == (["a", "b", "c"], [["z"]])


def test_tfidf_reads_the_context_only_when_the_model_does():
    from privacy_clauses.eval.baselines import tfidf_probs

    def clause(i: int, heading: str) -> ClauseRecord:  # the label shows only in the context
        labels = ["data_security"] if heading == "Security" else ["other"]
        return record(i, "a", labels).model_copy(update={"text": "Clause text.", "context": heading})

    train = [clause(i, "Security" if i % 2 else "Intro") for i in range(12)]
    probe = [clause(100, "Security"), clause(101, "Intro")]
    with_context = tfidf_probs(train, probe)[0]
    without = tfidf_probs(train, probe, use_context=False)[0]
    security = ALL_LABELS.index("category:data_security")
    assert with_context[0, security] > with_context[1, security] + 0.2
    np.testing.assert_allclose(without[0], without[1])


def test_a_model_on_every_policy_takes_its_thresholds_from_its_recipes_lopo_report(
    small_data, tiny_base, tmp_path
):
    """The real flow: LOPO with out-of-fold thresholds writes a report, and training the same recipe
    on every policy reads that report's predictions instead of training inner models."""
    from privacy_clauses.train import run

    config = tiny_config(small_data, tiny_base, tmp_path / "release", "max_steps=1", "thresholds=oof",
                         "validation_policies=[]", "test_policies=[]")  # fmt: skip
    evaluation = cross_validate({"model": config}, seeds=[1], work=tmp_path / "folds")
    write_report(evaluation, tmp_path / "report", resamples=5)
    saved = tmp_path / "report" / "predictions.jsonl"
    release = config.model_copy(update={"oof_predictions": str(saved)})
    output = run.train(release)
    pooled = evaluation.systems["model"][0]
    truth = np.asarray([to_example(r)["labels"] for r in read_records(small_data)])
    known = np.asarray([to_example(r)["basis_known"] for r in read_records(small_data)])
    order = {clause: i for i, clause in enumerate(pooled.ids)}
    probs = pooled.probs[[order[r.id] for r in read_records(small_data)]].round(4)
    expected = run.fitted_thresholds(config, probs, truth, known)
    assert load_checkpoint(output / "model").thresholds == pytest.approx(expected)


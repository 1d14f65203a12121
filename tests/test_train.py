import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from privacy_clauses.cli import main
from privacy_clauses.data import ALL_LABELS
from privacy_clauses.data.splits import to_example
from privacy_clauses.model.checkpoint import ModelLoadError, load_checkpoint
from privacy_clauses.model.thresholds import apply_thresholds
from privacy_clauses.train import run
from privacy_clauses.train.config import load_config

from .conftest import ROOT


def tiny_config(data, base, output, *extra):
    """The real default config, shrunk to a tiny model and a few CPU steps."""
    overrides = [
        f"data={data}", f"base_model={base}", f"output_dir={output}", "test_policies=[gigster]",
        "validation_policies=[workhirespot]", "max_length=48", "epochs=2", "batch_size=32",
        "supplementary=null", "thresholds=validation", "pretrain_epochs=0", "oof_predictions=null",
        *extra,
    ]  # fmt: skip
    return load_config(ROOT / "configs" / "default.yaml", overrides)


def test_train_save_load_predict(small_data, tiny_base, tmp_path):
    output = run.train(tiny_config(small_data, tiny_base, tmp_path / "run"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("run")) == ["run"]
    assert {"model", "metrics.json", "config.yaml", "log.json"} <= {p.name for p in output.iterdir()}
    model_dir = output / "model"
    assert not list(model_dir.glob("*.bin")) and (model_dir / "model.safetensors").is_file()

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    assert model.config.problem_type == "multi_label_classification"
    assert [model.config.id2label[i] for i in range(len(ALL_LABELS))] == list(ALL_LABELS)

    checkpoint = load_checkpoint(model_dir)
    assert len(checkpoint.thresholds) == len(ALL_LABELS)
    assert all(0.0 < t < 1.0 for t in checkpoint.thresholds)
    assert checkpoint.meta["config"]["seed"] == 42
    metrics = json.loads((output / "metrics.json").read_text())
    assert 0.0 <= metrics["test_categories_macro_f1"] <= 1.0

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    batch = tokenizer(
        ["We share your email with advertisers.", "Contact us"], ["Sharing", ""],
        return_tensors="pt", padding=True,
    )  # fmt: skip
    with torch.inference_mode():
        probs = torch.sigmoid(model(**batch).logits).numpy()
    decisions = apply_thresholds(probs, checkpoint.thresholds)
    categories = decisions[:, :10]
    assert (categories.sum(axis=1) >= 1).all()
    other = ALL_LABELS.index("category:other")
    assert not ((categories[:, other] == 1) & (categories.sum(axis=1) > 1)).any()
    scores = pipeline("text-classification", model=str(model_dir), top_k=None)(["We use cookies."])[0]
    assert sorted(item["label"] for item in scores) == sorted(ALL_LABELS)
    assert all(0.0 <= item["score"] <= 1.0 for item in scores)
    card = (model_dir / "README.md").read_text()
    assert "## Evaluation" in card and "## Limitations" in card and str(tiny_base) in card


class EarlyStoppingCallback(run.EarlyStoppingCallback):
    """The real callback (same name, so its saved state matches) that crashes after a save."""

    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


def test_an_interrupted_run_resumes_from_its_checkpoint(small_data, tiny_base, tmp_path, monkeypatch):
    config = tiny_config(small_data, tiny_base, tmp_path / "run", "epochs=3")
    original = run.EarlyStoppingCallback
    monkeypatch.setattr(run, "EarlyStoppingCallback", EarlyStoppingCallback)
    with pytest.raises(KeyboardInterrupt):
        run.train(config)
    assert not (tmp_path / "run").exists(), "no complete-looking model after a crash"
    assert list((tmp_path / "run.work").glob("checkpoint-*"))

    monkeypatch.setattr(run, "EarlyStoppingCallback", original)
    calls = []
    train_method = run.WeightedTrainer.train

    def spy(self, resume_from_checkpoint=None, **kwargs):
        calls.append(resume_from_checkpoint)
        return train_method(self, resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    monkeypatch.setattr(run.WeightedTrainer, "train", spy)
    output = run.train(config, resume=True)
    assert calls == [True]
    log = json.loads((output / "log.json").read_text())
    assert max(entry.get("epoch", 0) for entry in log) == 3
    assert not (tmp_path / "run.work").exists()


def test_same_seed_and_config_give_the_same_metrics(small_data, tiny_base, tmp_path):
    first = run.train(tiny_config(small_data, tiny_base, tmp_path / "a"))
    second = run.train(tiny_config(small_data, tiny_base, tmp_path / "b"))
    drop = {"train_seconds"}
    m1 = {k: v for k, v in json.loads((first / "metrics.json").read_text()).items() if k not in drop}
    m2 = {k: v for k, v in json.loads((second / "metrics.json").read_text()).items() if k not in drop}
    assert m1 == m2
    t1 = load_checkpoint(first / "model").thresholds
    assert np.allclose(t1, load_checkpoint(second / "model").thresholds)


def run_cli(capsys, *argv) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("colour=blue", "colour: unknown config key"),
        ("epochs=-1", "epochs: Input should be greater than 0"),
        ("data=/no/such/file.jsonl", "file not found"),
        ("base_model=/no/such/model", "base model '/no/such/model' not found"),
        ("validation_policies=[]", "the validation split has 0 clauses"),
        ("test_policies=[nobody]", "unknown policy id(s): nobody"),
    ],
)
def test_bad_training_input_is_one_line_and_exit_2(
    capsys, small_data, tiny_base, tmp_path, override, expected
):
    args = [f"data={small_data}", f"base_model={tiny_base}", f"output_dir={tmp_path / 'r'}",
            "test_policies=[gigster]", "validation_policies=[workhirespot]", override]  # fmt: skip
    code, err = run_cli(capsys, "train", *args)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err


def test_a_label_the_scheme_lacks_stops_training(capsys, small_data, tiny_base, tmp_path):
    text = small_data.read_text().replace('"data_security"', '"data_safety"', 1)
    small_data.write_text(text)
    code, err = run_cli(capsys, "train", f"data={small_data}", f"base_model={tiny_base}",
                        "test_policies=[gigster]", "validation_policies=[workhirespot]")  # fmt: skip
    assert code == 2 and "unknown label(s): data_safety" in err[0]


def test_loading_refuses_a_folder_that_is_not_our_model(tiny_base):
    with pytest.raises(ModelLoadError, match="not a privacy-clauses model"):
        load_checkpoint(tiny_base)


def test_shipped_configs_are_valid():
    for path in (ROOT / "configs").glob("*.yaml"):
        assert load_config(path).data == "data/clauses.jsonl"


@pytest.mark.parametrize(
    ("cuda", "bf16_ok", "precision", "expected"),
    [
        (False, False, "auto", {"bf16": False, "fp16": False}),
        (False, False, "bf16", {"bf16": False, "fp16": False}),
        (True, True, "auto", {"bf16": True, "fp16": False}),
        (True, False, "auto", {"bf16": False, "fp16": True}),
        (True, True, "fp32", {"bf16": False, "fp16": False}),
    ],
)
def test_mixed_precision_only_on_cuda(monkeypatch, cuda, bf16_ok, precision, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16_ok)
    assert run.precision_flags(precision) == expected


def written_file(tmp_path, n: int = 4) -> str:
    (tmp_path / "written").mkdir(exist_ok=True)
    text = "We keep your booking for two years. We encrypt every file."
    (tmp_path / "written" / "w-doc.md").write_text(text, encoding="utf-8")
    records = [
        {"id": f"w-doc:{i:04d}", "policy_id": "w-doc", "text": "We keep your booking for two years.",
         "start": 0, "end": 35, "context": "", "categories": ["data_retention"], "legal_basis": [],
         "source": "written"}
        for i in range(n)
    ]  # fmt: skip
    path = tmp_path / "supplementary.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def test_supplementary_text_joins_the_train_split_only_with_its_weight(small_data, tiny_base, tmp_path):
    config = tiny_config(small_data, tiny_base, tmp_path / "run", f"supplementary={written_file(tmp_path)}",
                         "supplementary_weight=0.5")  # fmt: skip
    splits = run.check_data(config)
    assert splits["train"]["weight"].count(0.5) == 4
    assert set(splits["train"]["policy_id"]) == {"gigapros", "w-doc"}
    for name in ("validation", "test"):
        assert "w-doc" not in splits[name]["policy_id"] and set(splits[name]["weight"]) == {1.0}


def test_written_text_is_never_held_out(small_data, tiny_base, tmp_path):
    lines = small_data.read_text(encoding="utf-8") + Path(written_file(tmp_path)).read_text(encoding="utf-8")
    small_data.write_text(lines, encoding="utf-8")
    config = tiny_config(small_data, tiny_base, tmp_path / "run", "validation_policies=[w-doc]")
    with pytest.raises(run.TrainingError, match="written text"):
        run.check_data(config)
    real = tiny_config(small_data, tiny_base, tmp_path / "run", f"supplementary={small_data}")
    with pytest.raises(run.TrainingError, match="must be written text"):
        run.check_data(real)


def test_loss_skips_unknown_legal_basis_and_weighs_clauses():
    class Fixed(torch.nn.Module):
        def forward(self, **inputs):
            from types import SimpleNamespace

            return SimpleNamespace(logits=torch.full((2, len(ALL_LABELS)), -2.0))

    trainer = run.WeightedTrainer.__new__(run.WeightedTrainer)
    trainer.pos_weight = torch.ones(len(ALL_LABELS))

    def loss(labels, known, weight):
        inputs = {"labels": torch.tensor(labels, dtype=torch.float), "basis_known": torch.tensor(known),
                  "weight": torch.tensor(weight)}  # fmt: skip
        return float(trainer.compute_loss(Fixed(), inputs))

    zeros, basis_on = [0.0] * len(ALL_LABELS), [0.0] * 10 + [1.0] * 6
    # a wrong basis label costs nothing when the basis is unknown
    assert loss([zeros, basis_on], [True, False], [1.0, 1.0]) == pytest.approx(
        loss([zeros, zeros], [True, False], [1.0, 1.0])
    )
    # ... and something when it is known
    assert loss([zeros, basis_on], [True, True], [1.0, 1.0]) != pytest.approx(
        loss([zeros, zeros], [True, True], [1.0, 1.0])
    )
    # a clause of weight 0 does not count
    assert loss([zeros, basis_on], [True, True], [1.0, 0.0]) == pytest.approx(
        loss([zeros, zeros], [True, True], [1.0, 0.0])
    )


def test_two_stage_with_out_of_fold_thresholds(small_data, tiny_base, tmp_path, monkeypatch):
    """Stage one on the written text alone, one inner model per real training policy for the
    thresholds, then the final model on every training policy: no validation policy needed."""
    extra = ["validation_policies=[]", "thresholds=oof", "pretrain_epochs=1", "epochs=1"]
    extra.append(f"supplementary={written_file(tmp_path)}")
    config = tiny_config(small_data, tiny_base, tmp_path / "run", *extra)
    fitted, tuned = [], []
    original_fit, original_tune = run.fit, run.tune_thresholds
    monkeypatch.setattr(run, "fit", lambda c, base, split, *a, **k: fitted.append(
        (Path(base).name, sorted(set(split["policy_id"])))) or original_fit(c, base, split, *a, **k))
    monkeypatch.setattr(run, "tune_thresholds", lambda probs, *a, **k: tuned.append(len(probs))
                        or original_tune(probs, *a, **k))  # fmt: skip
    output = run.train(config)
    assert fitted == [
        (tiny_base.name, ["w-doc"]),  # stage one: written text only
        ("stage-one", ["w-doc", "workhirespot"]),  # inner fold holding out gigapros (+ written replay)
        ("stage-one", ["gigapros", "w-doc"]),  # inner fold holding out workhirespot
        ("stage-one", ["gigapros", "w-doc", "workhirespot"]),  # the final model
    ]
    real = [r for r in run.read_records(small_data) if r.policy_id in {"gigapros", "workhirespot"}]
    assert tuned == [len(real)]  # thresholds from the pooled out-of-fold predictions
    meta = load_checkpoint(output / "model").meta
    assert meta["config"]["pretrain_epochs"] == 1 and meta["validation_policies"] == []
    assert "test_categories_macro_f1" in meta["metrics"]
    assert not (tmp_path / "run.work").exists()


def saved_lopo(folder: Path, config, records, seeds=(1, 2)) -> Path:
    """A LOPO report folder of ``config``'s recipe with random out-of-fold probabilities."""
    from privacy_clauses.train.oof import write_oof_predictions

    folder.mkdir()
    report = {"systems": {"model": {}}, "configs": {"model": config.model_dump()}}
    (folder / "metrics.json").write_text(json.dumps(report), encoding="utf-8")
    rng = np.random.default_rng(0)
    ids, policies = [r.id for r in records], [r.policy_id for r in records]
    runs = [("model", seed, ids, policies, rng.random((len(records), len(ALL_LABELS)))) for seed in seeds]
    write_oof_predictions(folder / "predictions.jsonl", runs)
    return folder / "predictions.jsonl"


def test_out_of_fold_thresholds_from_a_saved_lopo_run(small_data, tiny_base, tmp_path, monkeypatch):
    """A model trained on every policy takes its thresholds from the LOPO run of its recipe (those
    folds are its inner folds): no inner model is trained, the thresholds are the pooled ones."""
    extra = ["validation_policies=[]", "test_policies=[]", "thresholds=oof", "epochs=1"]
    config = tiny_config(small_data, tiny_base, tmp_path / "run", *extra)
    records = run.read_records(small_data)
    saved = saved_lopo(tmp_path / "lopo", config, records)
    fitted = []
    original_fit = run.fit
    monkeypatch.setattr(run, "fit", lambda *a, **k: fitted.append(1) or original_fit(*a, **k))
    output = run.train(config.model_copy(update={"oof_predictions": str(saved)}))
    assert fitted == [1]  # the final model only

    from privacy_clauses.train.oof import read_oof_predictions

    runs = read_oof_predictions(saved, "model")
    probs = np.concatenate([np.stack([runs[seed][r.id][1] for r in records]) for seed in (1, 2)])
    labels = np.tile([to_example(r)["labels"] for r in records], (2, 1))
    known = np.tile([to_example(r)["basis_known"] for r in records], 2)
    expected = run.fitted_thresholds(config, probs, labels, known)
    assert load_checkpoint(output / "model").thresholds == pytest.approx(expected)


def test_saved_oof_predictions_must_match_recipe_and_policies(small_data, tiny_base, tmp_path, capsys):
    extra = ["validation_policies=[]", "thresholds=oof", "epochs=1"]
    config = tiny_config(small_data, tiny_base, tmp_path / "run", *extra)  # test_policies: [gigster]
    records = run.read_records(small_data)
    other_recipe = saved_lopo(tmp_path / "a", config.model_copy(update={"learning_rate": 1.0}), records)
    all_policies = saved_lopo(tmp_path / "b", config, records)  # its folds trained on gigster
    for saved, says in ((other_recipe, "a/metrics.json: no model"), (all_policies, "gigster")):
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config.model_dump() | {"oof_predictions": str(saved)}))
        assert main(["train", "--config", str(path)]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and says in error and not (tmp_path / "run").exists()


def test_early_stopping_metric_masks_unknown_legal_basis():
    from types import SimpleNamespace

    from privacy_clauses.train.metrics import compute_metrics

    labels = np.zeros((4, len(ALL_LABELS)), dtype=int)
    labels[:, 0] = 1
    logits = np.where(labels == 1, 5.0, -5.0)  # every category right, no basis predicted
    unknown = compute_metrics(SimpleNamespace(predictions=logits, label_ids=(labels, np.zeros(4, bool))))
    assert unknown["categories_macro_f1"] == 1.0 and unknown["macro_f1"] == 1.0  # OPP-115: basis skipped
    labels[:, 10] = 1  # a known basis the model misses
    known = compute_metrics(SimpleNamespace(predictions=logits, label_ids=(labels, np.ones(4, bool))))
    assert known["legal_basis_macro_f1"] == 0.0 and known["macro_f1"] == 0.5


def test_predictions_line_up_with_the_split_under_length_grouped_training(small_data, tiny_base, tmp_path):
    """Thresholds and test figures pair ``predict_probs`` rows with the split's labels by position;
    transformers also applies the length-grouped sampler to ``predict`` unless told otherwise."""
    config = tiny_config(small_data, tiny_base, tmp_path / "run", "max_steps=1")
    split = run.check_data(config)["train"]
    trainer = run.fit(config, config.base_model, split, tmp_path / "work", 1)
    output = trainer.predict(run._encode(split, trainer.processing_class, config))  # as predict_probs does
    labels, known = output.label_ids
    assert len({tuple(row) for row in split["labels"]}) > 2  # rows differ, so a reordering shows
    assert np.array_equal(labels, np.asarray(split["labels"])), "rows in the split's order"
    assert np.array_equal(known, np.asarray(split["basis_known"]))
    assert np.allclose(run.predict_probs(trainer, split, config), 1 / (1 + np.exp(-output.predictions)))


def test_undo_pos_weight_removes_the_loss_weight_from_the_bias(small_data, tiny_base, tmp_path):
    """Same seed and data: the calibrated model's bias is the plain one's minus log(pos_weight),
    so a label weighed 10x in the loss no longer reads 10x its odds."""
    configs = [tiny_config(small_data, tiny_base, tmp_path / name, f"undo_pos_weight={flag}")
               for name, flag in (("plain", "false"), ("calibrated", "true"))]  # fmt: skip
    biases = [run.train(c).joinpath("model") for c in configs]
    biases = [load_checkpoint(path).model.classifier.bias.detach().numpy() for path in biases]
    labels = np.asarray(run.check_data(configs[0])["train"]["labels"])
    expected = -np.log(run.pos_weights(labels, configs[0].pos_weight_cap).numpy())
    assert expected.min() < -1.0  # the data has rare labels, so the check can fail
    np.testing.assert_allclose(biases[1] - biases[0], expected, atol=1e-4)


def test_stage_two_replays_a_sample_of_written_clauses_at_its_own_learning_rate(
    small_data, tiny_base, tmp_path, monkeypatch
):
    extra = ["pretrain_epochs=1", "epochs=1", "replay=3", "learning_rate=1e-3", "finetune_learning_rate=1e-5",
             f"supplementary={written_file(tmp_path, n=5)}"]  # fmt: skip
    config = tiny_config(small_data, tiny_base, tmp_path / "run", *extra)
    fitted = []
    original_fit = run.fit
    monkeypatch.setattr(run, "fit", lambda c, base, split, *a, **k: fitted.append(
        (c.learning_rate, split["policy_id"].count("w-doc"))) or original_fit(c, base, split, *a, **k))
    run.train(config)
    assert fitted == [(1e-3, 5), (1e-5, 3)]  # stage one: every written clause; stage two: 3 of them
    one_stage = tiny_config(small_data, tiny_base, tmp_path / "one", *extra[2:], "pretrain_epochs=0")
    assert run.check_data(one_stage)["train"]["policy_id"].count("w-doc") == 3

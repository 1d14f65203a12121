"""Progress over clauses, no repeated library noise, and re-training into an existing run folder."""

import logging
import warnings

import pytest

from privacy_clauses.model.checkpoint import build_model, load_checkpoint
from privacy_clauses.predict import batch
from privacy_clauses.predict.classifier import ClauseClassifier
from privacy_clauses.predict.readers import count_rows, expand_inputs
from privacy_clauses.train import run

from .test_train import tiny_config


def test_retraining_refuses_without_overwrite_and_keeps_other_files(small_data, tiny_base, tmp_path, capfd):
    config = tiny_config(small_data, tiny_base, tmp_path / "run", "epochs=1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        output = run.train(config)
    assert not [w for w in caught if "pin_memory" in str(w.message)]
    assert "MISSING" not in capfd.readouterr().err
    (output / "eval").mkdir()
    (output / "eval" / "report.md").write_text("kept")
    (output / "labels.jsonl").write_text("kept")
    first_metrics = (output / "metrics.json").read_text()
    with pytest.raises(run.TrainingError, match="--overwrite"):
        run.train(config)
    assert (output / "metrics.json").read_text() == first_metrics
    again = run.train(config.model_copy(update={"seed": 7}), overwrite=True)
    assert again == output
    assert (output / "eval" / "report.md").read_text() == "kept"
    assert (output / "labels.jsonl").read_text() == "kept"
    assert load_checkpoint(output / "model").meta["config"]["seed"] == 7
    assert not (tmp_path / "run.tmp").exists() and not (tmp_path / "run.work").exists()


def test_loading_is_quiet(tiny_base, tiny_model, capfd, caplog):
    with caplog.at_level(logging.WARNING):
        build_model(str(tiny_base))
        load_checkpoint(tiny_model)
    err = capfd.readouterr().err
    assert "MISSING" not in err + caplog.text and "Loading weights" not in err


def test_progress_bar_counts_clauses_of_tables(tiny_model, tmp_path, monkeypatch):
    table = tmp_path / "rows.jsonl"
    lines = [f'{{"text": "We keep logs for {n} days."}}\n' for n in range(50)]
    table.write_text("".join(lines), encoding="utf-8")
    assert count_rows(expand_inputs([str(table)])) == 50
    bars = []

    class Bar:
        def __init__(self, iterable=None, **options):
            self.iterable, self.options, self.done = iterable, options, 0
            bars.append(self)

        def __iter__(self):
            return iter(self.iterable)

        def update(self, n):
            self.done += n

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(batch, "tqdm", Bar)
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu")
    batch.predict_inputs(classifier, [str(table)], tmp_path / "out.jsonl", chunk_size=16)
    clauses = next(bar for bar in bars if bar.options.get("unit") == "clause")
    assert clauses.options["total"] == 50 and clauses.done == 50

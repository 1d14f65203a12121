"""Held-out evaluation of a trained model: its own test policies, or any labeled clause file of
policies it never saw, with the baselines trained on the same training policies."""

from __future__ import annotations

import time
from pathlib import Path

from ..data.records import read_records
from ..data.splits import policy_ids, split_records
from ..model.checkpoint import load_checkpoint_meta
from ..train.config import TrainConfig
from .predictions import Evaluation, EvaluationError, evaluation_records
from .systems import baseline_runs, model_predictions


def evaluate_model(model_dir: str | Path, data: str | Path | None = None, device: str = "auto") -> Evaluation:
    """Score the model in ``model_dir`` on ``data`` (default: the test policies it was trained
    without). Refuses clauses of policies the model trained or tuned thresholds on."""
    started = time.time()
    config = TrainConfig(**load_checkpoint_meta(model_dir)["config"])
    if not Path(config.data).is_file():
        raise EvaluationError(
            f"{model_dir}: its training data {config.data} is not here; run from the project folder"
        )
    train_records, validation_records, test_records = split_records(
        read_records(config.data), config.test_policies, config.validation_policies
    )
    if data is None:
        if not test_records:
            raise EvaluationError(f"{model_dir}: the model has no test policies; pass --data FILE")
        records, source = test_records, f"{config.data} (test policies)"
    else:
        records, source = read_records(data), str(data)
    records = evaluation_records(records, source)
    seen = policy_ids(train_records + validation_records)
    leaked = sorted(set(policy_ids(records)) & set(seen))
    if leaked:
        raise EvaluationError(f"{source}: policy '{leaked[0]}' was used to train or tune the model")
    systems = {"model": [model_predictions(model_dir, records, device)]}
    for name, run in baseline_runs(config, train_records, validation_records, records).items():
        systems[name] = [run]
    test = policy_ids(records)
    return Evaluation(
        mode="held-out", systems=systems, seeds=[config.seed], seconds=time.time() - started,
        folds=[{"test": ",".join(test), "validation": ",".join(config.validation_policies)}],
        configs={"model": config.model_dump()},
    )  # fmt: skip

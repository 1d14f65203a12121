"""One split, every system: train the model (per seed) and the baselines on the same policies,
and predict the held-out clauses with each."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from ..data.records import ClauseRecord, read_records
from ..model.thresholds import apply_thresholds
from ..predict.classifier import ClauseClassifier
from ..train.config import TrainConfig
from ..train.run import stage_two, train
from .baselines import BASELINES, baseline_predictions
from .predictions import Predictions, make_predictions

logger = logging.getLogger(__name__)


def model_predictions(
    model_dir: str | Path, records: Sequence[ClauseRecord], device: str = "auto"
) -> Predictions:
    """Label ``records`` with a trained model through the predict API and its saved thresholds."""
    classifier = ClauseClassifier.from_pretrained(model_dir, device=device)
    probs = classifier.predict_proba([r.text for r in records], [r.context for r in records])
    return make_predictions(records, probs, apply_thresholds(probs, classifier.thresholds))


def baseline_runs(
    config: TrainConfig,
    train_records: list[ClauseRecord],
    validation_records: list[ClauseRecord],
    test_records: list[ClauseRecord],
) -> dict[str, Predictions]:
    """The baselines on one split, trained on what the model trains on (written text included
    when the config adds it)."""
    if config.supplementary:
        train_records = train_records + read_records(config.supplementary)
    return {
        name: baseline_predictions(
            name, train_records, validation_records, test_records, config.threshold_min_positives,
            config.thresholds, config.use_context,
        )
        for name in BASELINES
    }  # fmt: skip


def model_run(
    config: TrainConfig,
    test_records: list[ClauseRecord],
    validation: Sequence[str],
    seed: int,
    work: Path,
    stage_one: Path | None = None,
) -> Predictions:
    """Fine-tune on one split with ``seed`` and predict its test clauses; the model is discarded.
    Its thresholds never come from saved predictions (those folds trained on this test policy).
    With ``stage_one`` (the two-stage recipe) the fold fine-tunes that model on its real policies."""
    test = sorted({record.policy_id for record in test_records})
    output = work / f"{'-'.join(test)}-seed{seed}"
    fold_config = config.model_copy(
        update={"test_policies": list(test), "validation_policies": list(validation), "seed": seed,
                "output_dir": str(output), "oof_predictions": None}
    )  # fmt: skip
    if stage_one is not None:
        fold_config = stage_two(fold_config, str(stage_one))
    train(fold_config, overwrite=True)  # a rerun of an interrupted evaluation replaces its fold
    predictions = model_predictions(output / "model", test_records)
    shutil.rmtree(output, ignore_errors=True)
    return predictions

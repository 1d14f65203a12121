"""Config → Trainer → run folder: fine-tune, tune thresholds on validation, save atomically."""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from datasets import Dataset, DatasetDict, concatenate_datasets
from torch.utils.data import SequentialSampler
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

from ..data import ClauseFileError, load_splits, read_records, validate_file
from ..data.errors import PrivacyClausesError
from ..data.labels import TASK_COLUMNS
from ..data.splits import inner_folds, to_example
from ..data.validate import is_written
from ..model.checkpoint import Checkpoint, build_model, save_checkpoint
from ..model.folding import shift_bias
from ..model.metrics import sigmoid, task_scores
from ..model.precision import auto_precision
from ..model.thresholds import apply_thresholds, tune_thresholds
from .config import TrainConfig
from .metrics import compute_metrics
from .oof import saved_oof_probs

logger = logging.getLogger(__name__)
MIN_EXAMPLES = 2


class TrainingError(PrivacyClausesError):
    """A problem with the training input, reported in one line."""


class WeightedTrainer(Trainer):
    """Trainer with a multi-label BCE loss that weighs positives of rare labels up
    (``pos_weight``), skips the legal-basis labels of clauses whose basis is unknown
    (``basis_known``) and weighs each clause by its ``weight`` (written text vs real)."""

    def __init__(self, *args, pos_weight: torch.Tensor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pos_weight = pos_weight

    def _get_eval_sampler(self, eval_dataset):
        """Evaluation and ``predict`` in dataset order. transformers applies
        ``train_sampling_strategy="group_by_length"`` to them as well, and ``predict``'s rows would
        then no longer line up with the split's labels (thresholds were tuned on shuffled rows)."""
        if eval_dataset is None or self.args.world_size > 1:  # distributed: accelerate shards it
            return None
        return SequentialSampler(eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels, weight, known = inputs.pop("labels"), inputs.pop("weight"), inputs.pop("basis_known")
        inputs.pop("length", None)  # only for length-grouped batching
        outputs = model(**inputs)
        logits = outputs.logits.float()
        losses = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels.float(), pos_weight=self.pos_weight.to(logits.device), reduction="none"
        )
        mask = torch.ones_like(losses)
        mask[:, TASK_COLUMNS["legal_basis"]] = known.float().unsqueeze(1)
        per_clause = (losses * mask).sum(dim=1) / mask.sum(dim=1)
        loss = (per_clause * weight).sum() / weight.sum().clamp(min=1e-8)
        return (loss, outputs) if return_outputs else loss


def _check_file(path: str) -> None:
    problems = validate_file(path)
    if problems:
        more = f" (and {len(problems) - 1} more; run 'privacy-clauses data validate')"
        raise TrainingError(f"{problems[0]}{more if len(problems) > 1 else ''}")


def add_supplementary(
    splits: DatasetDict, path: str, weight: float, sample: int = 0, seed: int = 0
) -> DatasetDict:
    """Add the written clauses of ``path`` (with ``sample``, that many of them drawn with ``seed``)
    to the train split (never to validation or test), each with loss weight ``weight``; real
    clauses weigh 1."""
    records = read_records(path)
    real = [record.id for record in records if not is_written(record)]
    if real:
        raise TrainingError(
            f"{path}: supplementary data must be written text; {real[0]} has no source: written"
        )
    if 0 < sample < len(records):
        records = random.Random(seed).sample(records, sample)
    train_split = splits["train"].add_column("weight", [1.0] * len(splits["train"]))
    written = Dataset.from_list([to_example(record) | {"weight": weight} for record in records])
    splits["train"] = concatenate_datasets([train_split, written.cast(train_split.features)])
    return splits


def check_data(config: TrainConfig) -> DatasetDict:
    """Validate the clause files and build the policy-grouped splits, or raise one clear error.

    Written text may only ever train: a test or validation policy of written records is refused.
    """
    _check_file(config.data)
    written = {record.policy_id for record in read_records(config.data) if is_written(record)}
    held_out = sorted(written & set(config.test_policies + config.validation_policies))
    if held_out:
        raise TrainingError(f"{config.data}: '{held_out[0]}' is written text; it cannot be held out")
    try:
        splits = load_splits(config.data, test=config.test_policies, validation=config.validation_policies)
    except (ClauseFileError, ValueError) as error:
        raise TrainingError(f"{config.data}: {error}") from error
    for name in list(splits):
        if name != "train" or not config.supplementary:
            splits[name] = splits[name].add_column("weight", [1.0] * len(splits[name]))
    if config.supplementary:
        _check_file(config.supplementary)
        splits = add_supplementary(splits, config.supplementary, config.supplementary_weight,
                                   config.replay, config.seed)  # fmt: skip
    needed = (
        ("train", "validation")
        if config.thresholds == "validation" or config.validation_policies
        else ("train",)
    )
    for name in needed:
        size = len(splits[name]) if name in splits else 0
        if size < MIN_EXAMPLES:
            raise TrainingError(
                f"{config.data}: the {name} split has {size} clauses; it needs {MIN_EXAMPLES} "
                "(set validation_policies to policies of the file)"
            )
    return splits


def pos_weights(labels: np.ndarray, cap: float) -> torch.Tensor:
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    return torch.tensor(np.clip(negatives / np.maximum(positives, 1), 1.0, cap), dtype=torch.float)


def precision_flags(precision: str) -> dict[str, bool]:
    """bf16/fp16 only on CUDA; 'auto' as in ``model.precision.auto_precision``."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        precision = auto_precision("cuda" if cuda else "cpu")
    return {"bf16": precision == "bf16" and cuda, "fp16": precision == "fp16" and cuda}


def _encode(dataset: Dataset, tokenizer, config: TrainConfig) -> Dataset:
    def tokenize(batch):
        pair = batch["context"] if config.use_context else None
        encoded = tokenizer(batch["text"], pair, truncation=True, max_length=config.max_length)
        return encoded | {"length": [len(ids) for ids in encoded["input_ids"]]}

    return dataset.map(tokenize, batched=True, remove_columns=["id", "policy_id", "text", "context"])


def fit(
    config: TrainConfig,
    base: str,
    train_split: Dataset,
    work: Path,
    epochs: float,
    validation: Dataset | None = None,
    resume: bool = False,
) -> WeightedTrainer:
    """Fine-tune ``base`` on ``train_split`` for ``epochs``. With ``validation`` it evaluates every
    epoch, stops early and keeps the best epoch (checkpoints in ``work``, for ``resume``); without,
    it runs the epochs and keeps the last."""
    set_seed(config.seed)
    model, tokenizer = build_model(base)
    checkpoints = validation is not None
    args = TrainingArguments(
        output_dir=str(work),
        num_train_epochs=epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size, 32),
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        eval_strategy="epoch" if checkpoints else "no",
        save_strategy="epoch" if checkpoints else "no",
        save_total_limit=2,
        load_best_model_at_end=checkpoints,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_strategy="epoch",
        dataloader_pin_memory=torch.cuda.is_available(),  # else a warning at every evaluation
        label_names=["labels", "basis_known"],  # compute_metrics masks unknown legal bases
        remove_unused_columns=False,  # the loss reads `weight` and `basis_known`
        report_to=[],
        train_sampling_strategy="group_by_length",  # random batches pad this data to ~1.9x its tokens
        seed=config.seed,
        data_seed=config.seed,
        **precision_flags(config.precision),
    )
    trainer = WeightedTrainer(
        model=model,
        args=args,
        train_dataset=_encode(train_split, tokenizer, config),
        eval_dataset=_encode(validation, tokenizer, config) if checkpoints else None,
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(config.early_stopping_patience)] if checkpoints else [],
        pos_weight=pos_weights(np.asarray(train_split["labels"]), config.pos_weight_cap),
    )
    has_checkpoint = resume and any(work.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if has_checkpoint else None)
    return trainer


def calibrate(trainer: WeightedTrainer, config: TrainConfig) -> None:
    """With ``undo_pos_weight``, subtract ``log(pos_weight)`` from the output bias, in place
    (logit adjustment).

    Weighing a label's positives by ``w`` in the loss multiplies its predicted odds by ``w``:
    with ``w = 10`` a calibrated 0.5 comes out as 0.91, above most of the threshold grid, and the
    0.5 default of labels without validation positives over-predicts. This removes the factor.
    """
    if config.undo_pos_weight:
        shift_bias(trainer.model, (-torch.log(trainer.pos_weight)).tolist())


def fitted_thresholds(
    config: TrainConfig, probs: np.ndarray, labels: np.ndarray, known: np.ndarray
) -> list[float]:
    """``tune_thresholds`` with the config's default and shrinkage."""
    return tune_thresholds(probs, labels, default=config.threshold_default,
                           min_positives=config.threshold_min_positives, basis_known=known)  # fmt: skip


def predict_probs(trainer: WeightedTrainer, split: Dataset, config: TrainConfig) -> np.ndarray:
    """Sigmoid probabilities of a fitted model for every clause of ``split``."""
    return sigmoid(trainer.predict(_encode(split, trainer.processing_class, config)).predictions)


def pretrain(config: TrainConfig, folder: str | Path) -> Path:
    """Stage one of the two-stage recipe: the base fine-tuned on the written set alone for
    ``pretrain_epochs``. It holds no real policy, so every LOPO fold can start from it."""
    folder = Path(folder)
    records = read_records(config.supplementary)
    written = Dataset.from_list([to_example(record) | {"weight": 1.0} for record in records])
    trainer = fit(config, config.base_model, written, folder.with_name(folder.name + ".work"),
                  config.pretrain_epochs)  # fmt: skip
    trainer.save_model(str(folder))
    shutil.rmtree(folder.with_name(folder.name + ".work"), ignore_errors=True)
    return folder


def stage_two(config: TrainConfig, base: str) -> TrainConfig:
    """The config that fine-tunes a stage-one model on the real policies (and ``replay`` written
    clauses), at ``finetune_learning_rate``."""
    return config.model_copy(update={
        "base_model": base, "pretrain_epochs": 0.0,
        "supplementary": config.supplementary if config.replay else None,
        "learning_rate": config.finetune_learning_rate or config.learning_rate,
    })  # fmt: skip


def _labels(split: Dataset) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(split["labels"]).astype(int), np.asarray(split["basis_known"], dtype=bool)


def oof_thresholds(config: TrainConfig, train_split: Dataset, written: set[str], work: Path) -> list[float]:
    """Thresholds tuned on pooled out-of-fold predictions of the training side: one inner model
    per real training policy, trained on the others (and the written text), predicts it."""
    folds = list(inner_folds(train_split, written))
    if len(folds) < 2:
        raise TrainingError(
            f"{config.data}: thresholds: oof needs at least 2 real training policies, found {len(folds)}"
        )
    probs, labels, known = [], [], []
    for index, (held, inner_train, inner_test) in enumerate(folds):
        logger.info("thresholds: inner fold %d/%d holds out %s", index + 1, len(folds), held)
        trainer = fit(config, config.base_model, inner_train, work / f"inner-{index}", config.epochs)
        calibrate(trainer, config)
        probs.append(predict_probs(trainer, inner_test, config))
        fold_labels, fold_known = _labels(inner_test)
        labels.append(fold_labels)
        known.append(fold_known)
        shutil.rmtree(work / f"inner-{index}", ignore_errors=True)
    return fitted_thresholds(config, np.concatenate(probs), np.concatenate(labels), np.concatenate(known))


def saved_oof_thresholds(config: TrainConfig, train_split: Dataset, written: set[str]) -> list[float]:
    """``oof_thresholds`` from the saved out-of-fold predictions of this recipe's LOPO run
    (``oof_predictions``), pooled over its seeds: no inner model is trained."""
    real = train_split.select([i for i, p in enumerate(train_split["policy_id"]) if p not in written])
    runs = saved_oof_probs(config, real["id"], real["policy_id"])
    labels, known = _labels(real)
    return fitted_thresholds(config, np.concatenate(runs), np.tile(labels, (len(runs), 1)),
                             np.tile(known, len(runs)))  # fmt: skip


OWN_FILES = ("model", "metrics.json", "config.yaml", "log.json")


def train(config: TrainConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Fine-tune per ``config`` and write the run folder; return its path.

    Work happens in ``<output_dir>.work`` (Trainer checkpoints, kept for ``resume``); the
    finished folder is assembled in ``<output_dir>.tmp`` and renamed into place, so a
    crash never leaves a complete-looking but half-written model. An existing run folder is
    refused unless ``overwrite``; then only training's own files are replaced, and what other
    commands wrote there (``eval/``, labels, summaries) is kept.
    """
    started = time.time()
    output = Path(config.output_dir)
    if output.exists() and not overwrite:
        raise TrainingError(f"{output}: the run folder exists; pass --overwrite to replace its model")
    work, staging = output.with_name(output.name + ".work"), output.with_name(output.name + ".tmp")
    splits = check_data(config)
    written = (
        {record.policy_id for record in read_records(config.supplementary)} if config.supplementary
        else set()
    )  # fmt: skip
    thresholds = None
    if config.thresholds == "oof" and config.oof_predictions:  # the LOPO folds are the inner folds
        thresholds = saved_oof_thresholds(config, splits["train"], written)
    fit_config = config
    if config.pretrain_epochs > 0 and config.supplementary:
        stage_one = work / "stage-one"
        if not (resume and (stage_one / "model.safetensors").is_file()):
            pretrain(config, stage_one)
        fit_config = stage_two(config, str(stage_one))
        splits = check_data(fit_config)
    validation = splits.get("validation")
    if config.thresholds == "oof" and thresholds is None:
        thresholds = oof_thresholds(fit_config, splits["train"], written, work / "thresholds")
    trainer = fit(fit_config, fit_config.base_model, splits["train"], work, config.epochs,
                  validation=validation, resume=resume)  # fmt: skip
    calibrate(trainer, config)
    metrics: dict[str, float] = {}
    if validation is not None:
        validation_probs = predict_probs(trainer, validation, config)
        validation_labels, validation_known = _labels(validation)
        if thresholds is None:
            thresholds = fitted_thresholds(config, validation_probs, validation_labels, validation_known)
        decisions = apply_thresholds(validation_probs, thresholds)
        metrics |= {f"validation_{k}": v for k, v in task_scores(decisions, validation_labels,
                                                                 validation_known).items()}  # fmt: skip
    if thresholds is None:
        raise TrainingError(f"{config.data}: thresholds: validation needs validation_policies")
    if "test" in splits:
        test_labels, test_known = _labels(splits["test"])
        decisions = apply_thresholds(predict_probs(trainer, splits["test"], config), thresholds)
        metrics |= {f"test_{k}": v for k, v in task_scores(decisions, test_labels, test_known).items()}
    metrics["train_seconds"] = round(time.time() - started, 1)
    metrics["epochs_run"] = float(trainer.state.epoch or 0)

    shutil.rmtree(staging, ignore_errors=True)
    meta = {
        "config": config.model_dump(),
        "metrics": metrics,
        "test_policies": sorted(set(splits["test"]["policy_id"])) if "test" in splits else [],
        "validation_policies": sorted(set(validation["policy_id"])) if validation is not None else [],
    }
    save_checkpoint(staging / "model", Checkpoint(trainer.model, trainer.processing_class, thresholds, meta))
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (staging / "config.yaml").write_text(yaml.safe_dump(config.model_dump()), encoding="utf-8")
    (staging / "log.json").write_text(json.dumps(trainer.state.log_history, indent=2), encoding="utf-8")
    if output.exists():  # keep the other commands' files; swap in ours
        for name in OWN_FILES:
            old = output / name
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink(missing_ok=True)
            (staging / name).rename(old)
        shutil.rmtree(staging)
    else:
        staging.rename(output)
    shutil.rmtree(work, ignore_errors=True)
    return output

"""Config → Trainer → run folder: fine-tune, tune thresholds on validation, save atomically."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from datasets import Dataset, DatasetDict, concatenate_datasets
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

from ..data import ClauseFileError, load_splits, read_records, validate_file
from ..data.labels import TASK_COLUMNS
from ..data.splits import to_example
from ..data.validate import is_written
from ..model.checkpoint import Checkpoint, build_model, save_checkpoint
from ..model.thresholds import apply_thresholds, tune_thresholds
from .config import TrainConfig
from .metrics import compute_metrics, sigmoid, task_scores

logger = logging.getLogger(__name__)
MIN_EXAMPLES = 2


class TrainingError(ValueError):
    """A problem with the training input, reported in one line."""


class WeightedTrainer(Trainer):
    """Trainer with a multi-label BCE loss that weighs positives of rare labels up
    (``pos_weight``), skips the legal-basis labels of clauses whose basis is unknown
    (``basis_known``) and weighs each clause by its ``weight`` (written text vs real)."""

    def __init__(self, *args, pos_weight: torch.Tensor, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pos_weight = pos_weight

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels, weight, known = inputs.pop("labels"), inputs.pop("weight"), inputs.pop("basis_known")
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


def add_supplementary(splits: DatasetDict, path: str, weight: float) -> DatasetDict:
    """Add the written clauses of ``path`` to the train split (never to validation or test),
    each with loss weight ``weight``; real clauses weigh 1."""
    records = read_records(path)
    real = [record.id for record in records if not is_written(record)]
    if real:
        raise TrainingError(
            f"{path}: supplementary data must be written text; {real[0]} has no source: written"
        )
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
        splits = add_supplementary(splits, config.supplementary, config.supplementary_weight)
    for name in ("train", "validation"):
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
    """bf16/fp16 only on CUDA; 'auto' picks bf16 where supported, else fp16, on a GPU."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    return {"bf16": precision == "bf16" and cuda, "fp16": precision == "fp16" and cuda}


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
    set_seed(config.seed)
    model, tokenizer = build_model(config.base_model)

    def tokenize(batch):
        pair = batch["context"] if config.use_context else None
        return tokenizer(batch["text"], pair, truncation=True, max_length=config.max_length)

    columns = ["id", "policy_id", "text", "context"]
    encoded = splits.map(tokenize, batched=True, remove_columns=columns)
    train_labels = np.asarray(splits["train"]["labels"])
    args = TrainingArguments(
        output_dir=str(work),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size, 32),
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_strategy="epoch",
        dataloader_pin_memory=torch.cuda.is_available(),  # else a warning at every evaluation
        remove_unused_columns=False,  # the loss reads `weight` and `basis_known`
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        **precision_flags(config.precision),
    )
    trainer = WeightedTrainer(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(config.early_stopping_patience)],
        pos_weight=pos_weights(train_labels, config.pos_weight_cap),
    )
    has_checkpoint = resume and any(work.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if has_checkpoint else None)

    validation_probs = sigmoid(trainer.predict(encoded["validation"]).predictions)
    validation_labels = np.asarray(splits["validation"]["labels"]).astype(int)
    thresholds = tune_thresholds(
        validation_probs, validation_labels, min_positives=config.threshold_min_positives
    )
    metrics = {f"validation_{k}": v for k, v in task_scores(
        apply_thresholds(validation_probs, thresholds), validation_labels).items()}  # fmt: skip
    if "test" in encoded:
        test_probs = sigmoid(trainer.predict(encoded["test"]).predictions)
        test_labels = np.asarray(splits["test"]["labels"]).astype(int)
        decisions = apply_thresholds(test_probs, thresholds)
        metrics |= {f"test_{k}": v for k, v in task_scores(decisions, test_labels).items()}
    metrics["train_seconds"] = round(time.time() - started, 1)
    metrics["epochs_run"] = float(trainer.state.epoch or 0)

    shutil.rmtree(staging, ignore_errors=True)
    meta = {
        "config": config.model_dump(),
        "metrics": metrics,
        "test_policies": sorted(set(splits["test"]["policy_id"])) if "test" in splits else [],
        "validation_policies": sorted(set(splits["validation"]["policy_id"])),
    }
    save_checkpoint(staging / "model", Checkpoint(trainer.model, tokenizer, thresholds, meta))
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

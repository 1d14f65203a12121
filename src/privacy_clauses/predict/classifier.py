"""``ClauseClassifier``: the Python API for labeling clauses with a trained model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.errors import PrivacyClausesError
from ..data.labels import ALL_LABELS, BASIS_PREFIX, CATEGORY_PREFIX
from ..data.segment import segment
from ..model.checkpoint import load_checkpoint
from ..model.folding import FOLDED_KEY
from ..model.precision import BACKENDS
from ..model.thresholds import apply_thresholds
from .devices import batch_workers, prepare_model, resolve_device, resolve_precision, worker_count

logger = logging.getLogger(__name__)
SMALL_CALL_BATCH = 4  # clauses per batch of a small CPU call


@dataclass(frozen=True)
class Prediction:
    """Labels of one clause, and the probability of every label."""

    categories: list[str]
    legal_basis: list[str]
    probabilities: dict[str, float]


class ClauseClassifier:
    """A trained checkpoint ready for batch inference on CPU or GPU."""

    def __init__(
        self, checkpoint, device: str = "auto", precision: str = "auto", batch_size: int = 32,
        backend: str = "torch", model_dir: str | Path | None = None,
    ):  # fmt: skip
        if backend not in BACKENDS:
            raise PrivacyClausesError(f"backend '{backend}': expected one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.runtime = None
        if backend != "torch":  # ONNX Runtime or OpenVINO on CPU, from the files of `privacy-clauses export`
            from .runtimes import exported_model

            if device not in ("auto", "cpu"):
                raise PrivacyClausesError(f"backend '{backend}' runs on CPU, not '{device}'")
            self.device = resolve_device("cpu")
            self.precision = "fp32" if precision == "auto" else precision
            self.runtime = exported_model(backend, model_dir, self.precision, worker_count(self.device))
            # the exported graph has the thresholds folded in: undo it for calibrated probabilities
            self.logit_offset = -np.asarray(checkpoint.meta.get(FOLDED_KEY) or [0.0] * len(ALL_LABELS))
            self.model = None
        else:
            self.device = resolve_device(device)
            self.precision = resolve_precision(precision, self.device)
            self.model = prepare_model(checkpoint.model, self.device, self.precision)
        self.tokenizer = checkpoint.tokenizer
        self.thresholds = checkpoint.thresholds
        self.use_context = checkpoint.meta.get("config", {}).get("use_context", True)
        trained = int(checkpoint.meta.get("config", {}).get("max_length", 512))
        positions = getattr(checkpoint.model.config, "max_position_embeddings", trained)
        self.max_length = min(trained, positions)
        self.batch_size = batch_size
        self.truncated = 0

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str = "auto", precision: str = "auto", batch_size: int = 32,
        backend: str = "torch",
    ):  # fmt: skip
        """Load a model folder written by ``privacy-clauses train`` (``backend`` onnx or openvino:
        its export)."""
        return cls(load_checkpoint(path), device=device, precision=precision, batch_size=batch_size,
                   backend=backend, model_dir=path)  # fmt: skip

    def predict_proba(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """Per-label probabilities, shape (len(texts), len(ALL_LABELS)), in input order.

        Tokenizes once, runs length-sorted batches (longest first) with dynamic padding
        (on CPU, one single-threaded worker per core), counts truncated inputs.
        """
        if not texts:
            return np.zeros((0, len(ALL_LABELS)), dtype=np.float32)
        pairs = list(contexts) if contexts is not None and self.use_context else None
        encoded = self.tokenizer(list(texts), pairs, truncation=True, max_length=self.max_length)
        self._count_truncated(texts, pairs, encoded["input_ids"])
        # Longest batches first: the workers then end on short ones and finish together.
        order = np.argsort([-len(row) for row in encoded["input_ids"]], kind="stable")
        probs = np.empty((len(texts), len(ALL_LABELS)), dtype=np.float32)
        features = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded]

        def run(index: np.ndarray) -> None:
            if self.runtime is not None:
                batch = self.tokenizer.pad({key: [encoded[key][i] for i in index] for key in features},
                                           return_tensors="np")  # fmt: skip
                logits = self.runtime(batch) + self.logit_offset
                probs[index] = 1.0 / (1.0 + np.exp(-logits))
                return
            batch = self.tokenizer.pad(
                {key: [encoded[key][i] for i in index] for key in features}, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():  # per thread: grad mode is thread-local
                logits = self.model(**batch).logits.float()
            probs[index] = torch.sigmoid(logits).cpu().numpy()

        # A CPU call smaller than a batch per worker (a server's micro-batch) holds clauses of every
        # length: small length-sorted batches pad far less (1.6x served clauses/s, benchmarks/serve_load.py).
        small = self.device.type == "cpu" and len(order) < self.batch_size * worker_count(self.device)
        size = min(self.batch_size, SMALL_CALL_BATCH) if small else self.batch_size
        batches = [order[start : start + size] for start in range(0, len(order), size)]
        with batch_workers(self.device) as workers:
            for _ in workers.map(run, batches):  # re-raises a worker's exception
                pass
        return probs

    def _count_truncated(self, texts: Sequence[str], pairs: list[str] | None, ids: list[list[int]]) -> None:
        """Only inputs that fill ``max_length`` can have been cut: re-check just those."""
        full = [i for i, row in enumerate(ids) if len(row) >= self.max_length]
        if not full:
            return
        again = self.tokenizer([texts[i] for i in full], [pairs[i] for i in full] if pairs else None,
                               verbose=False)  # fmt: skip  (the warning below says it once)
        cut = sum(len(row) > self.max_length for row in again["input_ids"])
        if cut:
            self.truncated += cut
            logger.warning("%d clause(s) longer than %d tokens were truncated", cut, self.max_length)

    def decide(self, probs: np.ndarray) -> list[Prediction]:
        """Apply the saved thresholds and the label rules."""
        decisions = apply_thresholds(probs, self.thresholds)
        results = []
        for row, chosen in zip(probs, decisions, strict=True):
            on = [name for name, flag in zip(ALL_LABELS, chosen, strict=True) if flag]
            results.append(
                Prediction(
                    categories=[n.removeprefix(CATEGORY_PREFIX) for n in on if n.startswith(CATEGORY_PREFIX)],
                    legal_basis=[n.removeprefix(BASIS_PREFIX) for n in on if n.startswith(BASIS_PREFIX)],
                    probabilities={name: round(float(p), 4) for name, p in zip(ALL_LABELS, row, strict=True)},
                )
            )
        return results

    def predict(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> list[Prediction]:
        """Label clauses (with their heading context, when given)."""
        return self.decide(self.predict_proba(texts, contexts))

    def classify_policy(self, text: str, fmt: str = "markdown", whole_page: bool = False) -> list[dict]:
        """Segment a policy and label every clause: text, offsets, context and labels
        (HTML: the page's main content unless ``whole_page``)."""
        clauses = segment(text, fmt, whole_page)
        predictions = self.predict([c.text for c in clauses], [c.context for c in clauses])
        return [
            {
                "text": c.text,
                "start": c.start,
                "end": c.end,
                "context": c.context,
                "categories": p.categories,
                "legal_basis": p.legal_basis,
                "probabilities": p.probabilities,
            }
            for c, p in zip(clauses, predictions, strict=True)
        ]

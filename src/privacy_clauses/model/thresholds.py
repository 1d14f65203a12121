"""Per-label decision thresholds and the label rules applied to every prediction."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from ..data.labels import ALL_LABELS, CATEGORY_PREFIX, OTHER, TASK_COLUMNS

DEFAULT_THRESHOLD = 0.5
CANDIDATES = np.round(np.arange(0.05, 0.96, 0.05), 2)


def tune_thresholds(
    probs: np.ndarray,
    labels: np.ndarray,
    default: float = DEFAULT_THRESHOLD,
    min_positives: int = 5,
    basis_known: np.ndarray | None = None,
) -> list[float]:
    """Pick, per label, the threshold that maximises F1 on validation data.

    The tuned value is shrunk toward ``default`` by ``n / (n + min_positives)`` for a
    label with ``n`` validation positives, so a threshold fitted on three examples
    cannot drift to an extreme; with no positives the default is kept. Legal-basis columns
    use only the clauses whose basis is known (``basis_known``).
    """
    thresholds = []
    basis = set(TASK_COLUMNS["legal_basis"])
    for column in range(labels.shape[1]):
        rows = basis_known if basis_known is not None and column in basis else slice(None)
        y, p = labels[rows, column], probs[rows, column]
        positives = int(y.sum())
        if positives == 0:
            thresholds.append(default)
            continue
        scores = [f1_score(y, p >= t, zero_division=0) for t in CANDIDATES]
        best = float(CANDIDATES[int(np.argmax(scores))])
        weight = positives / (positives + min_positives)
        thresholds.append(round(weight * best + (1 - weight) * default, 4))
    return thresholds


def apply_thresholds(probs: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """Turn probabilities into 0/1 decisions that obey the label rules.

    Every clause gets at least one category (the most probable when none passes its
    threshold), and ``other`` never stands beside another category.
    """
    decisions = (probs >= np.asarray(thresholds)).astype(int)
    categories = TASK_COLUMNS["categories"]
    other = ALL_LABELS.index(CATEGORY_PREFIX + OTHER)
    block = decisions[:, categories]
    empty = block.sum(axis=1) == 0
    best = np.asarray(categories)[probs[:, categories].argmax(axis=1)]
    decisions[np.where(empty)[0], best[empty]] = 1
    has_real = decisions[:, [i for i in categories if i != other]].sum(axis=1) > 0
    decisions[has_real, other] = 0
    return decisions

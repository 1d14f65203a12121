"""Baselines under the same splits as the model: the label prior and TF-IDF + logistic regression.

Both see what the model sees (the clause, and its heading context unless ``use_context`` is off),
tune per-label thresholds on the same validation policies, and obey the same label rules, so a
report shows what the transformer adds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from ..data.records import ClauseRecord
from ..data.splits import split_records, to_example
from ..data.validate import is_written
from ..model.thresholds import apply_thresholds, tune_thresholds
from .predictions import Predictions, make_predictions

BASELINES = ("prior", "tfidf")


def _inputs(records: Sequence[ClauseRecord], use_context: bool) -> list[str]:
    return [f"{record.context} | {record.text}" if use_context else record.text for record in records]


def _labels(records: Sequence[ClauseRecord]) -> np.ndarray:
    return np.asarray([to_example(record)["labels"] for record in records], dtype=int)


def prior_probs(train: Sequence[ClauseRecord], n: int) -> np.ndarray:
    """Every clause gets each label's training frequency: with the label rules this predicts
    the most frequent category and no legal basis."""
    return np.tile(_labels(train).mean(axis=0), (n, 1))


def tfidf_probs(
    train: Sequence[ClauseRecord], *others: Sequence[ClauseRecord], use_context: bool = True
) -> list[np.ndarray]:
    """Fit word 1–2-gram TF-IDF + one logistic regression per label (balanced class weights)
    on ``train``; return probabilities for each of ``others``."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    features = vectorizer.fit_transform(_inputs(train, use_context))
    targets = _labels(train)
    matrices = [vectorizer.transform(_inputs(records, use_context)) for records in others]
    outputs = [np.zeros((m.shape[0], targets.shape[1])) for m in matrices]
    for column in range(targets.shape[1]):
        y = targets[:, column]
        if y.min() == y.max():  # a label never (or always) seen in training: its frequency
            for out in outputs:
                out[:, column] = y.mean()
            continue
        classifier = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000)
        classifier.fit(features, y)
        for out, matrix in zip(outputs, matrices, strict=True):
            out[:, column] = classifier.predict_proba(matrix)[:, 1]
    return outputs


def _oof_thresholds(train: Sequence[ClauseRecord], min_positives: int, use_context: bool) -> list[float]:
    """TF-IDF thresholds from pooled out-of-fold predictions over the real training policies,
    the rule the model uses with ``thresholds: oof``."""
    real = sorted({r.policy_id for r in train if not is_written(r)})
    probs, truth = [], []
    for held in real:
        inner_train, _, inner_test = split_records(train, [held])
        probs.append(tfidf_probs(inner_train, inner_test, use_context=use_context)[0])
        truth.append(_labels(inner_test))
    return tune_thresholds(np.concatenate(probs), np.concatenate(truth), min_positives=min_positives)


def baseline_predictions(
    name: str,
    train: Sequence[ClauseRecord],
    validation: Sequence[ClauseRecord],
    test: Sequence[ClauseRecord],
    min_positives: int = 5,
    thresholds: str = "validation",
    use_context: bool = True,
) -> Predictions:
    """Train baseline ``name`` on ``train``, tune thresholds on ``validation`` (or out-of-fold over
    the training policies, ``thresholds="oof"``), predict ``test``."""
    if name == "prior":
        probs = prior_probs(train, len(test))
        return make_predictions(test, probs, apply_thresholds(probs, [0.5] * probs.shape[1]))
    if thresholds == "oof":
        cutoffs = _oof_thresholds(train, min_positives, use_context)
        probs = tfidf_probs(train, test, use_context=use_context)[0]
    else:
        validation_probs, probs = tfidf_probs(train, validation, test, use_context=use_context)
        cutoffs = tune_thresholds(validation_probs, _labels(validation), min_positives=min_positives)
    return make_predictions(test, probs, apply_thresholds(probs, cutoffs))

"""Near-duplicate clauses by TF-IDF cosine: written training text must not repeat itself or the seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from .records import ClauseRecord

NEAR_DUPLICATE = 0.9


@dataclass(frozen=True)
class NearDuplicate:
    first: str
    second: str
    similarity: float

    def __str__(self) -> str:
        return f"{self.first} ~ {self.second}: cosine {self.similarity:.2f}"


def near_duplicates(
    records: list[ClauseRecord], reference: list[ClauseRecord] = (), threshold: float = NEAR_DUPLICATE
) -> list[NearDuplicate]:
    """Pairs of ``records`` (and of records × ``reference``) whose TF-IDF cosine is ≥ ``threshold``.

    Word uni- and bigrams, fitted on both sets; a pair of identical texts is a near-duplicate too.
    """
    if not records:
        return []
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    vectorizer.fit([r.text for r in records] + [r.text for r in reference])
    matrix = vectorizer.transform([r.text for r in records])
    within = cosine_similarity(matrix, dense_output=False).toarray()
    pairs = [
        NearDuplicate(records[i].id, records[j].id, float(within[i, j]))
        for i, j in zip(*np.nonzero(np.triu(within >= threshold, k=1)), strict=True)
    ]
    if reference:
        across = cosine_similarity(matrix, vectorizer.transform([r.text for r in reference])).astype(float)
        pairs += [
            NearDuplicate(records[i].id, reference[j].id, float(across[i, j]))
            for i, j in zip(*np.nonzero(across >= threshold), strict=True)
        ]
    return sorted(pairs, key=lambda pair: -pair.similarity)

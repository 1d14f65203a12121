import numpy as np

from privacy_clauses.data import ALL_LABELS
from privacy_clauses.model.thresholds import apply_thresholds, tune_thresholds

OTHER = ALL_LABELS.index("category:other")
SECURITY = ALL_LABELS.index("category:data_security")
CONSENT = ALL_LABELS.index("basis:consent")


def test_threshold_with_few_positives_is_shrunk_toward_the_default():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.0, 0.2, size=(200, 2))
    labels = np.zeros((200, 2), dtype=int)
    labels[:3, 0] = 1
    probs[:3, 0] = 0.06  # three positives scored low: raw best threshold is 0.05
    labels[:100, 1] = 1
    probs[:100, 1] = 0.3  # many positives: the tuned threshold stands
    low, high = tune_thresholds(probs, labels, default=0.5, min_positives=5)
    assert 0.25 < low < 0.5, "3 positives: weight 3/8 on the tuned value"
    assert high == 0.25 or abs(high - 0.25) < 0.05


def test_label_without_validation_positives_keeps_the_default():
    probs = np.full((10, 1), 0.9)
    assert tune_thresholds(probs, np.zeros((10, 1), dtype=int)) == [0.5]


def test_label_rules_hold_in_every_decision():
    probs = np.zeros((3, len(ALL_LABELS)))
    probs[0, SECURITY] = 0.2  # nothing passes: the most probable category is taken
    probs[1, [OTHER, SECURITY]] = 0.9  # other beside a real category: other goes
    probs[2, OTHER] = 0.9
    probs[2, CONSENT] = 0.7
    decisions = apply_thresholds(probs, [0.5] * len(ALL_LABELS))
    assert decisions[0, SECURITY] == 1 and decisions[0].sum() == 1
    assert decisions[1, SECURITY] == 1 and decisions[1, OTHER] == 0
    assert decisions[2, OTHER] == 1 and decisions[2, CONSENT] == 1

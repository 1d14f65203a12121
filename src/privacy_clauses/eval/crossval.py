"""Leave-one-policy-out cross-validation: one model per held-out policy, out-of-fold predictions pooled."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..data.errors import PrivacyClausesError
from ..data.records import read_records
from ..data.splits import policy_ids
from ..train.config import TrainConfig
from .predictions import Evaluation, Predictions, evaluation_records
from .systems import baseline_runs, model_run, split_records

logger = logging.getLogger(__name__)


def lopo_splits(ids: list[str]) -> list[tuple[str, str]]:
    """(test, validation) per fold: each policy is held out once; validation (early stopping,
    thresholds) is the next policy in sorted order, so it always comes from the training side."""
    if len(ids) < 3:
        raise PrivacyClausesError(f"leave-one-policy-out needs at least 3 policies, found {len(ids)}")
    return [(policy, ids[(i + 1) % len(ids)]) for i, policy in enumerate(ids)]


def cross_validate(
    variants: dict[str, TrainConfig], seeds: list[int], work: str | Path, baselines: bool = True
) -> Evaluation:
    """Run LOPO for each config variant (same folds, same seeds) and the baselines of each.

    Returns per system the pooled out-of-fold predictions of every seed.
    """
    started = time.time()
    first = next(iter(variants.values()))
    records = evaluation_records(read_records(first.data), first.data)
    folds = lopo_splits(policy_ids(records))
    systems: dict[str, list[list[Predictions]]] = {}
    work = Path(work)
    steps = tqdm(total=len(folds) * len(seeds) * len(variants), desc="lopo", unit="model")
    for test, validation in folds:
        parts = split_records(records, [test], [validation])
        for name, config in variants.items():
            if baselines:
                for baseline, run in baseline_runs(config, *parts).items():
                    variant = name.removeprefix("model")
                    if not (variant and baseline == "prior"):  # the prior ignores written text
                        systems.setdefault(baseline + variant, [[]])[0].append(run)
            runs = systems.setdefault(name, [[] for _ in seeds])
            for slot, seed in enumerate(seeds):
                logger.info("fold %s (validation %s), %s, seed %d", test, validation, name, seed)
                runs[slot].append(model_run(config, parts[2], [validation], seed, work))
                steps.update()
    steps.close()
    pooled = {name: [Predictions.concat(parts) for parts in runs] for name, runs in systems.items()}
    return Evaluation(
        mode="lopo", systems=pooled, seeds=seeds, seconds=time.time() - started,
        folds=[{"test": t, "validation": v} for t, v in folds],
        configs={name: config.model_dump() for name, config in variants.items()},
    )  # fmt: skip

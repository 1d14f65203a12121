"""Leave-one-policy-out cross-validation: one model per held-out policy, out-of-fold predictions pooled."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..data.records import read_records
from ..data.splits import lopo_splits, policy_ids, split_records
from ..train.config import TrainConfig
from ..train.run import pretrain
from .predictions import Evaluation, Predictions, evaluation_records
from .systems import baseline_runs, model_run

logger = logging.getLogger(__name__)
STAGE_ONE_FIELDS = {
    "base_model", "supplementary", "pretrain_epochs", "learning_rate", "batch_size", "weight_decay",
    "warmup_ratio", "pos_weight_cap", "max_length", "use_context", "precision", "max_steps", "seed",
}  # fmt: skip


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
    stage_one: dict[tuple[str, int], Path] = {}  # written text only: shared by folds and variants
    trained: dict[str, Path] = {}
    for name, config in variants.items():
        if not (config.pretrain_epochs > 0 and config.supplementary):
            continue
        for seed in seeds:
            settings = config.model_copy(update={"seed": seed})
            key = json.dumps(settings.model_dump(include=STAGE_ONE_FIELDS), sort_keys=True)
            if key not in trained:
                logger.info("stage one (written set), %s, seed %d", name, seed)
                trained[key] = pretrain(settings, work / f"stage-one-{len(trained)}")
            stage_one[name, seed] = trained[key]
    for test, validation in folds:
        for name, config in variants.items():
            held_out = [] if config.thresholds == "oof" else [validation]  # oof: train on all others
            parts = split_records(records, [test], held_out)
            if baselines:
                for baseline, run in baseline_runs(config, *parts).items():
                    variant = name.removeprefix("model")
                    if not (variant and baseline == "prior"):  # the prior ignores written text
                        systems.setdefault(baseline + variant, [[]])[0].append(run)
            runs = systems.setdefault(name, [[] for _ in seeds])
            for slot, seed in enumerate(seeds):
                logger.info("fold %s (validation %s), %s, seed %d", test, validation, name, seed)
                runs[slot].append(
                    model_run(config, parts[2], held_out, seed, work, stage_one.get((name, seed)))
                )
                steps.update()
    steps.close()
    for folder in trained.values():  # stage-one models are discarded like the fold models
        shutil.rmtree(folder, ignore_errors=True)
    pooled = {name: [Predictions.concat(parts) for parts in runs] for name, runs in systems.items()}
    return Evaluation(
        mode="lopo", systems=pooled, seeds=seeds, seconds=time.time() - started,
        folds=[{"test": t, "validation": v if first.thresholds == "validation" else ""} for t, v in folds],
        configs={name: config.model_dump() for name, config in variants.items()},
    )  # fmt: skip

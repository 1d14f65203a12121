from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
POLICIES = DATA / "policies"


@pytest.fixture
def seed_policies() -> list[Path]:
    return sorted(POLICIES.iterdir())


SMALL_POLICIES = ("gigster", "workhirespot", "gigapros")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    from .tiny import make_tiny_base

    corpus = " ".join(p.read_text(encoding="utf-8") for p in POLICIES.iterdir())
    return make_tiny_base(tmp_path_factory.mktemp("tiny-base"), corpus)


@pytest.fixture
def small_data(tmp_path) -> Path:
    """Three seed policies and their labeled clauses, in a folder of their own."""
    (tmp_path / "policies").mkdir()
    for path in POLICIES.iterdir():
        if path.stem in SMALL_POLICIES:
            (tmp_path / "policies" / path.name).write_bytes(path.read_bytes())
    lines = (DATA / "clauses.jsonl").read_text(encoding="utf-8").splitlines()
    keep = [line for line in lines if line.split('"policy_id": "')[1].split('"')[0] in SMALL_POLICIES]
    (tmp_path / "clauses.jsonl").write_text("\n".join(keep) + "\n", encoding="utf-8")
    return tmp_path / "clauses.jsonl"


@pytest.fixture(scope="session")
def tiny_model(tiny_base, tmp_path_factory) -> Path:
    """A tiny model trained for a few steps by the real training code (seconds)."""
    from privacy_clauses.train.config import load_config
    from privacy_clauses.train.run import train

    output = tmp_path_factory.mktemp("tiny-run") / "run"
    overrides = [
        f"base_model={tiny_base}",
        f"output_dir={output}",
        "max_length=48",
        "epochs=1",
        "batch_size=64",
        "supplementary=null",
        "test_policies=[gigster]",
        "validation_policies=[workhirespot]",
        "thresholds=validation",
        "pretrain_epochs=0",
    ]
    config = load_config(ROOT / "configs" / "default.yaml", overrides)
    config.data = str(DATA / "clauses.jsonl")
    return train(config) / "model"

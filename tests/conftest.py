from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
POLICIES = DATA / "policies"


@pytest.fixture
def seed_policies() -> list[Path]:
    return sorted(POLICIES.iterdir())

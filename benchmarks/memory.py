"""Peak memory of ``privacy-clauses predict`` on an input and on one 20 times larger.

Target (batch inference issue): the 20x input raises peak memory by less than 10%.
Uses a tiny randomly initialised model of this project (memory of the streaming path,
not of the weights), so it runs in minutes on a CPU.

    python benchmarks/memory.py [--copies 10]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tiny import make_tiny_base  # noqa: E402

from privacy_clauses.data import ALL_LABELS  # noqa: E402
from privacy_clauses.model.checkpoint import Checkpoint, build_model, save_checkpoint  # noqa: E402

CHILD = """
import resource, sys
from privacy_clauses.cli import main
code = main(["predict", "--model", sys.argv[1], sys.argv[2], "-o", sys.argv[3]])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)
"""


def peak_kb(model: Path, inputs: Path, output: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(inputs), str(output)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    peak, code = done.stdout.split()[-2:]
    assert code == "0", done.stderr[-2000:]
    return int(peak)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--copies", type=int, default=10, help="copies of the 5 seed policies in the small input"
    )
    args = parser.parse_args()
    policies = sorted((ROOT / "data" / "policies").iterdir())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = " ".join(p.read_text(encoding="utf-8") for p in policies)
        model, tokenizer = build_model(str(make_tiny_base(tmp / "base", corpus)))
        save_checkpoint(tmp / "model", Checkpoint(model, tokenizer, [0.5] * len(ALL_LABELS), {"config": {}}))
        sizes = {}
        for name, copies in (("small", args.copies), ("large", 20 * args.copies)):
            folder = tmp / name
            folder.mkdir()
            for copy in range(copies):
                for policy in policies:
                    (folder / f"{copy:05d}-{policy.name}").write_bytes(policy.read_bytes())
            sizes[name] = peak_kb(tmp / "model", folder, tmp / f"{name}.jsonl")
            lines = sum(1 for _ in (tmp / f"{name}.jsonl").open())
            peak_mb = sizes[name] / 1024
            print(f"{name}: {copies * len(policies)} policies, {lines} clauses, peak {peak_mb:.0f} MB")
    growth = sizes["large"] / sizes["small"] - 1
    print(f"peak memory growth for a 20x larger input: {growth:+.1%} (target < +10%)")


if __name__ == "__main__":
    main()

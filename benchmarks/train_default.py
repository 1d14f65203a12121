"""Time and peak memory of training the default config on the bundled dataset.

Target (training issue): <= 5 minutes wall time and <= 4 GB peak memory on a 2-core CPU.
Runs the real CLI in a child process and reads its peak resident memory from the OS.

    python benchmarks/train_default.py [KEY=VALUE ...]
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "run"
        command = [
            sys.executable, "-m", "privacy_clauses.cli", "train",
            "--config", str(ROOT / "configs" / "default.yaml"), f"output_dir={output}",
            *sys.argv[1:],
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        metrics = json.loads((output / "metrics.json").read_text())
    print(f"wall time: {seconds:.0f} s (target <= 300 s)")
    print(f"peak memory: {peak_gb:.2f} GB (target <= 4 GB)")
    print(f"epochs run: {metrics['epochs_run']:.0f}")
    for name, value in metrics.items():
        if name.startswith("test_"):
            print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()

"""Clauses per second of ``predict`` on the local path and on Ray with 1 and 2 workers.

The same clauses for every path (the bundled dataset repeated, as JSONL tables of 100
clauses each), interleaved rounds, median and range. Each run is timed end to end on a
small and a large input: the steady rate is the slope, (large - small) / (t_large - t_small),
and the fixed cost the intercept, t_small - small / rate (model load; on Ray also actor
start-up and scheduling). ``ray.init`` is timed once, apart. Peak memory (RSS) of every model
actor is sampled while Ray runs. On a shared machine wall time follows the other load; the
CPU time of this process and all under it (Ray's workers, raylet, object store) is steadier:
clauses per CPU-second, by the same slope, is each path's cost.

Model: ``--model DIR``, or by default all-MiniLM-L6-v2 (the project's embedded base, the
size of the default model) with an untrained head: the speed of a real-size model, not
its labels.

    python benchmarks/ray_throughput.py [--small 1000 --large 3000 --rounds 3]
"""

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil
import ray

from privacy_clauses.data import ALL_LABELS, read_records
from privacy_clauses.model.checkpoint import Checkpoint, build_model, save_checkpoint
from privacy_clauses.predict.batch import predict_inputs
from privacy_clauses.predict.classifier import ClauseClassifier
from privacy_clauses.predict.distributed import run_distributed

ROOT = Path(__file__).resolve().parents[1]


def write_tables(folder: Path, count: int) -> list[str]:
    """``count`` clauses of the bundled dataset (repeated) as JSONL tables of 100 rows."""
    records = read_records(ROOT / "data" / "clauses.jsonl")
    chosen = [records[i % len(records)] for i in range(count)]
    rows = [{"id": f"c{i}", "text": r.text, "context": r.context} for i, r in enumerate(chosen)]
    folder.mkdir(parents=True)
    files = []
    for start in range(0, count, 100):
        path = folder / f"t{start // 100:05d}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows[start : start + 100]), encoding="utf-8")
        files.append(str(path))
    return files


def cpu_seconds() -> float:
    """CPU time used so far by this process and every process under it (Ray's included),
    counting children that have exited and been waited for."""
    total = 0.0
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


class WorkerMemory:
    """Peak RSS of each Ray model actor (process title ``ray::MapWorker(...Labeler...)``)."""

    def __init__(self):
        self.peak: dict[int, int] = {}
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            for process in psutil.process_iter(["pid", "cmdline", "memory_info"]):
                cmdline = " ".join(process.info["cmdline"] or [])
                if "Labeler" in cmdline and process.info["memory_info"]:
                    rss = process.info["memory_info"].rss
                    self.peak[process.info["pid"]] = max(self.peak.get(process.info["pid"], 0), rss)
            time.sleep(0.2)

    def stop(self) -> list[int]:
        self.running = False
        self.thread.join()
        return sorted(self.peak.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="model folder (default: MiniLM-L6 with an untrained head)")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shard-size", type=int, default=5, help="input tables per Ray shard")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            encoder, tokenizer = build_model("embedded")
            model = tmp / "model"
            save_checkpoint(model, Checkpoint(encoder, tokenizer, [0.5] * len(ALL_LABELS), {"config": {}}))
        inputs = {size: write_tables(tmp / f"in{size}", size) for size in (args.small, args.large)}

        started = time.perf_counter()
        ray.init(num_cpus=psutil.cpu_count(), include_dashboard=False, logging_level="WARNING")
        ray.data.DataContext.get_current().enable_progress_bars = False
        ray_init = time.perf_counter() - started

        def local(size: int, out: Path) -> None:
            classifier = ClauseClassifier.from_pretrained(model, device="cpu")
            predict_inputs(classifier, inputs[size], out / "labels.parquet", summary=out / "summary.json")

        def on_ray(workers: int):
            def run(size: int, out: Path) -> None:
                run_distributed(
                    model, inputs[size], out, workers=workers, device="cpu", shard_size=args.shard_size
                )

            return run

        paths = {"local": local, "ray, 1 worker": on_ray(1), "ray, 2 workers": on_ray(2)}
        times: dict[str, dict[int, list[float]]] = {name: {args.small: [], args.large: []} for name in paths}
        cpu: dict[str, dict[int, list[float]]] = {name: {args.small: [], args.large: []} for name in paths}
        memory = WorkerMemory()
        for round_ in range(args.rounds):
            for name, run in paths.items():
                for size in (args.small, args.large):
                    out = tmp / f"out-{round_}-{name.replace(' ', '').replace(',', '-')}-{size}"
                    out.mkdir()
                    started, used = time.perf_counter(), cpu_seconds()
                    run(size, out)
                    times[name][size].append(time.perf_counter() - started)
                    cpu[name][size].append(cpu_seconds() - used)
            print(f"round {round_ + 1}: " + ", ".join(
                f"{name} {times[name][args.small][-1]:.1f}/{times[name][args.large][-1]:.1f} s"
                for name in paths), flush=True)  # fmt: skip
        peaks = memory.stop()

    print(f"\nclauses: {args.small} and {args.large}; rounds: {args.rounds}; cores: {psutil.cpu_count()}")
    print(f"ray.init (local Ray, once per process): {ray_init:.1f} s")
    extra = args.large - args.small
    rates = {name: [extra / (big - little) for little, big in zip(*times[name].values(), strict=True)]
             for name in paths}  # fmt: skip
    per_cpu = {name: [extra / (big - little) for little, big in zip(*cpu[name].values(), strict=True)]
               for name in paths}  # fmt: skip
    for name in paths:
        fixed = [t - args.small / r for t, r in zip(times[name][args.small], rates[name], strict=True)]
        print(f"{name}: {spread(rates[name], '.0f')} clauses/s; fixed cost {spread(fixed, '.1f')} s; "
              f"{spread(per_cpu[name], '.0f')} clauses per CPU-second")  # fmt: skip
    for name in ("ray, 1 worker", "ray, 2 workers"):
        ratio = [r / b for r, b in zip(rates[name], rates["local"], strict=True)]
        cost = [r / b for r, b in zip(per_cpu[name], per_cpu["local"], strict=True)]
        print(f"{name} / local, same round: clauses/s {spread(ratio, '.2f')}; "
              f"clauses per CPU-second {spread(cost, '.2f')}")  # fmt: skip
    if peaks:
        print(f"peak RSS per model worker: {spread([p / 2**20 for p in peaks], '.0f')} MB "
              f"over {len(peaks)} worker processes")  # fmt: skip


def spread(values: list[float], fmt: str) -> str:
    """Median and range."""
    return f"{statistics.median(values):{fmt}} (range {min(values):{fmt}}-{max(values):{fmt}})"

if __name__ == "__main__":
    main()

"""Load test of ``privacy-clauses serve`` on loopback, beside batch prediction of the same clauses.

Starts the server on a free 127.0.0.1 port (a subprocess; uvicorn with uvloop and httptools,
as the ``serve`` extra installs it), then in each of ``--rounds``
interleaved rounds: times batch prediction (``ClauseClassifier.predict_proba``, the engine of
``privacy-clauses predict``, same backend and precision) over the clauses, then sends them to
``POST /v1/classify`` as ``--requests`` requests, ``--concurrency`` at a time. Reports clauses/s
of both (median and range over rounds), the served/batch ratio, latency p50/p99, failed
requests and the server's resident memory after each round. Bounded: at most ``--requests``
per round and ``--time-limit`` seconds in all; only loopback traffic.

    python benchmarks/serve_load.py [--model runs/default/model] [--requests 2000] [--concurrency 32]
"""

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import psutil

from privacy_clauses.data import read_records
from privacy_clauses.predict.classifier import ClauseClassifier


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with status {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("server did not become healthy")


def load(port: int, bodies: list[dict], concurrency: int, deadline: float) -> tuple[list, int, float]:
    """Send every body, ``concurrency`` in flight (one keep-alive connection per thread, the
    standard library's client: light enough not to be the bottleneck); latencies of successes,
    failures, seconds."""
    latencies: list[float] = []
    failures = 0
    pending = iter(bodies)
    lock = threading.Lock()

    def worker() -> None:
        nonlocal failures
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                body = next(pending, None)
            if body is None:
                break
            payload = json.dumps(body).encode()
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/classify", payload, {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = json.loads(response.read())
                ok = response.status == 200 and len(answer["results"]) == len(body["clauses"])
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures, time.perf_counter() - started


def spread(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} (range {min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="runs/default/model")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--clauses-per-request", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--server-batch-size", type=int, default=32, help="serve --batch-size (its default)")
    parser.add_argument("--max-wait-ms", type=float, default=None, help="serve --max-wait-ms")
    parser.add_argument("--time-limit", type=float, default=900, help="seconds for all rounds together")
    args = parser.parse_args()

    records = read_records("data/clauses.jsonl")
    count = args.requests * args.clauses_per_request
    records = (records * -(-count // len(records)))[:count]
    texts, contexts = [r.text for r in records], [r.context for r in records]
    step = args.clauses_per_request
    bodies = [
        {"clauses": [{"text": texts[j], "context": contexts[j]} for j in range(i, i + step)]}
        for i in range(0, count, step)
    ]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "privacy_clauses.cli", "serve", "--model", args.model,
               "--port", str(port), "--backend", args.backend, "--precision", args.precision,
               "--device", "cpu", "--batch-size", str(args.server_batch_size)]  # fmt: skip
    if args.max_wait_ms is not None:
        command += ["--max-wait-ms", str(args.max_wait_ms)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url, server)
        memory = psutil.Process(server.pid)
        classifier = ClauseClassifier.from_pretrained(
            args.model, device="cpu", precision=args.precision, backend=args.backend
        )
        classifier.predict_proba(texts[:64], contexts[:64])
        load(port, bodies[:64], args.concurrency, time.monotonic() + 60)  # warm-up
        warm = memory.memory_info().rss / 2**20
        print(f"{len(bodies)} requests of {step} clause(s), {args.concurrency} concurrent, "
              f"{args.backend} {args.precision}; server RSS after warm-up {warm:.0f} MiB")  # fmt: skip
        deadline = time.monotonic() + args.time_limit
        batch, served, ratios, p50, p99, failures, rss = [], [], [], [], [], 0, []
        for round_ in range(args.rounds):
            started = time.perf_counter()
            classifier.predict_proba(texts, contexts)
            batch.append(count / (time.perf_counter() - started))
            latencies, failed, seconds = load(port, bodies, args.concurrency, deadline)
            served.append(len(latencies) * step / seconds)
            ratios.append(served[-1] / batch[-1])
            p50.append(float(np.percentile(latencies, 50)) * 1000)
            p99.append(float(np.percentile(latencies, 99)) * 1000)
            failures += failed + (len(bodies) - len(latencies) - failed)
            rss.append(memory.memory_info().rss / 2**20)
            print(f"round {round_ + 1}: batch {batch[-1]:.1f} clauses/s, served {served[-1]:.1f} clauses/s "
                  f"({ratios[-1]:.0%}), p50 {p50[-1]:.0f} ms, p99 {p99[-1]:.0f} ms, failed {failed}, "
                  f"server RSS {rss[-1]:.0f} MiB")  # fmt: skip
        print(f"batch predict: {spread(batch)} clauses/s; served: {spread(served)} clauses/s; "
              f"served/batch {spread([r * 100 for r in ratios], 0)}% (target >= 70%)")
        print(f"latency p50 {spread(p50, 0)} ms, p99 {spread(p99, 0)} ms; "
              f"failed or unsent requests: {failures}; "
              f"server RSS by round: {', '.join(f'{m:.0f}' for m in rss)} MiB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

"""Devices and numeric precision for inference: one model, CPU or CUDA, without code changes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel

from ..data.errors import PrivacyClausesError
from ..model.precision import PRECISIONS, auto_precision


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` takes the first GPU when there is one; ``cuda:N`` must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise PrivacyClausesError(f"device '{device}': expected auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise PrivacyClausesError(f"device '{device}': no CUDA GPU is available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise PrivacyClausesError(f"device '{device}': only {torch.cuda.device_count()} GPU(s) present")
    return resolved


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` as in ``model.precision.auto_precision``; int8 is CPU-only, fp16 GPU-only."""
    if precision not in PRECISIONS:
        raise PrivacyClausesError(f"precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return auto_precision(device.type)
    if precision == "int8" and device.type != "cpu":
        raise PrivacyClausesError("precision 'int8' (dynamic quantization) runs on CPU only")
    if precision == "fp16" and device.type == "cpu":
        raise PrivacyClausesError("precision 'fp16' needs a GPU; on CPU use fp32, bf16 or int8")
    return precision


def prepare_model(model: PreTrainedModel, device: torch.device, precision: str) -> PreTrainedModel:
    """Put the model in eval mode on ``device`` at ``precision`` (int8: dynamic quantization)."""
    model = model.eval()
    if precision == "int8":
        from .int8 import quantize_int8

        return quantize_int8(model)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return model.to(device=device, dtype=dtype)


def worker_count(device: torch.device) -> int:
    """How many batches ``batch_workers`` runs side by side: one per core on CPU, one on a GPU."""
    return torch.get_num_threads() if device.type == "cpu" else 1


@contextmanager
def batch_workers(device: torch.device) -> Iterator[ThreadPoolExecutor]:
    """Threads that run batches: on CPU one per core, each single-threaded; on a GPU one.

    Small batches split badly across cores inside each operation; whole batches side by
    side keep every core busy (+13% median clauses/s for int8 on 2 cores, benchmarks/).
    torch's thread count is restored on exit.
    """
    threads = torch.get_num_threads()
    workers = worker_count(device)
    torch.set_num_threads(threads // workers)
    try:
        with ThreadPoolExecutor(workers) as pool:
            yield pool
    finally:
        torch.set_num_threads(threads)

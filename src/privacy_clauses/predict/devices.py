"""Devices and numeric precision for inference: one model, CPU or CUDA, without code changes."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
from torch.ao.quantization import PerChannelMinMaxObserver, QConfig, default_dynamic_quant_observer
from transformers import PreTrainedModel

PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` takes the first GPU when there is one; ``cuda:N`` must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device '{device}': expected auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device '{device}': no CUDA GPU is available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device '{device}': only {torch.cuda.device_count()} GPU(s) present")
    return resolved


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is fp16 on a GPU and fp32 on CPU; int8 is CPU-only, fp16 GPU-only."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "int8" and device.type != "cpu":
        raise ValueError("precision 'int8' (dynamic quantization) runs on CPU only")
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision 'fp16' needs a GPU; on CPU use fp32, bf16 or int8")
    return precision


# Weights: 7 bits per output channel; activations: all 8 bits, scaled per batch. The u8 x s7 pairs
# sum below the int16 limit, so CPUs without VNNI cannot saturate. On the default model torch's
# default (8-bit per-tensor weights, 7-bit activations) kept 98.8% of fp32's label decisions;
# this keeps 99.6% (benchmarks/throughput.py).
INT8_QCONFIG = QConfig(
    activation=default_dynamic_quant_observer,
    weight=PerChannelMinMaxObserver.with_args(
        dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-64, quant_max=63
    ),
)


class FullRangeInt8Linear(DynamicInt8Linear):
    """Dynamically quantized linear layer whose activations use the full 8-bit range."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = self._packed_params._packed_params
        return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False).to(x.dtype)


def quantize_int8(model: PreTrainedModel) -> PreTrainedModel:
    """Dynamic int8 quantization of the encoder's linear layers; the classifier head stays fp32."""
    layers = {
        name: INT8_QCONFIG
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not name.startswith("classifier")
    }
    with warnings.catch_warnings():  # torch.ao.quantization warns of its planned move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(
            model, layers, mapping={torch.nn.Linear: FullRangeInt8Linear}, dtype=torch.qint8
        )


def prepare_model(model: PreTrainedModel, device: torch.device, precision: str) -> PreTrainedModel:
    """Put the model in eval mode on ``device`` at ``precision`` (int8: dynamic quantization)."""
    model = model.eval()
    if precision == "int8":
        return quantize_int8(model)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return model.to(device=device, dtype=dtype)


@contextmanager
def batch_workers(device: torch.device) -> Iterator[ThreadPoolExecutor]:
    """Threads that run batches: on CPU one per core, each single-threaded; on a GPU one.

    Small batches split badly across cores inside each operation; whole batches side by
    side keep every core busy (+13% median clauses/s for int8 on 2 cores, benchmarks/).
    torch's thread count is restored on exit.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        with ThreadPoolExecutor(1) as pool:
            yield pool
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads) as pool:
            yield pool
    finally:
        torch.set_num_threads(threads)

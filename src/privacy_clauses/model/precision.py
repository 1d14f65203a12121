"""Numeric precisions, and what ``auto`` means: one rule for training and inference; the runtimes."""

from __future__ import annotations

PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
BACKENDS = ("torch", "onnx", "openvino")  # onnx, openvino: CPU, from the files of `export`


def auto_precision(device_type: str) -> str:
    """On a CUDA GPU bf16 where it is supported, else fp16; fp32 elsewhere."""
    if device_type != "cuda":
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"

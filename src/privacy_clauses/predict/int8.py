"""The int8 CPU path: dynamic quantization of the encoder's linear layers."""

from __future__ import annotations

import warnings

import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
from torch.ao.quantization import PerChannelMinMaxObserver, QConfig, default_dynamic_quant_observer
from transformers import PreTrainedModel

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

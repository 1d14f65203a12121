"""Export a model folder to ONNX (``torch.onnx``), optionally int8 (ONNX Runtime quantization).

The files go to ``<model>/onnx/``: ``model.onnx`` and ``model_int8.onnx``. The graph is the
saved one, thresholds folded into the bias, so any ONNX runtime decides with logit > 0;
``ClauseClassifier(backend="onnx")`` undoes the fold for calibrated probabilities.
Needs the ``export`` extra (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ..data.errors import PrivacyClausesError
from ..model.checkpoint import load_checkpoint_meta

logger = logging.getLogger(__name__)
ONNX_FOLDER = "onnx"
ONNX_FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}
FORMATS = ("onnx",)


def onnx_path(model_dir: str | Path, precision: str) -> Path:
    """Where ``export`` writes the ONNX file of ``precision`` (fp32 or int8)."""
    return Path(model_dir) / ONNX_FOLDER / ONNX_FILES[precision]


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError as error:
        raise PrivacyClausesError(
            f"ONNX export needs {module}: pip install 'privacy-clauses[export]'"
        ) from error


def export_onnx(model_dir: str | Path, int8: bool = False) -> list[Path]:
    """Write ``onnx/model.onnx`` (and ``onnx/model_int8.onnx`` with ``int8``); return the paths.

    Batch size and sequence length stay dynamic. int8 is ONNX Runtime's dynamic quantization
    (per-channel int8 weights of every MatMul, activations quantized per batch).
    """
    for module in ("onnx", "onnxscript", "onnxruntime"):
        _require(module)
    load_checkpoint_meta(model_dir)  # refuses folders that are not models of this project
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, use_safetensors=True, trust_remote_code=False
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    sample = tokenizer(["We share data.", "Contact us at any time."], ["Sharing", ""], return_tensors="pt",
                       padding=True)  # fmt: skip
    names = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in sample]
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=4096)
    target = onnx_path(model_dir, "fp32")
    target.parent.mkdir(exist_ok=True)
    with warnings.catch_warnings():  # the exporter's notices about traced shapes
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (), kwargs={key: sample[key] for key in names}, input_names=names,
            output_names=["logits"], dynamic_shapes={key: {0: batch, 1: sequence} for key in names},
            dynamo=True, verbose=False, report=False,
        )  # fmt: skip
    program.save(str(target))
    written = [target]
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(target, onnx_path(model_dir, "int8"), weight_type=QuantType.QInt8, per_channel=True)
        written.append(onnx_path(model_dir, "int8"))
    logger.info("exported %s", ", ".join(map(str, written)))
    return written

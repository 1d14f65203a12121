"""Export a model folder to ONNX (``torch.onnx``) or OpenVINO IR, optionally int8.

ONNX goes to ``<model>/onnx/`` (``model.onnx``; ``model_int8.onnx``: ONNX Runtime's dynamic
quantization), OpenVINO to ``<model>/openvino/`` (``model.xml``; ``model_int8.xml``: NNCF's
post-training quantization, calibrated on clauses the user gives). The graph is the saved one,
thresholds folded into the bias, so any runtime decides with logit > 0; ``ClauseClassifier``
undoes the fold for calibrated probabilities. Needs the ``export`` extra (onnx, onnxscript,
onnxruntime); OpenVINO also the ``openvino`` extra (openvino, nncf).
"""

from __future__ import annotations

import importlib
import itertools
import logging
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ..data.errors import PrivacyClausesError
from ..model.checkpoint import load_checkpoint_meta

logger = logging.getLogger(__name__)
SUFFIXES = {"onnx": ".onnx", "openvino": ".xml"}
CALIBRATION_CLAUSES = 300  # NNCF's default subset size
EXTRAS = {"onnx": "export", "onnxscript": "export", "onnxruntime": "export", "openvino": "openvino",
          "nncf": "openvino"}  # fmt: skip


def exported_path(model_dir: str | Path, fmt: str, precision: str) -> Path:
    """Where ``export`` writes the ``fmt`` (onnx, openvino) model of ``precision`` (fp32, int8)."""
    name = "model_int8" if precision == "int8" else "model"
    return Path(model_dir) / fmt / (name + SUFFIXES[fmt])


def onnx_path(model_dir: str | Path, precision: str) -> Path:
    """Where ``export`` writes the ONNX file of ``precision`` (fp32 or int8)."""
    return exported_path(model_dir, "onnx", precision)


def require(*modules: str, purpose: str = "export") -> None:
    """Import ``modules`` or raise one line naming the extra that installs them."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise PrivacyClausesError(
                f"{purpose} needs {module}: pip install 'privacy-clauses[{EXTRAS[module]}]'"
            ) from error


def export_onnx(model_dir: str | Path, int8: bool = False) -> list[Path]:
    """Write ``onnx/model.onnx`` (and ``onnx/model_int8.onnx`` with ``int8``); return the paths.

    Batch size and sequence length stay dynamic. int8 is ONNX Runtime's dynamic quantization
    (per-channel int8 weights of every MatMul, activations quantized per batch).
    """
    require("onnx", "onnxscript", "onnxruntime")
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


def calibration_features(
    model_dir: str | Path, inputs: list[str], count: int = CALIBRATION_CLAUSES
) -> list[dict]:
    """Up to ``count`` clauses of ``inputs`` (anything ``predict`` reads), tokenized as the model
    reads them, in padded batches of 8: the calibration set of static int8 quantization."""
    from .readers import ClauseRow, expand_inputs

    rows = (row for source in expand_inputs(inputs) for row in source.rows() if isinstance(row, ClauseRow))
    clauses = list(itertools.islice(rows, count))  # stops reading once it has enough
    if not clauses:
        raise PrivacyClausesError(f"{' '.join(inputs)}: no clauses to calibrate int8 on")
    meta = load_checkpoint_meta(model_dir)
    config = meta.get("config", {})
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    batches = []
    for start in range(0, len(clauses), 8):
        rows = clauses[start : start + 8]
        pairs = [row.context for row in rows] if config.get("use_context", True) else None
        encoded = tokenizer([row.text for row in rows], pairs, truncation=True, padding=True,
                            max_length=int(config.get("max_length", 512)), return_tensors="np")  # fmt: skip
        batches.append({key: value.astype("int64") for key, value in encoded.items()})
    return batches


def export_openvino(
    model_dir: str | Path, int8: bool = False, calibration: list[str] | None = None
) -> list[Path]:
    """Write ``openvino/model.xml`` (and, with ``int8``, ``openvino/model_int8.xml``); return the paths.

    The IR is converted from the ONNX export (written first if missing). int8 is NNCF's
    post-training quantization in its transformer mode (activations and weights int8, softmax and
    layer norms kept in float), calibrated on the first 300 clauses of ``calibration``.
    """
    require("openvino", *(("nncf",) if int8 else ()))
    if int8 and not calibration:
        raise PrivacyClausesError(
            "openvino --int8 needs --calibration FILE|DIR: clauses like those you will label"
        )
    import openvino

    source = onnx_path(model_dir, "fp32")
    if not source.is_file():
        export_onnx(model_dir)
    model = openvino.convert_model(source)
    target = exported_path(model_dir, "openvino", "fp32")
    target.parent.mkdir(exist_ok=True)
    openvino.save_model(model, target, compress_to_fp16=False)
    written = [target]
    if int8:
        import nncf

        features = calibration_features(model_dir, calibration)
        quantized = nncf.quantize(model, nncf.Dataset(features), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(features))  # fmt: skip
        openvino.save_model(quantized, exported_path(model_dir, "openvino", "int8"), compress_to_fp16=False)
        written.append(exported_path(model_dir, "openvino", "int8"))
    logger.info("exported %s", ", ".join(map(str, written)))
    return written

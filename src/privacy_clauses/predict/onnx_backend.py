"""Run an exported ONNX model with ONNX Runtime on CPU: the ``onnx`` backend of ``ClauseClassifier``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.errors import PrivacyClausesError
from .export import onnx_path

ONNX_PRECISIONS = ("fp32", "int8")


class OnnxModel:
    """An ONNX Runtime session over ``<model>/onnx/``: feature arrays in, logits out.

    One intra-op thread: ``ClauseClassifier`` runs one batch per core side by side, as it
    does with torch on CPU (``session.run`` is thread-safe and releases the GIL).
    """

    def __init__(self, model_dir: str | Path, precision: str) -> None:
        if precision not in ONNX_PRECISIONS:
            raise PrivacyClausesError(f"backend 'onnx' runs fp32 or int8, not '{precision}'")
        path = onnx_path(model_dir, precision)
        if not path.is_file():
            flag = " --int8" if precision == "int8" else ""
            raise PrivacyClausesError(
                f"{path}: no ONNX model; run 'privacy-clauses export --model {model_dir} --format onnx{flag}'"
            )
        try:
            import onnxruntime
        except ImportError as error:
            raise PrivacyClausesError(
                "backend 'onnx' needs onnxruntime: pip install 'privacy-clauses[export]'"
            ) from error
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [item.name for item in self.session.get_inputs()]

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Logits, shape (batch, labels), float32."""
        feed = {name: np.asarray(features[name], dtype=np.int64) for name in self.inputs}
        return self.session.run(["logits"], feed)[0].astype(np.float32)

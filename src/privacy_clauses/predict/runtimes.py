"""Run an exported model on CPU: the ``onnx`` (ONNX Runtime) and ``openvino`` backends of
``ClauseClassifier``. Each takes feature arrays and returns logits, and runs one batch per
worker thread side by side, as torch does on CPU."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import numpy as np

from ..data.errors import PrivacyClausesError
from .export import exported_path, require

PRECISIONS = ("fp32", "int8")
RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino"}


def _import(backend: str):
    require(RUNTIMES[backend], purpose=f"backend '{backend}'")
    return importlib.import_module(RUNTIMES[backend])


def _exported_file(model_dir: str | Path, backend: str, precision: str) -> Path:
    if precision not in PRECISIONS:
        raise PrivacyClausesError(f"backend '{backend}' runs fp32 or int8, not '{precision}'")
    path = exported_path(model_dir, backend, precision)
    if not path.is_file():
        calibration = " --calibration FILE" if backend == "openvino" else ""
        flag = "" if precision == "fp32" else " --int8" + calibration
        command = f"privacy-clauses export --model {model_dir} --format {backend}{flag}"
        raise PrivacyClausesError(f"{path}: no {backend} model; run '{command}'")
    return path


class OnnxModel:
    """An ONNX Runtime session with one intra-op thread (``session.run`` is thread-safe and
    releases the GIL)."""

    def __init__(self, model_dir: str | Path, precision: str, workers: int = 1) -> None:
        path = _exported_file(model_dir, "onnx", precision)
        onnxruntime = _import("onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [item.name for item in self.session.get_inputs()]

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Logits, shape (batch, labels), float32."""
        feed = {name: np.asarray(features[name], dtype=np.int64) for name in self.inputs}
        return self.session.run(["logits"], feed)[0].astype(np.float32)


class OpenVinoModel:
    """An OpenVINO model compiled for CPU with one single-threaded stream per worker; each worker
    thread keeps its own infer request (requests are not thread-safe, streams run side by side)."""

    def __init__(self, model_dir: str | Path, precision: str, workers: int = 1) -> None:
        path = _exported_file(model_dir, "openvino", precision)
        openvino = _import("openvino")
        settings = {"NUM_STREAMS": workers, "INFERENCE_NUM_THREADS": workers}
        if precision == "fp32":  # else OpenVINO runs float ops in bf16 on CPUs that have it
            settings["INFERENCE_PRECISION_HINT"] = "f32"
        self.compiled = openvino.Core().compile_model(str(path), "CPU", settings)
        self.inputs = [port.any_name for port in self.compiled.inputs]
        self.local = threading.local()

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Logits, shape (batch, labels), float32."""
        if not hasattr(self.local, "request"):
            self.local.request = self.compiled.create_infer_request()
        feed = {name: np.asarray(features[name], dtype=np.int64) for name in self.inputs}
        return np.asarray(self.local.request.infer(feed)[0], dtype=np.float32)


def exported_model(backend: str, model_dir: str | Path, precision: str, workers: int = 1):
    """The runner of ``backend`` (onnx or openvino) over ``model_dir``'s exported files."""
    runner = OnnxModel if backend == "onnx" else OpenVinoModel
    return runner(model_dir, precision, workers)

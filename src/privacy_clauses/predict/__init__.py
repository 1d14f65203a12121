"""Predict: the ClauseClassifier API, devices and precision, streaming batch inference."""

from .batch import RunReport, predict_inputs, run_predict
from .classifier import ClauseClassifier, Prediction

__all__ = ["ClauseClassifier", "Prediction", "RunReport", "predict_inputs", "run_predict"]

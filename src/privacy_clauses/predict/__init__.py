"""Predict: the ClauseClassifier API and batch inference (issue: batch inference)."""

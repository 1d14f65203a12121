"""Eval: held-out and leave-one-policy-out evaluation, baselines, reports (evaluation issue)."""

"""Train: config → Trainer → run folder (issue: fine-tuned transformer)."""

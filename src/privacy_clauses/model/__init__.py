"""Model: build from a base; save and load checkpoints with thresholds (training issue)."""

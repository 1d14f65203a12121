"""Serve: an HTTP API over ``ClauseClassifier`` (FastAPI + uvicorn, the ``serve`` extra)."""

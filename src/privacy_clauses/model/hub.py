"""Publish a model folder on the Hugging Face Hub (``privacy-clauses push``)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi, errors
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..data.errors import PrivacyClausesError
from .card import validate_card
from .checkpoint import ModelLoadError, load_checkpoint_meta

# the Hub client's HTTP and transport errors (its HTTP library's base class where it exports one)
NETWORK_ERRORS = (HfHubHTTPError, OSError, getattr(errors, "HTTPError", OSError))
# what a model folder publishes: weights, config, tokenizer, thresholds, card, ONNX and OpenVINO exports
UPLOAD_PATTERNS = ["*.safetensors", "*.json", "*.txt", "*.model", "README.md", "onnx/*.onnx",
                   "openvino/*.xml", "openvino/*.bin"]  # fmt: skip


def check_upload(folder: str | Path, repo_id: str) -> list[Path]:
    """Everything ``push`` checks before the network: a model of this project with safetensors
    weights and a valid card, and a well-formed repository id. Returns the files to upload."""
    folder = Path(folder)
    load_checkpoint_meta(folder)
    if not (folder / "model.safetensors").is_file():
        raise ModelLoadError(f"{folder}: no model.safetensors to publish")
    card = folder / "README.md"
    if not card.is_file():
        raise ModelLoadError(f"{folder}: no model card (README.md)")
    try:
        validate_card(card.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ModelLoadError(f"{card}: invalid model card: {error}") from error
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ModelLoadError(f"'{repo_id}': not a Hub repository id (owner/name): {error}") from error
    if "/" not in repo_id:
        raise ModelLoadError(f"'{repo_id}': give the owner too (owner/name)")
    return sorted(p for pattern in UPLOAD_PATTERNS for p in folder.glob(pattern) if p.is_file())


def push_model(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
               api: HfApi | None = None) -> str:  # fmt: skip
    """Create the model repository if needed and upload the folder in one commit; return its URL.

    The token comes from ``token``, ``HF_TOKEN`` or ``huggingface-cli login``.
    """
    check_upload(folder, repo_id)
    api = api or HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, repo_type="model", allow_patterns=UPLOAD_PATTERNS,
            commit_message="Upload privacy-clauses model",
        )  # fmt: skip
    except NETWORK_ERRORS as error:
        raise PrivacyClausesError(f"push to {repo_id} failed: {error}") from error
    return str(getattr(commit, "commit_url", commit))

"""Policy source files: where they are, and turning one into unlabeled clause records."""

from __future__ import annotations

from pathlib import Path

from .segment import segment_file

POLICY_SUFFIXES = (".md", ".txt", ".html", ".htm", ".pdf")


def policy_files(folder: str | Path) -> dict[str, Path]:
    """Map each policy id (the file stem) to its source file in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in POLICY_SUFFIXES and path.is_file():
            found.setdefault(path.stem, path)
    return found


def default_policy_dir(clause_file: str | Path) -> Path:
    """Policies live in ``policies/`` beside the clause file that labels them."""
    return Path(clause_file).resolve().parent / "policies"


def clause_records(path: str | Path, policy_id: str | None = None, whole_page: bool = False) -> list[dict]:
    """Segment a policy file into unlabeled records with ids ``<policy_id>:<nnnn>``
    (HTML: main content only unless ``whole_page``)."""
    policy_id = policy_id or Path(path).stem
    return [
        {
            "id": f"{policy_id}:{number:04d}",
            "policy_id": policy_id,
            "text": clause.text,
            "start": clause.start,
            "end": clause.end,
            "context": clause.context,
        }
        for number, clause in enumerate(segment_file(path, whole_page))
    ]

"""Data: policy text → clauses, the label scheme, records, validation and policy-grouped splits."""

from .labels import ALL_LABELS, CATEGORIES, LEGAL_BASES, SCHEME_VERSION
from .records import ClauseFileError, ClauseRecord, Problem, read_records, write_records
from .segment import Clause, segment, segment_file
from .splits import load_splits, lopo_fold, lopo_splits, policy_ids, split_by_policy, split_records
from .validate import validate_file

__all__ = [
    "ALL_LABELS",
    "CATEGORIES",
    "Clause",
    "ClauseFileError",
    "ClauseRecord",
    "LEGAL_BASES",
    "Problem",
    "SCHEME_VERSION",
    "load_splits",
    "lopo_fold",
    "lopo_splits",
    "policy_ids",
    "read_records",
    "segment",
    "segment_file",
    "split_by_policy",
    "split_records",
    "validate_file",
    "write_records",
]

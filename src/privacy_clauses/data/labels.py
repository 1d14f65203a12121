"""The label scheme: the one place that names and orders every label.

It follows ``LABELS.md``: the ten top-level OPP-115 practice categories and the
six lawful bases of GDPR Art. 6(1). The order here is the order of every
multi-hot array, every model output and every report.
"""

SCHEME_VERSION = "1.0"

CATEGORIES: tuple[str, ...] = (
    "first_party_collection_use",
    "third_party_sharing_collection",
    "user_choice_control",
    "user_access_edit_deletion",
    "data_retention",
    "data_security",
    "policy_change",
    "do_not_track",
    "international_specific_audiences",
    "other",
)

LEGAL_BASES: tuple[str, ...] = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
)

OTHER = "other"

# Label names of the joint output space: one head serves both tasks.
CATEGORY_PREFIX = "category:"
BASIS_PREFIX = "basis:"
ALL_LABELS: tuple[str, ...] = tuple(CATEGORY_PREFIX + c for c in CATEGORIES) + tuple(
    BASIS_PREFIX + b for b in LEGAL_BASES
)

TASKS: dict[str, tuple[str, ...]] = {"categories": CATEGORIES, "legal_basis": LEGAL_BASES}

# Columns of each task in the joint space (rows of multi-hot arrays, model outputs).
TASK_COLUMNS: dict[str, list[int]] = {
    "categories": [i for i, name in enumerate(ALL_LABELS) if name.startswith(CATEGORY_PREFIX)],
    "legal_basis": [i for i, name in enumerate(ALL_LABELS) if name.startswith(BASIS_PREFIX)],
}

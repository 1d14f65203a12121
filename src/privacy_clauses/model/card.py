"""The model card (``README.md`` in a model folder): Hub metadata and text, filled from training.

Written and checked with ``huggingface_hub``'s ``ModelCard``/``ModelCardData``. The
``model-index`` holds leave-one-policy-out figures when a LOPO report is given (training
config ``lopo_report``); a single held-out test policy is too small to quote, so without
one the card has no metrics block and says how to get one.
"""

from __future__ import annotations

import math

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..data.labels import ALL_LABELS, BASIS_PREFIX, CATEGORY_PREFIX, TASKS

LICENSE = "mit"  # the project's licence; the embedded base model is Apache-2.0
EMBEDDED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
DATASET_ID = "privacy-clauses/policy-clauses"  # the bundled clause dataset, as published beside the model
TAGS = ["privacy-policy", "multi-label", "opp-115", "gdpr", "legal", "privacy-clauses"]
TASK_NAMES = {"categories": "OPP-115 practice categories", "legal_basis": "GDPR Art. 6(1) legal bases"}
METRICS = {"micro_f1": ("f1", "micro"), "macro_f1": ("f1", "macro")}


RUN_FIELDS = {  # where and with which seed it ran, and what it quotes or reuses: not the recipe
    "output_dir", "test_policies", "validation_policies", "seed", "lopo_report", "oof_predictions",
}  # fmt: skip


def lopo_system(report: dict, config: dict | None = None) -> str | None:
    """The model system of a LOPO ``metrics.json`` trained with ``config``'s recipe (every field but
    where and with which seed it ran; a field an older report lacks counts as off), so a card never
    quotes another recipe's figures. Without a config, or a report without configs: the first."""
    models = [name for name in report.get("systems", {}) if name.startswith("model")]
    recorded = report.get("configs")
    if config is None or not recorded:
        return models[0] if models else None
    for name in models:
        other = recorded.get(name, {})
        keys = (set(config) | set(other)) - RUN_FIELDS
        if all(config.get(k) == other.get(k) or not (config.get(k) or other.get(k)) for k in keys):
            return name
    return None


def lopo_figures(report: dict, config: dict | None = None) -> dict[str, dict[str, float]]:
    """``{task: {metric: mean over seeds}}`` of the system of ``config``'s recipe in a LOPO report."""
    systems = report.get("systems", {})
    name = lopo_system(report, config)
    figures: dict[str, dict[str, float]] = {}
    for task in TASKS:
        summary = systems.get(name, {}).get(task, {}) if name else {}
        for metric in METRICS:
            value = summary.get(metric)
            value = value.get("mean") if isinstance(value, dict) else value
            if isinstance(value, int | float) and not math.isnan(value):
                figures.setdefault(task, {})[metric] = round(float(value), 4)
    return figures


def _base_model(config: dict) -> str | None:
    """The base model as a Hub id; ``None`` for a local folder (not a Hub id)."""
    base = config.get("base_model", "embedded")
    if base == "embedded":
        return EMBEDDED_HUB_ID
    return None if base.startswith((".", "/", "~")) or base.count("/") > 1 else base


def card_data(meta: dict, lopo: dict | None = None) -> ModelCardData:
    """The YAML metadata; ``model-index`` from the LOPO report when given."""
    results = []
    if lopo:
        figures = lopo_figures(lopo, meta.get("config"))
        seeds = lopo.get("seeds", [])
        for task, values in figures.items():
            for metric, value in values.items():
                kind, average = METRICS[metric]
                results.append(EvalResult(
                    task_type="text-classification", task_name=f"Clause classification: {TASK_NAMES[task]}",
                    dataset_type=DATASET_ID, dataset_name="privacy-clauses seed policies",
                    dataset_split=f"leave-one-policy-out, {len(seeds)} seed(s)",
                    metric_type=kind, metric_name=f"{metric.replace('_', '-')} ({task})",
                    metric_config=average, metric_value=value,
                ))  # fmt: skip
    return ModelCardData(
        license=LICENSE,
        base_model=_base_model(meta.get("config", {})),
        datasets=[DATASET_ID],
        language=["en"],
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=TAGS,
        model_name="privacy-clauses" if results else None,
        eval_results=results or None,
    )


def _label_table(meta: dict) -> str:
    rows = ["| label | task | threshold (folded into the bias) |", "|---|---|---|"]
    for name, threshold in zip(meta["labels"], meta["thresholds"], strict=True):
        task = "practice category" if name.startswith(CATEGORY_PREFIX) else "legal basis"
        rows.append(f"| `{name}` | {task} | {threshold:.2f} |")
    return "\n".join(rows)


def _evaluation(lopo: dict | None, config: dict) -> str:
    figures = lopo_figures(lopo, config) if lopo else {}
    if not figures:
        return (
            "No figures are quoted here: this model's held-out test policy is too small to say much. "
            "The recipe's leave-one-policy-out figures come from `privacy-clauses evaluate --cv lopo "
            "--config CONFIG -o REPORT`; train with `lopo_report=REPORT/metrics.json` to put them in "
            "this card."
        )
    rows = ["| task | micro-F1 | macro-F1 |", "|---|---|---|"]
    for task, values in figures.items():
        rows.append(f"| {TASK_NAMES[task]} | {values.get('micro_f1', float('nan')):.3f} | "
                    f"{values.get('macro_f1', float('nan')):.3f} |")  # fmt: skip
    seeds = lopo.get("seeds", [])
    return (
        "Leave-one-policy-out over the seed policies with this model's training recipe: one model per "
        f"held-out policy, pooled out-of-fold predictions, mean over {len(seeds)} seed(s) {seeds}. "
        "Macro-F1 averages the labels with support; legal-basis figures skip clauses without basis "
        "labels.\n\n" + "\n".join(rows)
    )


def _threshold_source(meta: dict) -> str:
    config = meta.get("config", {})
    if config.get("thresholds") == "oof":
        return "pooled out-of-fold predictions over the training policies (one model per policy held out)"
    return f"the validation policies {meta.get('validation_policies', [])}"


def model_card(meta: dict, lopo: dict | None = None) -> str:
    """Render the card: metadata, intended use, label scheme, how to use, evaluation, limits."""
    config = meta.get("config", {})
    names = {prefix: ", ".join(f"`{n.removeprefix(prefix)}`" for n in ALL_LABELS if n.startswith(prefix))
             for prefix in (CATEGORY_PREFIX, BASIS_PREFIX)}  # fmt: skip
    categories, bases = names[CATEGORY_PREFIX], names[BASIS_PREFIX]
    body = f"""
# privacy-clauses classifier

Labels each clause of a website privacy policy (a sentence, list item or heading, read with
its context: the headings and list lead-ins above it) with the OPP-115 practice categories it
addresses and the GDPR Art. 6(1) legal bases it states. Multi-label; one head for both tasks.

- **Base model:** {_base_model(config) or config.get("base_model", "unknown")}
- **Training data:** {config.get("data", "unknown")}, supplementary written text:
  {config.get("supplementary") or "none"}; held out: test {meta.get("test_policies", [])},
  validation {meta.get("validation_policies", [])}
- **Thresholds:** one per label, tuned on {_threshold_source(meta)}
- **Label scheme version:** {meta["scheme_version"]}; maximum length {config.get("max_length", "?")} tokens

## Intended use

Reading privacy policies at scale: finding which practices and legal bases a policy states,
for research, compliance review and search. The labels describe what the text says, not
whether a practice is lawful or a claim true. Not for legal advice or automated decisions
about people.

## Label scheme

Practice categories (at least one per clause): {categories}. Legal bases (zero or more):
{bases}.

{_label_table(meta)}

## How to use

Each label's tuned threshold is folded into the classifier bias, so plain tools decide as
the project does: `pipeline("text-classification", model=..., top_k=None)` with score >= 0.5,
or `AutoModelForSequenceClassification` with logit > 0. Pass the context as the text pair
and `truncation=True`. `privacy_clauses.predict.ClauseClassifier` (or `privacy-clauses
predict`) gives calibrated probabilities and also applies the label rules: every clause gets
a category (the most probable when none passes), and `other` never stands beside another.

## Evaluation

{_evaluation(lopo, config)}

## Limitations

Trained on a small set of English policies (plus written text); rare labels (`do_not_track`,
`vital_interests`, `public_task`) have few or no training examples and are unreliable.
Policies of other languages, jurisdictions or domains may be labeled worse than these figures
suggest. Probabilities are calibrated only as far as training on these policies allows.
"""
    card = ModelCard(f"---\n{card_data(meta, lopo).to_yaml()}\n---\n{body}")
    validate_card(str(card))
    return str(card)


def validate_card(text: str) -> ModelCardData:
    """Parse a card as the Hub does (YAML, model-index) offline; raise ``ValueError`` if invalid."""
    card = ModelCard(text)
    data = card.data
    for key in ("license", "language", "pipeline_tag", "tags"):
        if not getattr(data, key, None):
            raise ValueError(f"model card: metadata lacks '{key}'")
    return data

"""The report of a batch run (``predict --report DIR``): a cross-policy table and one HTML page.

- ``policies.csv`` and ``policies.parquet``: one row per policy (its ``policy_id``), and per label
  three columns: ``<label>:clauses`` (how many clauses state it), ``<label>:evidence`` (the
  strongest evidence, a sentence rather than a heading, or "not stated") and
  ``<label>:probability`` (that sentence's probability, empty when not stated).
- ``report.html``: self-contained (no network, no CDN): the matrix as a heat map, then per policy
  its text with every clause highlighted by its labels, a label filter (also from the address:
  ``report.html#label=category:data_retention``) and the probabilities on hover. Texts are shown
  for the first ``max_texts`` policies so that a crawl of thousands of pages stays a page a
  browser opens; the table and the heat map cover every policy.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..data.labels import ALL_LABELS, BASIS_PREFIX, CATEGORY_PREFIX

NOT_STATED = "not stated"
MAX_TEXTS = 200
_TEXT_FIELDS = ("id", "text", "context", "categories", "legal_basis", "probabilities")
_SENTENCE_END = re.compile(r"[.!?;:)\"”’]\s*$")


@dataclass
class _Evidence:
    clauses: int = 0
    text: str = ""
    probability: float = -1.0
    sentence: bool = False


@dataclass
class _Policy:
    policy_id: str
    source: str
    url: str = ""
    clauses: int = 0
    labels: dict[str, _Evidence] = field(default_factory=dict)
    headings: set[str] = field(default_factory=set)
    records: list[dict] | None = None


def labels_of(record: dict) -> list[str]:
    """A record's decided labels as ``category:*`` and ``basis:*`` names."""
    return [CATEGORY_PREFIX + c for c in record["categories"]] + [
        BASIS_PREFIX + b for b in record["legal_basis"] or []
    ]


def _squash(text: str) -> str:
    return " ".join(text.replace("*", "").replace("_", " ").split()).lower()


def is_sentence(record: dict, headings: set[str]) -> bool:
    """Whether a clause reads as a sentence: not a heading of its policy (a part of another
    clause's context) and ending like a sentence or list item, or longer than a title."""
    text = record["text"]
    if _squash(text) in headings:
        return False
    return bool(_SENTENCE_END.search(text)) or len(text.split()) > 12


def collect(records: Iterable[dict], max_texts: int = MAX_TEXTS) -> list[_Policy]:
    """Per policy: clause count, and per label the count and the strongest sentence evidence."""
    policies: dict[str, _Policy] = {}
    for record in records:
        key = record.get("policy_id") or record["source"]
        policy = policies.get(key)
        if policy is None:
            keep_text = len(policies) < max_texts
            url = str(record.get("url") or "")
            policy = _Policy(key, record["source"], url, records=[] if keep_text else None)
            policies[key] = policy
        policy.clauses += 1
        for part in (record.get("context") or "").split(" > "):
            if part:
                policy.headings.add(_squash(part))
        if policy.records is not None:
            policy.records.append({k: record[k] for k in _TEXT_FIELDS})
        for label in labels_of(record):
            evidence = policy.labels.setdefault(label, _Evidence())
            evidence.clauses += 1
            probability = float(record["probabilities"][label])
            sentence = is_sentence(record, policy.headings)
            if (sentence, probability) > (evidence.sentence, evidence.probability):
                evidence.text, evidence.probability, evidence.sentence = record["text"], probability, sentence
    return list(policies.values())


def table_rows(policies: list[_Policy]) -> list[dict]:
    """The cross-policy table: one row per policy, three columns per label."""
    rows = []
    for policy in policies:
        row: dict = {"policy_id": policy.policy_id, "source": policy.source, "url": policy.url}
        row["clauses"] = policy.clauses
        for label in ALL_LABELS:
            evidence = policy.labels.get(label)
            row[f"{label}:clauses"] = evidence.clauses if evidence else 0
            row[f"{label}:evidence"] = evidence.text if evidence else NOT_STATED
            row[f"{label}:probability"] = round(evidence.probability, 4) if evidence else None
        rows.append(row)
    return rows


def _schema() -> pa.Schema:
    fields = [("policy_id", pa.string()), ("source", pa.string()), ("url", pa.string())]
    fields.append(("clauses", pa.int64()))
    for label in ALL_LABELS:
        fields += [(f"{label}:clauses", pa.int64()), (f"{label}:evidence", pa.string())]
        fields.append((f"{label}:probability", pa.float64()))
    return pa.schema(fields)


def write_report(records: Iterable[dict], folder: str | Path, max_texts: int = MAX_TEXTS) -> list[Path]:
    """Write ``policies.csv``, ``policies.parquet`` and ``report.html`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    policies = collect(records, max_texts)
    rows = table_rows(policies)
    schema = _schema()
    paths = [folder / "policies.csv", folder / "policies.parquet", folder / "report.html"]
    staging = [path.with_name(path.name + ".tmp") for path in paths]
    with staging[0].open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=schema.names)
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), staging[1])
    staging[2].write_text(render_html(policies, max_texts), encoding="utf-8")
    for temporary, path in zip(staging, paths, strict=True):
        temporary.replace(path)
    return paths


# --- the HTML page ------------------------------------------------------------------------------

_COLORS = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
]  # fmt: skip
LABEL_COLORS = dict(zip(ALL_LABELS, _COLORS, strict=True))

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fff}
header{position:sticky;top:0;background:#f6f6f6;border-bottom:1px solid #ccc;padding:8px 16px;z-index:2}
main{padding:8px 16px}
h1{font-size:20px;margin:4px 0}
table.heat{border-collapse:collapse;font-size:12px}
table.heat th,table.heat td{border:1px solid #ddd;padding:3px 5px;text-align:center}
table.heat th.label{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:normal}
table.heat td.policy{text-align:left;white-space:nowrap}
td.none{color:#999;background:repeating-linear-gradient(45deg,#fafafa,#fafafa 4px,#eee 4px,#eee 8px)}
section.policy{border-top:2px solid #ccc;margin-top:18px}
.clause{border-radius:3px;padding:1px 2px;margin:0 1px;box-decoration-break:clone;cursor:help}
.chips{font-size:10px}
.chip{display:inline-block;border-radius:3px;color:#fff;padding:0 3px;margin-left:2px}
.heading{display:block;font-weight:bold;margin-top:10px}
.dim{opacity:.18}
.legend .chip{font-size:12px;margin:2px}
"""

_SCRIPT = """
function applyFilter(label){
  document.getElementById('filter').value=label;
  document.querySelectorAll('.clause').forEach(function(el){
    var on=!label||el.dataset.labels.split(' ').indexOf(label)>=0;
    el.classList.toggle('dim',!on);
  });
  document.body.dataset.filter=label||'';
}
document.getElementById('filter').addEventListener('change',function(e){
  history.replaceState(null,'',e.target.value?'#label='+e.target.value:'#');applyFilter(e.target.value);
});
var m=location.hash.match(/label=([^&]+)/);applyFilter(m?decodeURIComponent(m[1]):'');
"""


def _short(label: str) -> str:
    return label.split(":", 1)[1]


def _heat_cell(policy: _Policy, label: str) -> str:
    evidence = policy.labels.get(label)
    if evidence is None:
        return f'<td class="none" title="{html.escape(label)}: {NOT_STATED}">–</td>'
    share = evidence.clauses / max(policy.clauses, 1)
    alpha = 0.15 + 0.85 * min(1.0, share * 4)
    tip = f"{label}: {evidence.clauses} clause(s); strongest ({evidence.probability:.2f}): {evidence.text}"
    return (
        f'<td style="background:rgba(200,40,40,{alpha:.2f});color:{"#fff" if alpha > 0.6 else "#222"}" '
        f'title="{html.escape(tip)}">{evidence.clauses}</td>'
    )


def _clause_html(record: dict, headings: set[str]) -> str:
    labels = labels_of(record)
    probabilities = record["probabilities"]
    ranked = sorted(ALL_LABELS, key=lambda name: -probabilities[name])
    tip = "\n".join(f"{'✔' if n in labels else ' '} {n}: {probabilities[n]:.2f}" for n in ranked[:6])
    color = LABEL_COLORS.get(labels[0], "#999") if labels else "#999"
    chips = "".join(
        f'<span class="chip" style="background:{LABEL_COLORS[name]}">{html.escape(_short(name))}</span>'
        for name in labels
    )
    heading = " heading" if _squash(record["text"]) in headings else ""
    return (
        f'<span class="clause{heading}" data-labels="{html.escape(" ".join(labels))}" '
        f'style="background:{color}22;border-bottom:2px solid {color}" title="{html.escape(tip)}">'
        f'{html.escape(record["text"])}<span class="chips">{chips}</span></span> '
    )


def render_html(policies: list[_Policy], max_texts: int = MAX_TEXTS) -> str:
    """The report page as one HTML string with its style and script inline."""
    head_cells = "".join(f'<th class="label">{html.escape(n)}</th>' for n in ALL_LABELS)
    heat_rows = []
    for number, policy in enumerate(policies):
        name = html.escape(policy.policy_id)
        link = f'<a href="#p{number}">{name}</a>' if policy.records is not None else name
        cells = "".join(_heat_cell(policy, label) for label in ALL_LABELS)
        heat_rows.append(f'<tr><td class="policy">{link} ({policy.clauses})</td>{cells}</tr>')
    options = "".join(f'<option value="{html.escape(n)}">{html.escape(n)}</option>' for n in ALL_LABELS)
    legend = "".join(
        f'<span class="chip" style="background:{LABEL_COLORS[n]}">{html.escape(n)}</span>' for n in ALL_LABELS
    )
    texts = []
    for number, policy in enumerate(policies):
        if policy.records is None:
            continue
        url = f' · <span class="url">{html.escape(policy.url)}</span>' if policy.url else ""
        body = "".join(_clause_html(record, policy.headings) for record in policy.records)
        texts.append(
            f'<section class="policy" id="p{number}"><h2>{html.escape(policy.policy_id)}</h2>'
            f'<div class="meta">{html.escape(policy.source)}{url} · {policy.clauses} clauses</div>'
            f"<p>{body}</p></section>"
        )
    shown = sum(policy.records is not None for policy in policies)
    note = f"<p>Text shown for {shown} of {len(policies)} policies.</p>" if shown < len(policies) else ""
    data = json.dumps({"policies": len(policies), "labels": list(ALL_LABELS)})
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Privacy policy report ({len(policies)} policies)</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>Privacy policy report: {len(policies)} policies</h1>"
        f'<label>Show label: <select id="filter"><option value="">all clauses</option>{options}</select>'
        "</label>"
        f' <span class="legend">{legend}</span></header><main>'
        "<h2>Practices and legal bases per policy</h2>"
        "<p>Clauses per label; darker is a larger share of the policy's clauses; hatched: not stated. "
        "Hover a cell for the strongest evidence.</p>"
        f'<table class="heat"><thead><tr><th>policy (clauses)</th>{head_cells}</tr></thead>'
        f"<tbody>{''.join(heat_rows)}</tbody></table>{note}{''.join(texts)}</main>"
        f'<script type="application/json" id="report-data">{data}</script>'
        f"<script>{_SCRIPT}</script></body></html>"
    )

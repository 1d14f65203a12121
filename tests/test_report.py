"""predict --report: the cross-policy table (CSV, Parquet) and the self-contained HTML page."""

import csv
import re
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest

from privacy_clauses.cli import main
from privacy_clauses.data import ALL_LABELS
from privacy_clauses.predict.report import NOT_STATED, write_report

from .test_inputs import TABLE


def record(policy, number, text, labels, context="", strong=0.9):
    probabilities = dict.fromkeys(ALL_LABELS, 0.05)
    probabilities |= dict.fromkeys(labels, strong)
    return {
        "source": f"{policy}.html", "policy_id": policy, "id": f"{policy}:{number:04d}", "start": 0, "end": 1,
        "context": context, "text": text, "probabilities": probabilities,
        "categories": [label.split(":")[1] for label in labels if label.startswith("category:")],
        "legal_basis": [label.split(":")[1] for label in labels if label.startswith("basis:")],
    }  # fmt: skip


RETENTION, SECURITY = "category:data_retention", "category:data_security"
RECORDS = [
    record("acme", 0, "Privacy Policy", ["category:other"]),
    record("acme", 1, "Verification Process", [SECURITY], "Privacy Policy", strong=0.99),
    record(
        "acme",
        2,
        "We check your identity before we answer a request.",
        [SECURITY],
        "Privacy Policy > Verification Process",
        strong=0.8,
    ),  # fmt: skip
    record("acme", 3, "We keep logs for 30 days.", [RETENTION, "basis:legal_obligation"], "Privacy Policy"),
    record("zeta", 0, "We never store <script>alert(1)</script> data.", [SECURITY]),
]


def test_table_has_one_row_per_policy_with_sentence_evidence_or_not_stated(tmp_path):
    write_report(iter(RECORDS), tmp_path)
    rows = list(csv.DictReader((tmp_path / "policies.csv").open(encoding="utf-8")))
    assert [row["policy_id"] for row in rows] == ["acme", "zeta"]
    acme, zeta = rows
    assert acme["clauses"] == "4" and acme[f"{SECURITY}:clauses"] == "2"
    # the heading "Verification Process" is more probable, but the evidence is the sentence
    assert acme[f"{SECURITY}:evidence"] == "We check your identity before we answer a request."
    assert acme[f"{SECURITY}:probability"] == "0.8"
    assert zeta[f"{RETENTION}:evidence"] == NOT_STATED and zeta[f"{RETENTION}:probability"] == ""
    assert zeta[f"{RETENTION}:clauses"] == "0"
    table = pq.read_table(tmp_path / "policies.parquet").to_pylist()
    assert [row["policy_id"] for row in table] == ["acme", "zeta"]
    assert table[0]["basis:legal_obligation:evidence"] == "We keep logs for 30 days."
    assert table[1]["basis:legal_obligation:probability"] is None


def test_html_is_self_contained_and_escapes_policy_text(tmp_path):
    write_report(iter(RECORDS), tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<img\b|@import|url\(|https?://", page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert page.count('class="clause') == len(RECORDS)


def test_cli_report_over_a_table_groups_by_policy_id(tiny_model, tmp_path):
    table = tmp_path / "crawl.csv"
    table.write_text(TABLE, encoding="utf-8")
    out, report = tmp_path / "out.jsonl", tmp_path / "report"
    args = ["predict", "--model", str(tiny_model), str(table), "-o", str(out), "--report", str(report)]
    assert main(args) == 0
    rows = list(csv.DictReader((report / "policies.csv").open(encoding="utf-8")))
    assert [(r["policy_id"], r["url"], r["clauses"]) for r in rows] == [
        ("acme", "https://acme.example/privacy", "2"),
        ("zeta", "https://zeta.example/legal", "2"),
    ]
    assert (report / "report.html").stat().st_size > 0


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND",
]  # fmt: skip


def chromium(tmp_path, *args) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium binary not found (apt-get install chromium)")
def test_report_page_runs_in_headless_chromium_filters_and_renders(tmp_path):
    write_report(iter(RECORDS), tmp_path / "report")
    page = (tmp_path / "report" / "report.html").as_uri()
    dom = chromium(tmp_path, "--dump-dom", f"{page}#label={RETENTION}")
    assert f'data-filter="{RETENTION}"' in dom  # the script ran and read the filter from the address
    clauses = re.findall(r'<span class="clause[^"]*" data-labels="([^"]*)"[^>]*>', dom)
    dimmed = re.findall(r'<span class="clause[^"]*\bdim\b[^"]*" data-labels="([^"]*)"', dom)
    assert len(clauses) == len(RECORDS) and len(dimmed) == len(RECORDS) - 1
    assert all(RETENTION not in labels for labels in dimmed)
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1000", page)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

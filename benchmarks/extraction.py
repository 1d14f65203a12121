"""Main-content extraction on saved policy pages: body recall, chrome kept, and its cost in predict.

The pages (``tests/fixtures/pages/``) are policies we wrote inside realistic site chrome (menus,
cookie banners, sidebars, newsletter boxes, footers); ``<!-- policy:start -->`` and
``<!-- policy:end -->`` comments mark the policy body. A whole-page clause inside the markers is
body, any other is chrome. Quality: body clauses kept (recall) and chrome clauses kept.

Cost: ``predict`` over the pages with extraction and with ``--whole-page`` on the same
classifier, interleaved rounds. Two ratios: whole predict time with extraction over without
(fewer clauses to classify once the chrome is gone), and extraction's own time (segmenting with
it minus without) as a share of the whole-page predict time.

    python benchmarks/extraction.py [--model DIR] [--rounds 5] [--precision fp32|int8] [--quality-only]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from privacy_clauses.data import html
from privacy_clauses.data.segment import segment
from privacy_clauses.data.sources import read_policy

PAGES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pages"
START, END = "<!-- policy:start -->", "<!-- policy:end -->"


def page_scores(path: Path) -> dict:
    """Body clauses, body clauses kept, chrome clauses kept (and their text) for one page."""
    text = read_policy(path).text
    low, high = text.index(START), text.index(END)
    whole = segment(text, "html", whole_page=True)
    kept = {(c.start, c.end) for c in segment(text, "html")}
    body = [c for c in whole if low <= c.start < high]
    chrome = [c for c in whole if not low <= c.start < high]
    return {
        "page": path.stem,
        "body": len(body),
        "body_kept": sum((c.start, c.end) in kept for c in body),
        "chrome": len(chrome),
        "chrome_kept": [c.text for c in chrome if (c.start, c.end) in kept],
        "missed": [c.text for c in body if (c.start, c.end) not in kept],
    }


def trafilatura_alone(blocks: list[str], source: str, levels: list[int], paths: list) -> list[bool]:
    """The comparison: blocks kept by trafilatura's recall-leaning extraction, none of our rules."""
    sizes = [len(html._WORDS.findall(block.lower())) for block in blocks]
    keep = html._aligned(blocks, sizes, html.main_text(source))
    return keep if any(keep) else [True] * len(blocks)


def quality(alone: bool = False) -> None:
    rule = html.main_content_mask
    if alone:
        print("trafilatura alone (no structure rules):")
        html.main_content_mask = trafilatura_alone
    try:
        rows = [page_scores(path) for path in sorted(PAGES.rglob("*.html"))]
    finally:
        html.main_content_mask = rule
    print("| page | body clauses | body kept | chrome clauses (whole page) | chrome kept |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['page']} | {r['body']} | {r['body_kept']} | {r['chrome']} | {len(r['chrome_kept'])} |")
    body, kept = sum(r["body"] for r in rows), sum(r["body_kept"] for r in rows)
    chrome, chrome_kept = sum(r["chrome"] for r in rows), sum(len(r["chrome_kept"]) for r in rows)
    print(f"\n{len(rows)} pages: body recall {kept}/{body} = {kept / body:.1%}; "
          f"chrome clauses kept {chrome_kept}/{chrome}")  # fmt: skip
    for row in rows:
        for text in row["missed"]:
            print(f"  missed ({row['page']}): {text}")
        for text in row["chrome_kept"]:
            print(f"  chrome kept ({row['page']}): {text}")


def untrained_default(folder: Path) -> Path:
    """The default base (embedded MiniLM) with a fresh head: a trained model's speed, no training."""
    from privacy_clauses.model.checkpoint import Checkpoint, build_model, save_checkpoint

    model, tokenizer = build_model("embedded")
    save_checkpoint(folder, Checkpoint(model, tokenizer, [0.5] * model.config.num_labels))
    return folder


def span(values: list[float], scale: float = 1.0, fmt: str = ".3f") -> str:
    low, mid, high = min(values) * scale, statistics.median(values) * scale, max(values) * scale
    return f"median {mid:{fmt}} (range {low:{fmt}}-{high:{fmt}})"


def cost(model: str | None, rounds: int, precision: str = "fp32") -> None:
    from privacy_clauses.predict.batch import predict_inputs
    from privacy_clauses.predict.classifier import ClauseClassifier

    pages = sorted(PAGES.rglob("*.html"))
    texts = [read_policy(path).text for path in pages]
    with tempfile.TemporaryDirectory() as folder:
        model = model or str(untrained_default(Path(folder) / "model"))
        classifier = ClauseClassifier.from_pretrained(model, device="cpu", precision=precision)
        predict_times: dict[bool, list[float]] = {True: [], False: []}
        segment_times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for whole_page in (True, False):  # interleaved, so drift hits both alike
                started = time.perf_counter()
                predict_inputs(classifier, [str(PAGES)], Path(folder) / "out.jsonl", whole_page=whole_page)
                predict_times[whole_page].append(time.perf_counter() - started)
                started = time.perf_counter()
                for text in texts:
                    segment(text, "html", whole_page=whole_page)
                segment_times[whole_page].append(time.perf_counter() - started)
    whole, extract = predict_times[True], predict_times[False]
    added = [e - w for e, w in zip(segment_times[False], segment_times[True], strict=True)]
    print(f"\npredict on {len(pages)} pages, {rounds} interleaved rounds, {precision}, model {model}:")
    print(f"  predict --whole-page: {span(whole)} s; with extraction: {span(extract)} s")
    ratios = [e / w for e, w in zip(extract, whole, strict=True)]
    shares = [a / w for a, w in zip(added, whole, strict=True)]
    print(f"  predict time, extraction / whole page: {span(ratios, fmt='.2f')}")
    print(
        f"  extraction's own time (segmenting with it minus without): {span(added, 1000, '.0f')} ms, "
        f"as a share of predict --whole-page: {span(shares, 100, '.1f')} %"
    )


def long_page(rounds: int) -> None:
    """Extraction's time on one long page: the bundled policies and written documents as
    paragraphs of a single page (about 290 KB, 2,900 clauses) inside a little chrome."""
    import html as html_text

    root = PAGES.parents[2] / "data"
    lines = [
        line
        for folder in ("policies", "written")
        for path in sorted((root / folder).iterdir())
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    body = "".join(f"<p>{html_text.escape(line)}</p>" for line in lines)
    chrome = "<nav><a>Home</a> <a>Shop</a></nav>", "<footer>© 2024</footer>"
    page = f"<html><body>{chrome[0]}<main>{body}</main>{chrome[1]}</body></html>"
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for whole_page in (True, False):
            started = time.perf_counter()
            clauses = len(segment(page, "html", whole_page=whole_page))
            times[whole_page].append(time.perf_counter() - started)
    added = [e - w for e, w in zip(times[False], times[True], strict=True)]
    print(f"\none long page ({len(page) // 1000} KB, {clauses} clauses), {rounds} rounds: segmenting "
          f"{span(times[True])} s whole page, extraction adds {span(added)} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the embedded MiniLM base, untrained head)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precision", default="fp32", help="fp32, bf16 or int8 (CPU)")
    parser.add_argument("--quality-only", action="store_true")
    args = parser.parse_args()
    quality(alone=True)
    quality()
    if not args.quality_only:
        cost(args.model, args.rounds, args.precision)
        long_page(args.rounds)


if __name__ == "__main__":
    main()

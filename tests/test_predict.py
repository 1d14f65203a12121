import copy
import json
import threading
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from privacy_clauses.cli import main
from privacy_clauses.data import ALL_LABELS
from privacy_clauses.predict import batch
from privacy_clauses.predict.classifier import ClauseClassifier
from privacy_clauses.predict.devices import batch_workers, resolve_device, resolve_precision
from privacy_clauses.predict.int8 import Int8Linear, quantize_int8
from privacy_clauses.predict.writers import read_jsonl

from .conftest import POLICIES

POLICY = (POLICIES / "gigster.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def classifier(tiny_model):
    return ClauseClassifier.from_pretrained(tiny_model, device="cpu", batch_size=8)


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    (folder / "gigster.txt").write_text(POLICY, encoding="utf-8")
    (folder / "nested" / "gigapros.md").write_bytes((POLICIES / "gigapros.md").read_bytes())
    (folder / "page.html").write_text(
        "<h1>Privacy</h1><p>We use cookies. We sell nothing.</p>", encoding="utf-8"
    )
    (folder / "rows.csv").write_text(
        "id,text,context\nc1,We keep logs for 30 days.,Retention\n", encoding="utf-8"
    )
    (folder / "rows.jsonl").write_text('{"text": "You may opt out."}\n', encoding="utf-8")
    pq.write_table(pa.table({"text": ["We encrypt data.", "Contact us."]}), folder / "rows.parquet")
    return folder


def records(path):
    return list(read_jsonl(path))


def test_predict_obeys_the_label_rules_and_gives_every_probability(classifier):
    predictions = classifier.predict(["We sell your data to advertisers.", "Contact us"], ["Sharing", ""])
    for prediction in predictions:
        assert prediction.categories, "at least one category"
        assert "other" not in prediction.categories or prediction.categories == ["other"]
        assert list(prediction.probabilities) == list(ALL_LABELS)


def test_batching_and_length_sorting_do_not_change_results(tiny_model):
    texts = [line for line in POLICY.splitlines() if line.strip()]
    one = ClauseClassifier.from_pretrained(tiny_model, device="cpu", batch_size=1).predict_proba(texts)
    many = ClauseClassifier.from_pretrained(tiny_model, device="cpu", batch_size=64).predict_proba(texts)
    assert np.allclose(one, many, atol=1e-5)


def test_cpu_batches_run_on_single_threaded_workers_and_restore_torch_threads():
    torch.set_num_threads(2)
    together = threading.Barrier(2, timeout=10)  # breaks unless two workers run side by side

    def worker_threads(_):
        together.wait()
        return torch.get_num_threads()

    with batch_workers(torch.device("cpu")) as pool:
        assert list(pool.map(worker_threads, range(2))) == [1, 1]
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError), batch_workers(torch.device("cpu")) as pool:
        list(pool.map(int, ["not a number"]))  # a worker's error reaches the caller
    assert torch.get_num_threads() == 2
    with batch_workers(torch.device("cuda")) as pool:  # a GPU runs batches one by one
        assert list(pool.map(lambda _: torch.get_num_threads(), range(2))) == [2, 2]


def test_a_small_cpu_call_runs_small_batches_on_every_worker(tiny_model):
    torch.set_num_threads(2)
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu", batch_size=32)
    sizes = []
    classifier.model.register_forward_hook(
        lambda module, args, kwargs, output: sizes.append(len(kwargs["input_ids"])), with_kwargs=True
    )
    classifier.predict_proba(["We use cookies."] * 10)  # a server's micro-batch: less padding
    assert sorted(sizes) == [2, 4, 4]
    sizes.clear()
    classifier.predict_proba(["We use cookies."] * 100)  # large calls keep the batch size
    assert sorted(sizes) == [4, 32, 32, 32]


def test_classify_policy_keeps_offsets(classifier):
    clauses = classifier.classify_policy(POLICY, fmt="text")
    assert len(clauses) == 39
    for clause in clauses:
        assert " ".join(POLICY[clause["start"] : clause["end"]].split()) == clause["text"]


def test_overlong_clause_is_truncated_and_counted(tiny_model):
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu")
    probs = classifier.predict_proba(["cookies " * 2000, "We use cookies."])
    assert probs.shape == (2, len(ALL_LABELS))
    assert classifier.truncated == 1


def test_int8_and_bf16_paths_run_on_cpu(tiny_model):
    reference = ClauseClassifier.from_pretrained(tiny_model, device="cpu").predict_proba(["We use cookies."])
    for precision in ("int8", "bf16"):
        probs = ClauseClassifier.from_pretrained(tiny_model, device="cpu", precision=precision).predict_proba(
            ["We use cookies."]
        )
        assert np.allclose(probs, reference, atol=0.05), precision


def test_int8_quantizes_closer_to_fp32_than_torchs_default():
    """Per-channel weights and full 8-bit activations: less error on an outlier feature."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64))
    with torch.no_grad():
        model[0].weight[0] *= 20  # one output channel with large weights
    x = torch.randn(256, 64)
    x[:, 0] *= 30  # one input feature with outliers
    exact = model(x)
    ours = quantize_int8(copy.deepcopy(model))
    with warnings.catch_warnings():  # torch.ao.quantization's notice of its move to torchao
        warnings.simplefilter("ignore")
        default = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear})
    assert type(ours[0]) is Int8Linear
    error = {name: (m(x) - exact).abs().mean().item() for name, m in (("ours", ours), ("default", default))}
    assert error["ours"] < error["default"] / 2, error


def test_cli_reads_every_input_kind_and_writes_a_summary(inputs, tiny_model, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "predict",
            "--model",
            str(tiny_model),
            str(inputs),
            "-o",
            str(out),
            "--summary",
            str(tmp_path / "s.json"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = records(out)
    sources = {r["source"].split("/in/")[1] for r in rows}
    assert sources == {
        "gigster.txt",
        "nested/gigapros.md",
        "page.html",
        "rows.csv",
        "rows.jsonl",
        "rows.parquet",
    }
    assert len([r for r in rows if r["source"].endswith("gigster.txt")]) == 39
    csv_row = next(r for r in rows if r["source"].endswith("rows.csv"))
    assert (csv_row["id"], csv_row["context"], csv_row["start"]) == ("c1", "Retention", None)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["gigster"]["clauses"] == 39
    assert "# Policy summary" in (tmp_path / "s.md").read_text()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_and_parquet_output(inputs, tiny_model, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    assert main(["predict", "--model", str(tiny_model), str(inputs / "gigster.txt"), "-o", str(out)]) == 0
    if suffix == ".csv":
        import csv

        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        assert len(rows) == 39 and "p:basis:consent" in rows[0]
    else:
        table = pq.read_table(out)
        assert table.num_rows == 39 and table.schema.field("categories").type == pa.list_(pa.string())


def test_stdin_input(tiny_model, tmp_path, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("# Cookies\n\nWe use cookies. We log visits.\n"))
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", str(tiny_model), "-", "-o", str(out)]) == 0
    assert [r["text"] for r in records(out)] == ["Cookies", "We use cookies.", "We log visits."]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty.md: empty file"),
        ("blob.txt", b"\x00\x01\x02binary", "blob.txt: binary file"),
        ("notext.csv", b"id,body\n1,hello\n", "notext.csv: no 'text' column"),
        ("bad.csv.gz", b"not gzip at all", "bad.csv.gz: cannot read"),
        ("scan.pdf", b"%PDF-1.4 truncated", "scan.pdf: not a readable PDF"),
    ],
)
def test_one_unreadable_file_is_skipped_and_the_others_kept(
    inputs, tiny_model, tmp_path, capsys, name, content, reason
):
    (inputs / name).write_bytes(content)
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", str(tiny_model), str(inputs), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"skipped: {inputs / name}" in err and reason in err
    assert len({r["source"] for r in records(out)}) == 6
    assert not any(r["source"].endswith(name) for r in records(out))


def test_on_error_fail_stops_with_one_line(inputs, tiny_model, tmp_path, capsys):
    (inputs / "broken.jsonl").write_text('{"text": "ok"}\n{broken\n', encoding="utf-8")
    code = main(
        [
            "predict",
            "--model",
            str(tiny_model),
            str(inputs),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--on-error",
            "fail",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and "broken.jsonl:2: invalid JSON" in err[-1]
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(
    ("model", "message"), [("missing", "no such model folder"), ("plain", "not a privacy-clauses model")]
)
def test_bad_model_folder_is_one_line_and_exit_2(tmp_path, capsys, model, message):
    if model == "plain":
        (tmp_path / model).mkdir()
    code = main(["predict", "--model", str(tmp_path / model), str(POLICIES), "-o", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def test_interrupted_run_resumes_without_duplicates(inputs, tiny_model, tmp_path, monkeypatch):
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu")
    complete = tmp_path / "complete.jsonl"
    batch.predict_inputs(classifier, [str(inputs)], complete, chunk_size=16)

    out = tmp_path / "out.jsonl"
    calls = {"n": 0}
    original = ClauseClassifier.predict_proba

    def crash_on_fifth_chunk(self, texts, contexts=None):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, texts, contexts)

    monkeypatch.setattr(ClauseClassifier, "predict_proba", crash_on_fifth_chunk)
    with pytest.raises(KeyboardInterrupt):
        batch.predict_inputs(classifier, [str(inputs)], out, chunk_size=16)
    assert not out.exists(), "no final file until the run is complete"
    part, done = batch.part_paths(out)
    assert part.exists() and done.read_text().strip()

    monkeypatch.setattr(ClauseClassifier, "predict_proba", original)
    report = batch.predict_inputs(classifier, [str(inputs)], out, chunk_size=16, resume=True)
    assert report.resumed_sources >= 1
    resumed, expected = records(out), records(complete)
    key = lambda r: (r["source"], r["id"])  # noqa: E731
    assert sorted(map(key, resumed)) == sorted(map(key, expected))
    assert len(resumed) == len({key(r) for r in resumed}), "no duplicated records"
    assert not part.exists() and not done.exists()


def test_shards_merge_in_input_order(inputs, tiny_model, tmp_path):
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu")
    single = tmp_path / "single.jsonl"
    batch.predict_inputs(classifier, [str(inputs)], single)
    out = tmp_path / "merged.jsonl"
    for rank in range(3):
        batch.predict_inputs(classifier, [str(inputs)], batch.shard_output(out, rank), shard=(rank, 3))
    batch.merge_shards(out, 3)
    assert [r["id"] for r in records(out)] == [r["id"] for r in records(single)]
    assert not list(tmp_path.glob("merged.jsonl.shard*"))


def test_shard_of_splits_contiguously():
    items = list(range(7))
    assert [batch.shard_of(items, k, 3) for k in range(3)] == [[0, 1, 2], [3, 4], [5, 6]]


def test_device_and_precision_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda:0")
    with pytest.raises(ValueError, match="expected auto, cpu, cuda"):
        resolve_device("tpu")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="needs a GPU"):
        resolve_precision("fp16", torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_device("auto").type == "cuda"
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"  # bf16 where supported: test_cli
    with pytest.raises(ValueError, match="CPU only"):
        resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="only 1 GPU"):
        resolve_device("cuda:1")

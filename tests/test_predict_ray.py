"""``predict --engine ray``: same output and errors as the local path, shard-level resume, retries."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privacy_clauses.cli import main
from privacy_clauses.predict import batch
from privacy_clauses.predict.classifier import ClauseClassifier
from privacy_clauses.predict.writers import read_jsonl

from .conftest import POLICIES

ray = pytest.importorskip("ray", reason="the [ray] extra (ray) is not installed")
from privacy_clauses.predict import distributed  # noqa: E402


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for the whole test run (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_parquet(tiny_model, tmp_path_factory):
    """The local path's Parquet output and summary on the bundled policies."""
    folder = tmp_path_factory.mktemp("local")
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu")
    batch.predict_inputs(classifier, [str(POLICIES)], folder / "out.parquet", summary=folder / "summary.json")
    return folder


@pytest.fixture(scope="module")
def ray_run(local_ray, tiny_model, tmp_path_factory):
    """The CLI with --engine ray on the bundled policies: 5 policies in shards of 2."""
    out = tmp_path_factory.mktemp("ray") / "out"
    args = ["predict", "--engine", "ray", "--workers", "2", "--shard-size", "2", "--device", "cpu"]
    assert main([*args, "--model", str(tiny_model), str(POLICIES), "-o", str(out)]) == 0
    return out


def shards(folder):
    return pa.concat_tables(pq.read_table(path) for path in sorted(folder.glob("part-*.parquet")))


def test_ray_output_equals_the_local_path(ray_run, local_parquet):
    assert sorted(p.name for p in ray_run.glob("part-*")) == [f"part-0000{i}.parquet" for i in range(3)]
    ours, local = shards(ray_run), pq.read_table(local_parquet / "out.parquet")
    assert ours.schema == local.schema and ours.num_rows == local.num_rows > 100
    probabilities = [name for name in local.column_names if name.startswith("p:")]
    for name in set(local.column_names) - set(probabilities):
        assert ours[name].to_pylist() == local[name].to_pylist(), name
    for name in probabilities:  # batches are composed differently: the same up to float rounding
        assert np.allclose(ours[name].to_numpy(), local[name].to_numpy(), atol=1e-4), name
    summary = json.loads((ray_run / "summary.json").read_text())
    expected = json.loads((local_parquet / "summary.json").read_text())
    assert list(summary) == list(expected)
    for source, entry in expected.items():
        assert summary[source]["clauses"] == entry["clauses"]
        assert {k: v["count"] for k, v in summary[source]["labels"].items()} == {
            k: v["count"] for k, v in entry["labels"].items()
        }


def test_rerun_after_a_killed_run_loses_and_duplicates_nothing(ray_run, tiny_model, tmp_path):
    complete = shards(ray_run)
    out = tmp_path / "out"
    shutil.copytree(ray_run, out)
    # A run killed while writing shard 1: shard 0 complete, shard 1 half-written under its
    # temporary name, shard 2 never started.
    (out / "part-00002.parquet").unlink()
    (out / "part-00001.parquet").unlink()
    (out / "part-00001.parquet.tmp").write_bytes((ray_run / "part-00001.parquet").read_bytes()[:300])
    before = (out / "part-00000.parquet").stat().st_mtime_ns
    report = distributed.run_distributed(
        tiny_model, [str(POLICIES)], out, workers=2, shard_size=2, device="cpu"
    )
    assert (out / "part-00000.parquet").stat().st_mtime_ns == before, "a complete shard is not redone"
    assert report.resumed_sources == 2 and report.sources == 3
    resumed = shards(out)
    assert report.clauses == resumed.num_rows - pq.read_table(out / "part-00000.parquet").num_rows
    keys = list(zip(resumed["source"].to_pylist(), resumed["id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)), "no clause written twice"
    assert keys == list(zip(complete["source"].to_pylist(), complete["id"].to_pylist(), strict=True))
    assert not list(out.glob("*.tmp"))


def test_other_inputs_in_the_same_folder_are_refused(ray_run, tiny_model, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(ray_run, out)
    with pytest.raises(ValueError, match="holds shards of another run"):
        distributed.run_distributed(tiny_model, [str(POLICIES / "gigster.txt")], out, shard_size=2)


@pytest.fixture
def bad_inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(POLICIES / "gigster.txt", folder / "a-gigster.txt")
    (folder / "b-empty.md").write_bytes(b"")
    (folder / "c-broken.jsonl").write_text('{"text": "ok"}\n{broken\n', encoding="utf-8")
    (folder / "d-latin.txt").write_bytes("Politique de confidentialité".encode("latin-1"))
    (folder / "e-rows.csv").write_text("id,body\n1,hello\n", encoding="utf-8")
    shutil.copy(POLICIES / "gigapros.md", folder / "f-gigapros.md")
    return folder


def test_bad_inputs_are_skipped_with_the_local_paths_messages(local_ray, bad_inputs, tiny_model, tmp_path):
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu")
    local = batch.predict_inputs(classifier, [str(bad_inputs)], tmp_path / "local.jsonl")
    report = distributed.run_distributed(
        tiny_model, [str(bad_inputs)], tmp_path / "ray", shard_size=4, fmt="jsonl", device="cpu"
    )
    # the ray engine lists a rejected table line among the skipped (no rejects file) and counts it
    rejects = [json.loads(line) for line in (tmp_path / "local.jsonl.rejects.jsonl").read_text().splitlines()]
    assert local.skipped and [s for s in report.skipped if s in local.skipped] == local.skipped
    assert len(report.skipped) - len(local.skipped) == report.rejected == local.rejected == len(
        [r for r in rejects if r["line"]])
    assert (report.clauses, report.sources) == (local.clauses, local.sources)
    rows = list(distributed.read_shards(tmp_path / "ray"))
    assert [r["id"] for r in rows] == [r["id"] for r in read_jsonl(tmp_path / "local.jsonl")]
    again = distributed.run_distributed(
        tiny_model, [str(bad_inputs)], tmp_path / "ray", shard_size=4, fmt="jsonl", device="cpu"
    )
    assert again.skipped == report.skipped and again.resumed_sources == 6, "skips are kept on resume"


@pytest.mark.parametrize(
    "args",
    [
        ["--on-error", "fail", "{inputs}"],  # the first bad input stops the run
        ["--model", "{tmp}/missing", "{inputs}"],
        ["--precision", "fp16", "--device", "cpu", "{inputs}"],
    ],
)
def test_fatal_errors_are_the_local_paths_one_line(local_ray, bad_inputs, tiny_model, tmp_path, capsys, args):
    args = [a.format(inputs=bad_inputs, tmp=tmp_path) for a in args]
    model = [] if "--model" in args else ["--model", str(tiny_model)]
    local_code = main(["predict", *model, *args, "-o", str(tmp_path / "local.jsonl")])
    local_err = capsys.readouterr().err.strip().splitlines()[-1]
    code = main(["predict", "--engine", "ray", *model, *args, "-o", str(tmp_path / "ray")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == local_code == 2 and err == local_err and err.startswith("error: ")


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_carried_table_columns_are_written_as_on_the_local_path(local_ray, tiny_model, tmp_path, fmt):
    table = tmp_path / "in" / "crawl.csv"
    table.parent.mkdir()
    table.write_text(
        "policy_id,id,text,url,source\n"
        "p1,1,We sell your data.,https://a.example/privacy,crawl-7\n"
        "p2,1,Contact us.,https://b.example/privacy,crawl-7\n",
        encoding="utf-8",
    )  # `source` clashes with an output column: carried as `input_source`
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu")
    batch.predict_inputs(classifier, [str(table)], tmp_path / f"local.{fmt}")
    distributed.run_distributed(tiny_model, [str(table)], tmp_path / "ray", fmt=fmt, device="cpu")
    if fmt == "parquet":
        ours, local = shards(tmp_path / "ray"), pq.read_table(tmp_path / "local.parquet")
        assert ours.column_names == local.column_names
        assert {"url", "input_source"} <= set(local.column_names)
        for name in ("id", "policy_id", "url", "input_source", "categories"):
            assert ours[name].to_pylist() == local[name].to_pylist(), name
    else:
        ours = list(distributed.read_shards(tmp_path / "ray"))
        local = list(read_jsonl(tmp_path / "local.jsonl"))
        assert [list(r) for r in ours] == [list(r) for r in local]
        assert [(r["url"], r["input_source"]) for r in ours] == [(r["url"], r["input_source"]) for r in local]


def test_a_killed_workers_batch_is_retried(local_ray, tiny_model, tmp_path):
    marker = tmp_path / "killed"

    class DiesOnce(distributed.Labeler):
        def __call__(self, batch):
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)  # the worker process dies mid-batch, as on a lost node
            return super().__call__(batch)

    texts = [f"We keep record {i} for {i} days." for i in range(300)]
    dataset = ray.data.from_items([{"text": t, "context": "Retention"} for t in texts])
    labelled = distributed.predict_dataset(
        dataset, tiny_model, device="cpu", rows_per_call=64, labeler=DiesOnce
    )
    rows = labelled.take_all()
    assert marker.exists(), "a worker died"
    assert sorted(r["text"] for r in rows) == sorted(texts), "every clause once"
    expected = ClauseClassifier.from_pretrained(tiny_model, device="cpu").predict(texts, ["Retention"] * 300)
    by_text = {r["text"]: r for r in rows}
    assert [by_text[t]["categories"] for t in texts] == [p.categories for p in expected]


def test_predict_dataset_adds_the_local_columns(local_ray, tiny_model):
    dataset = ray.data.from_items(
        [{"text": "We sell your data.", "page": 3}, {"text": "Contact us.", "page": 4}]
    )
    table = pa.Table.from_pylist(distributed.predict_dataset(dataset, tiny_model, device="cpu").take_all())
    expected = ClauseClassifier.from_pretrained(tiny_model, device="cpu").predict(
        ["We sell your data.", "Contact us."], ["", ""]
    )
    assert table["page"].to_pylist() == [3, 4], "the user's columns are kept"
    assert table["categories"].to_pylist() == [p.categories for p in expected]
    assert table["p:basis:consent"].to_pylist() == [p.probabilities["basis:consent"] for p in expected]


def test_the_local_path_never_imports_ray(tiny_model, tmp_path):
    code = (
        "import sys\nfrom privacy_clauses.cli import main\n"
        "assert main(['predict', '--model', sys.argv[1], sys.argv[2], '-o', sys.argv[3]]) == 0\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    args = [str(tiny_model), str(POLICIES / "gigster.txt"), str(tmp_path / "o.jsonl")]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list(read_jsonl(tmp_path / "o.jsonl"))) == 39


def test_without_ray_the_engine_says_how_to_install_it(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    monkeypatch.delitem(sys.modules, "privacy_clauses.predict.distributed")
    args = ["--model", str(tiny_model), str(POLICIES), "-o", str(tmp_path / "out")]
    code = main(["predict", "--engine", "ray", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["error: --engine ray needs Ray: pip install 'privacy-clauses[ray]'"]

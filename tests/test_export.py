import numpy as np
import pytest

from privacy_clauses.cli import main
from privacy_clauses.data import read_records
from privacy_clauses.model.thresholds import apply_thresholds
from privacy_clauses.predict.classifier import ClauseClassifier
from privacy_clauses.predict.export import onnx_path
from privacy_clauses.predict.writers import read_jsonl

from .conftest import DATA, POLICIES

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install '.[export]')")
pytest.importorskip("openvino", reason="openvino is not installed (pip install '.[openvino]')")


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported") / "model"
    folder.mkdir()
    for path in tiny_model.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    assert main(["export", "--model", str(folder), "--format", "onnx", "--int8"]) == 0
    assert main(["export", "--model", str(folder), "--format", "openvino", "--int8",
                 "--calibration", str(DATA / "clauses.jsonl")]) == 0  # fmt: skip
    return folder


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_decisions_match_fp32_torch_on_the_bundled_clauses(exported, backend):
    records = read_records(DATA / "clauses.jsonl")
    texts, contexts = [r.text for r in records], [r.context for r in records]
    torch_fp32 = ClauseClassifier.from_pretrained(exported, device="cpu")
    reference = torch_fp32.predict_proba(texts, contexts)
    decided = apply_thresholds(reference, torch_fp32.thresholds)
    for precision, closeness in (("fp32", 1e-4), ("int8", 0.05)):
        runtime = ClauseClassifier.from_pretrained(exported, "cpu", precision, backend=backend)
        probs = runtime.predict_proba(texts, contexts)
        assert np.abs(probs - reference).max() < closeness, precision  # calibrated, not the folded scores
        agreement = (apply_thresholds(probs, runtime.thresholds) == decided).mean()
        assert agreement >= (0.999 if precision == "fp32" else 0.99), (precision, agreement)


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_predict_cli_runs_the_exported_backends(exported, backend, tmp_path, capsys):
    output = tmp_path / "labels.jsonl"
    args = ["predict", "--model", str(exported), str(POLICIES / "gigster.txt"), "-o", str(output)]
    assert main([*args, "--backend", backend, "--precision", "int8"]) == 0
    onnx_records = list(read_jsonl(output))
    assert main(args) == 0
    torch_records = list(read_jsonl(output))
    assert len(onnx_records) == len(torch_records) > 10
    same = [a["categories"] == b["categories"] for a, b in zip(onnx_records, torch_records, strict=True)]
    assert np.mean(same) >= 0.9


def test_onnx_backend_errors_are_one_line(tiny_model, tmp_path, capsys):
    assert not onnx_path(tiny_model, "fp32").exists()
    code = main(["predict", "--model", str(tiny_model), str(POLICIES / "gigster.txt"), "-o",
                 str(tmp_path / "x.jsonl"), "--backend", "onnx"])  # fmt: skip
    assert code == 2 and "run 'privacy-clauses export --model" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path), "--format", "onnx"]) == 2
    assert "not a privacy-clauses model" in capsys.readouterr().err


def test_openvino_int8_needs_calibration_clauses(tiny_model, tmp_path, capsys):
    assert main(["export", "--model", str(tiny_model), "--format", "openvino", "--int8"]) == 2
    assert capsys.readouterr().err.startswith("error: openvino --int8 needs --calibration")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert main(["export", "--model", str(tiny_model), "--format", "onnx", "--calibration", str(empty)]) == 2
    assert "--calibration is for --format openvino" in capsys.readouterr().err
    assert not (tiny_model / "openvino").exists() and not onnx_path(tiny_model, "fp32").exists()

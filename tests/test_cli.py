import sys

import pytest
import torch

from privacy_clauses import __version__
from privacy_clauses.cli import build_parser, main
from privacy_clauses.data.errors import PrivacyClausesError
from privacy_clauses.model.precision import auto_precision
from privacy_clauses.predict import batch
from privacy_clauses.predict.devices import resolve_precision
from privacy_clauses.train.run import precision_flags


def test_version_and_help_show_choices_and_defaults(capsys):
    with pytest.raises(SystemExit) as exit_code:
        main(["--version"])
    assert exit_code.value.code == 0 and capsys.readouterr().out.strip() == f"privacy-clauses {__version__}"
    predict = build_parser()._subparsers._group_actions[0].choices["predict"]
    text = predict.format_help()
    assert "{auto,fp32,fp16,bf16,int8}" in text and "{skip,fail}" in text
    assert "(default: auto)" in text and "(default: 32)" in text and "(default: skip)" in text


def test_project_errors_are_one_line_and_other_errors_are_not_swallowed(monkeypatch, capsys, tmp_path):
    def refuse(*args, **kwargs):
        raise PrivacyClausesError("model.bin: not a model")

    monkeypatch.setattr(batch, "run_predict", refuse)
    assert main(["predict", "--model", "m", "x.txt", "-o", str(tmp_path / "o.jsonl")]) == 2
    assert capsys.readouterr().err == "error: model.bin: not a model\n"

    def bug(*args, **kwargs):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(batch, "run_predict", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["predict", "--model", "m", "x.txt", "-o", str(tmp_path / "o.jsonl")])


def test_auto_precision_means_the_same_in_train_and_predict(monkeypatch):
    assert resolve_precision("auto", torch.device("cpu")) == auto_precision("cpu") == "fp32"
    assert precision_flags("auto") == {"bf16": False, "fp16": False}
    for bf16 in (True, False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda b=bf16: b)
        chosen = resolve_precision("auto", torch.device("cuda"))
        assert chosen == ("bf16" if bf16 else "fp16")
        assert precision_flags("auto") == {"bf16": bf16, "fp16": not bf16}


def test_predict_and_serving_do_not_import_plotting_or_training():
    import subprocess

    code = (
        "import sys, privacy_clauses.predict, privacy_clauses.cli; "
        "print(sorted(m for m in ('matplotlib', 'privacy_clauses.train', 'privacy_clauses.eval')"
        " if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

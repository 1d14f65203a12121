import json

import pytest
from huggingface_hub import ModelCard

from privacy_clauses.cli import main
from privacy_clauses.data import ALL_LABELS
from privacy_clauses.model import hub
from privacy_clauses.model.card import (
    DATASET_ID,
    EMBEDDED_HUB_ID,
    card_data,
    lopo_system,
    model_card,
    validate_card,
)
from privacy_clauses.model.checkpoint import META_FILE, ModelLoadError
from privacy_clauses.train import run

from .test_train import tiny_config

LOPO = {  # the shape of `evaluate --cv lopo`'s metrics.json (figures made up for the test)
    "mode": "lopo",
    "seeds": [42, 43, 44],
    "systems": {
        "model": {
            "categories": {"clauses": 591, "micro_f1": {"mean": 0.6812, "std": 0.01},
                           "macro_f1": {"mean": 0.6034, "std": 0.02}},
            "legal_basis": {"clauses": 591, "micro_f1": {"mean": 0.5111, "std": 0.03},
                            "macro_f1": {"mean": 0.4222, "std": 0.04}},
        },
        "tfidf": {"categories": {"micro_f1": {"mean": 0.1, "std": 0.0}}},
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(small_data_module, tiny_base, tmp_path_factory):
    folder = tmp_path_factory.mktemp("card")
    report = folder / "lopo.json"
    report.write_text(json.dumps(LOPO), encoding="utf-8")
    config = tiny_config(small_data_module, tiny_base, folder / "run", "epochs=1", f"lopo_report={report}")
    return run.train(config) / "model"


@pytest.fixture(scope="module")
def small_data_module(tmp_path_factory):
    from .conftest import DATA, POLICIES, SMALL_POLICIES

    folder = tmp_path_factory.mktemp("small")
    (folder / "policies").mkdir()
    for path in POLICIES.iterdir():
        if path.stem in SMALL_POLICIES:
            (folder / "policies" / path.name).write_bytes(path.read_bytes())
    lines = (DATA / "clauses.jsonl").read_text(encoding="utf-8").splitlines()
    keep = [line for line in lines if json.loads(line)["policy_id"] in SMALL_POLICIES]
    (folder / "clauses.jsonl").write_text("\n".join(keep) + "\n", encoding="utf-8")
    return folder / "clauses.jsonl"


def test_card_from_training_has_hub_metadata_and_lopo_model_index(trained):
    card = ModelCard.load(trained / "README.md")
    data = card.data
    assert data.license == "mit" and data.language == ["en"] and data.pipeline_tag == "text-classification"
    assert data.datasets == [DATASET_ID] and "opp-115" in data.tags and data.library_name == "transformers"
    assert data.base_model is None  # the tiny base is a local folder, not a Hub id
    results = {(r.metric_name, r.metric_value) for r in data.eval_results}
    assert results == {("micro-f1 (categories)", 0.6812), ("macro-f1 (categories)", 0.6034),
                       ("micro-f1 (legal_basis)", 0.5111), ("macro-f1 (legal_basis)", 0.4222)}  # fmt: skip
    assert {r.dataset_split for r in data.eval_results} == {"leave-one-policy-out, 3 seed(s)"}
    meta = json.loads((trained / META_FILE).read_text(encoding="utf-8"))
    for name, threshold in zip(ALL_LABELS, meta["thresholds"], strict=True):
        assert f"| `{name}` |" in card.text and f"{threshold:.2f}" in card.text
    for section in ("## Intended use", "## Label scheme", "## How to use", "## Evaluation", "## Limitations"):
        assert section in card.text
    assert "0.681" in card.text and "test_categories" not in card.text


def test_without_lopo_the_card_quotes_no_single_policy_figures(trained):
    meta = json.loads((trained / META_FILE).read_text(encoding="utf-8"))
    meta["config"] = {**meta["config"], "base_model": "embedded", "lopo_report": None}
    text = model_card(meta)
    data = validate_card(text)
    assert data.eval_results is None and "model-index" not in text and data.base_model == EMBEDDED_HUB_ID
    assert "No figures are quoted" in text
    assert str(round(meta["metrics"]["test_categories_macro_f1"], 3)) not in text.split("## Evaluation")[1]
    assert card_data(meta, LOPO).eval_results[0].metric_value == 0.6812
    with pytest.raises(ValueError, match="license"):
        validate_card("---\nlanguage: en\n---\n# x\n")


class FakeApi:
    """Records what push asks of the Hub instead of sending it."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls, self.fail = [], fail

    def create_repo(self, repo_id, **kwargs):
        if self.fail:
            raise self.fail
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))
        return type("Commit", (), {"commit_url": f"https://hub.example/{kwargs['repo_id']}/commit/1"})()


def test_push_checks_offline_then_creates_and_uploads(trained, tmp_path, monkeypatch, capsys):
    files = {p.name for p in hub.check_upload(trained, "someone/privacy-clauses")}
    assert {"model.safetensors", "config.json", "README.md", META_FILE, "tokenizer.json"} <= files
    api = FakeApi()
    url = hub.push_model(trained, "someone/privacy-clauses", private=True, api=api)
    assert url.endswith("someone/privacy-clauses/commit/1")
    assert api.calls[0] == ("create_repo", "someone/privacy-clauses",
                            {"repo_type": "model", "private": True, "exist_ok": True})  # fmt: skip
    upload = api.calls[1][1]
    assert upload["folder_path"] == str(trained) and upload["allow_patterns"] == hub.UPLOAD_PATTERNS

    with pytest.raises(ModelLoadError, match="owner/name"):
        hub.check_upload(trained, "no-owner")
    with pytest.raises(ModelLoadError, match="not a Hub repository id"):
        hub.check_upload(trained, "someone/bad name!")
    (tmp_path / "m").mkdir()
    for path in trained.iterdir():
        if path.name != "README.md":
            (tmp_path / "m" / path.name).write_bytes(path.read_bytes())
    with pytest.raises(ModelLoadError, match="no model card"):
        hub.check_upload(tmp_path / "m", "someone/x")

    monkeypatch.setattr(hub, "HfApi", lambda token=None: FakeApi(fail=ConnectionError("network unreachable")))
    assert main(["push", "--model", str(trained), "someone/privacy-clauses"]) == 2
    assert capsys.readouterr().err == "error: push to someone/privacy-clauses failed: network unreachable\n"


def test_the_card_quotes_the_lopo_system_of_its_own_recipe(trained):
    meta = json.loads((trained / META_FILE).read_text(encoding="utf-8"))
    recipe = {**meta["config"], "replay": 300, "seed": 7, "output_dir": "runs/x", "lopo_report": "r.json"}
    other = {**recipe, "replay": 0, "finetune_learning_rate": 5e-5}
    report = {**LOPO, "systems": {"model": LOPO["systems"]["model"], "model[replay=300]": {
        "categories": {"macro_f1": {"mean": 0.7371, "std": 0.0}}}}}  # fmt: skip
    # the LOPO ran with other seeds and output folders: only the recipe has to match
    ran = {**recipe, "seed": 42, "output_dir": "runs/lopo"}
    report["configs"] = {"model": other, "model[replay=300]": ran}
    assert lopo_system(report, recipe) == "model[replay=300]"
    text = model_card({**meta, "config": recipe}, report)
    assert validate_card(text).eval_results[0].metric_value == 0.7371 and "0.737" in text
    # a report that never ran this recipe puts no figures in the card
    report["configs"]["model[replay=300]"] = {**recipe, "replay": 600}
    assert lopo_system(report, recipe) is None
    assert "No figures are quoted" in model_card({**meta, "config": recipe}, report)


def test_the_card_says_where_the_thresholds_were_tuned(trained):
    meta = json.loads((trained / META_FILE).read_text(encoding="utf-8"))
    assert "tuned on the validation policies ['workhirespot']" in model_card(meta)
    meta["config"] = {**meta["config"], "thresholds": "oof", "oof_predictions": "reports/x/predictions.jsonl"}
    assert "tuned on pooled out-of-fold predictions over the training policies" in model_card(meta)

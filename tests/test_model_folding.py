import json
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from privacy_clauses.data import ALL_LABELS, read_records
from privacy_clauses.model.checkpoint import META_FILE, load_checkpoint, save_checkpoint
from privacy_clauses.model.folding import FOLDED_KEY, classifier_layer, logit_shift
from privacy_clauses.model.thresholds import apply_thresholds
from privacy_clauses.predict.classifier import ClauseClassifier

from .conftest import DATA


@pytest.fixture(scope="module")
def clauses():
    records = read_records(DATA / "clauses.jsonl")
    return [r.text for r in records], [r.context for r in records]


@pytest.fixture(scope="module")
def ours(tiny_model, clauses):
    classifier = ClauseClassifier.from_pretrained(tiny_model, device="cpu", precision="fp32")
    probs = classifier.predict_proba(*clauses)
    return probs, classifier.thresholds


def test_pipeline_decisions_equal_predict_decisions(tiny_model, clauses, ours):
    probs, thresholds = ours
    texts, contexts = clauses
    classify = pipeline("text-classification", model=str(tiny_model), top_k=None, device="cpu")
    pairs = [{"text": t, "text_pair": c} for t, c in zip(texts, contexts, strict=True)]
    outputs = classify(pairs, truncation=True)  # the saved tokenizer cuts where training did
    index = {name: i for i, name in enumerate(ALL_LABELS)}
    plain = np.zeros((len(texts), len(ALL_LABELS)), dtype=int)
    for row, scores in enumerate(outputs):
        for score in scores:
            plain[row, index[score["label"]]] = score["score"] >= 0.5
    raw = (probs >= np.asarray(thresholds)).astype(int)
    assert len(set(thresholds)) > 1, "tuned thresholds differ per label, else the test shows little"
    assert 0 < raw.mean() < 1
    assert (plain == raw).mean() >= 0.9999  # equal but for float rounding at a threshold
    # predict adds the label rules (one category at least, `other` alone); a plain pipeline
    # cannot, so any other difference is one of theirs. (This barely trained model says yes
    # to nearly every label, so here the rules drop `other` everywhere; see the README.)
    rules = apply_thresholds(probs, thresholds)
    assert ((plain != rules) <= (raw != rules)).mean() >= 0.9999


def test_auto_model_logit_sign_is_the_decision_and_thresholds_are_in_config(tiny_model, clauses, ours):
    probs, thresholds = ours
    texts, contexts = clauses
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    batch = tokenizer(texts[:200], contexts[:200], padding=True, truncation=True, max_length=48,
                      return_tensors="pt")  # fmt: skip
    with torch.inference_mode():
        logits = model(**batch).logits.numpy()
    assert ((logits > 0) == (probs[:200] >= np.asarray(thresholds))).mean() >= 0.9999
    config = json.loads((tiny_model / "config.json").read_text(encoding="utf-8"))
    assert config["thresholds"] == dict(zip(ALL_LABELS, thresholds, strict=True))


def test_loading_undoes_the_fold_and_old_unfolded_checkpoints_still_load(tiny_model, tmp_path, ours):
    probs, _ = ours
    checkpoint = load_checkpoint(tiny_model)
    meta = json.loads((tiny_model / META_FILE).read_text(encoding="utf-8"))
    assert meta[FOLDED_KEY] == pytest.approx(logit_shift(checkpoint.thresholds))
    saved_bias = AutoModelForSequenceClassification.from_pretrained(tiny_model)
    assert torch.allclose(classifier_layer(saved_bias).bias - classifier_layer(checkpoint.model).bias,
                          torch.tensor(meta[FOLDED_KEY], dtype=torch.float32), atol=1e-5)  # fmt: skip

    old = tmp_path / "old"  # the format before folding: calibrated weights, no shift recorded
    shutil.copytree(tiny_model, old)
    checkpoint.model.save_pretrained(old, safe_serialization=True)
    del meta[FOLDED_KEY]
    (old / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    texts = ["We sell your email to advertisers.", "You may delete your account."]
    contexts = ["Sharing", "Your rights"]
    reference = ClauseClassifier.from_pretrained(tiny_model, device="cpu").predict_proba(texts, contexts)
    assert np.allclose(ClauseClassifier.from_pretrained(old, device="cpu").predict_proba(texts, contexts),
                       reference, atol=1e-5)  # fmt: skip

    again = tmp_path / "again"  # save → load keeps calibrated outputs; saving leaves the model as it was
    before = classifier_layer(checkpoint.model).bias.detach().clone()
    save_checkpoint(again, checkpoint)
    assert torch.equal(classifier_layer(checkpoint.model).bias, before)
    assert torch.allclose(classifier_layer(load_checkpoint(again).model).bias, before, atol=1e-6)

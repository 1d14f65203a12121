import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from privacy_clauses.data import ALL_LABELS
from privacy_clauses.predict.classifier import ClauseClassifier

from .conftest import POLICIES

httpx = pytest.importorskip("httpx", reason="httpx is not installed (pip install '.[dev]')")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (pip install '.[serve]')")
from privacy_clauses.serve.app import MAX_BODY_BYTES, MAX_CLAUSES, create_app  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def classifier(tiny_model):
    return ClauseClassifier.from_pretrained(tiny_model, device="cpu", batch_size=8)


@pytest.fixture(scope="module")
def server(classifier):
    """uvicorn on a free loopback port in a thread, for the module's tests."""
    app = create_app(classifier, max_batch=64, max_wait_ms=20)
    port = free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server[0], timeout=30) as http:
        yield http


def test_classify_gives_predict_labels_and_probabilities(client, classifier):
    clauses = [{"text": "We sell your email to advertisers.", "context": "Sharing"}, {"text": "Contact us."}]
    response = client.post("/v1/classify", json={"clauses": clauses})
    assert response.status_code == 200
    results = response.json()["results"]
    expected = classifier.predict([c["text"] for c in clauses], ["Sharing", ""])
    assert [r["categories"] for r in results] == [p.categories for p in expected]
    assert [r["legal_basis"] for r in results] == [p.legal_basis for p in expected]
    assert list(results[0]["probabilities"]) == list(ALL_LABELS)
    assert np.allclose([list(r["probabilities"].values()) for r in results],
                       [list(p.probabilities.values()) for p in expected], atol=1e-3)  # fmt: skip


def test_policy_is_segmented_and_labeled_markdown_and_html(client, classifier):
    text = (POLICIES / "gigster.txt").read_text(encoding="utf-8")
    response = client.post("/v1/policy", json={"text": text, "format": "text"})
    assert response.status_code == 200
    clauses = response.json()["clauses"]
    expected = classifier.classify_policy(text, "text")
    assert len(clauses) == len(expected) > 10
    assert [(c["start"], c["end"], c["context"]) for c in clauses] == [
        (e["start"], e["end"], e["context"]) for e in expected
    ]
    assert [c["categories"] for c in clauses] == [e["categories"] for e in expected]
    html = "<h1>Retention</h1><p>We keep logs for 30 days. We delete them after that.</p>"
    clauses = client.post("/v1/policy", json={"text": html}).json()["clauses"]
    texts = [c["text"] for c in clauses]
    assert texts == ["Retention", "We keep logs for 30 days.", "We delete them after that."]
    assert clauses[1]["context"] == "Retention"


def test_health_labels_and_openapi(client, classifier):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["backend"] == "torch" and health["precision"] == "fp32"
    labels = client.get("/v1/labels").json()
    assert labels["categories"][0] == "first_party_collection_use" and "consent" in labels["legal_basis"]
    assert list(labels["thresholds"].values()) == classifier.thresholds
    spec = client.get("/openapi.json").json()
    assert {"/v1/classify", "/v1/policy", "/v1/labels", "/health"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_bad_empty_and_oversized_requests_get_clear_4xx(client):
    bad = client.post("/v1/classify", content=b'{"clauses": [', headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["detail"]
    assert client.post("/v1/classify", json={"clauses": []}).status_code == 422
    blank = client.post("/v1/classify", json={"clauses": [{"text": "   "}]})
    assert blank.status_code == 422 and "empty" in json.dumps(blank.json())
    assert client.post("/v1/classify", json={"texts": ["x"]}).status_code == 422
    many = client.post("/v1/classify", json={"clauses": [{"text": "x"}] * (MAX_CLAUSES + 1)})
    assert many.status_code == 422 and f"at most {MAX_CLAUSES}" in json.dumps(many.json())
    assert client.post("/v1/policy", json={"text": ""}).status_code == 422
    huge = client.post("/v1/policy", json={"text": "a" * (MAX_BODY_BYTES + 1)})
    assert huge.status_code == 413
    assert client.post("/v1/policy", json={"text": "<p></p>"}).status_code == 422  # no clauses in it
    assert client.get("/v1/nothing").status_code == 404


def test_concurrent_requests_share_forward_passes(server, classifier):
    url, app = server
    texts = [f"We keep record {i} for {i} days." for i in range(48)]
    before = app.state.batcher.forwards

    def one(text):
        with httpx.Client(base_url=url, timeout=30) as http:
            body = {"clauses": [{"text": text, "context": "Retention"}]}
            return http.post("/v1/classify", json=body).json()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, texts))
    forwards = app.state.batcher.forwards - before
    assert forwards < len(texts), "concurrent requests were batched together"
    expected = classifier.predict(texts, ["Retention"] * len(texts))
    assert [r["results"][0]["categories"] for r in results] == [p.categories for p in expected]

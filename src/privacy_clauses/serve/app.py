"""The HTTP API: label clauses or whole policies on demand, batching concurrent requests.

``POST /v1/classify`` clauses (with optional context) → labels; ``POST /v1/policy`` a policy
(Markdown, plain text or HTML) → its segmented, labeled clauses; ``GET /v1/labels`` the
label scheme and thresholds; ``GET /health``; OpenAPI docs at ``/docs``. Errors are 4xx
with a ``detail``: 400 bad JSON, 411/413 missing or too large body, 422 empty or invalid input.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from .. import __version__
from ..data.labels import ALL_LABELS, CATEGORIES, LEGAL_BASES, SCHEME_VERSION
from ..data.segment import segment
from ..predict.classifier import ClauseClassifier, Prediction
from .batcher import MicroBatcher

MAX_BODY_BYTES = 2_000_000
MAX_CLAUSES = 256
MAX_CLAUSE_CHARS = 10_000
MAX_POLICY_CHARS = 1_000_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


class ClauseIn(BaseModel):
    text: str = Field(max_length=MAX_CLAUSE_CHARS, description="one sentence, list item or heading")
    context: str = Field("", max_length=MAX_CLAUSE_CHARS, description="headings and lead-ins above it")

    _text = field_validator("text")(_not_blank)


class ClassifyRequest(BaseModel):
    clauses: list[ClauseIn] = Field(min_length=1, max_length=MAX_CLAUSES)


class Labels(BaseModel):
    categories: list[str]
    legal_basis: list[str]
    probabilities: dict[str, float] = Field(description="calibrated probability of every label")


class ClassifyResponse(BaseModel):
    results: list[Labels]


class PolicyRequest(BaseModel):
    text: str = Field(max_length=MAX_POLICY_CHARS, description="the whole policy")
    format: Literal["auto", "markdown", "text", "html"] = Field(
        "auto", description="auto: html when the text starts with '<', else markdown"
    )

    _text = field_validator("text")(_not_blank)


class PolicyClause(Labels):
    text: str
    start: int = Field(description="character offset of the clause in the policy text")
    end: int
    context: str


class PolicyResponse(BaseModel):
    clauses: list[PolicyClause]


def _labels(prediction: Prediction) -> dict:
    return {"categories": prediction.categories, "legal_basis": prediction.legal_basis,
            "probabilities": prediction.probabilities}  # fmt: skip


async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    """Bad JSON is 400; valid JSON with wrong, empty or oversized fields is 422."""
    problems = error.errors()
    if any(problem["type"] == "json_invalid" for problem in problems):
        return JSONResponse({"detail": "request body is not valid JSON"}, status_code=400)
    detail = [{"loc": list(problem["loc"]), "msg": problem["msg"]} for problem in problems]
    return JSONResponse({"detail": detail}, status_code=422)


class BodyLimit:
    """ASGI middleware: a POST needs a Content-Length (411) of at most ``limit`` bytes (413)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length")
            problem = None
            if length is None:
                problem = (411, "Content-Length required")
            elif not length.isdigit() or int(length) > self.limit:
                problem = (413, f"body larger than {self.limit} bytes")
            if problem:
                await JSONResponse({"detail": problem[1]}, status_code=problem[0])(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    classifier: ClauseClassifier, *, max_batch: int = 64, max_wait_ms: float = 5.0, name: str = "model"
) -> FastAPI:
    """The FastAPI app over ``classifier``; its batcher runs while the app does."""
    batcher = MicroBatcher(classifier, max_clauses=max_batch, max_wait_ms=max_wait_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="privacy-clauses", version=__version__, lifespan=lifespan,
                  description=__doc__.split("\n\n")[0])  # fmt: skip
    app.state.batcher = batcher
    app.add_exception_handler(RequestValidationError, _invalid)

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.post("/v1/classify", response_model=ClassifyResponse, summary="Label clauses")
    async def classify(body: ClassifyRequest) -> dict:
        clauses = body.clauses
        predictions = await batcher.classify([c.text for c in clauses], [c.context for c in clauses])
        return {"results": [_labels(p) for p in predictions]}

    @app.post("/v1/policy", response_model=PolicyResponse, summary="Segment a policy and label its clauses")
    async def policy(body: PolicyRequest) -> dict:
        fmt = body.format
        if fmt == "auto":
            fmt = "html" if body.text.lstrip().startswith("<") else "markdown"
        clauses = await asyncio.to_thread(segment, body.text, fmt)
        if not clauses:
            return JSONResponse({"detail": "no clauses found in the text"}, status_code=422)
        predictions = await batcher.classify([c.text for c in clauses], [c.context for c in clauses])
        rows = [{"text": c.text, "start": c.start, "end": c.end, "context": c.context, **_labels(p)}
                for c, p in zip(clauses, predictions, strict=True)]  # fmt: skip
        return {"clauses": rows}

    @app.get("/v1/labels", summary="The label scheme and decision thresholds")
    async def labels() -> dict:
        thresholds = dict(zip(ALL_LABELS, classifier.thresholds, strict=True))
        return {"scheme_version": SCHEME_VERSION, "categories": list(CATEGORIES),
                "legal_basis": list(LEGAL_BASES), "thresholds": thresholds}  # fmt: skip

    @app.get("/health", summary="Liveness and what is loaded")
    async def health() -> dict:
        return {"status": "ok", "model": name, "backend": classifier.backend,
                "precision": classifier.precision, "forward_passes": batcher.forwards}  # fmt: skip

    return app


def serve(model: str, *, host: str = "127.0.0.1", port: int = 8000, backend: str = "torch",
          precision: str = "auto", device: str = "auto", batch_size: int = 32, max_batch: int = 64,
          max_wait_ms: float = 5.0, access_log: bool = False) -> None:  # fmt: skip
    """Load ``model`` and serve it with uvicorn until interrupted."""
    import uvicorn

    classifier = ClauseClassifier.from_pretrained(model, device=device, precision=precision,
                                                  batch_size=batch_size, backend=backend)  # fmt: skip
    app = create_app(classifier, max_batch=max_batch, max_wait_ms=max_wait_ms, name=str(model))
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info")

"""`textfit serve DIR`: a trained model folder behind an HTTP API.

    POST /predict   {"texts": "Acme Corp announces new CEO", "top_k": 3}   (one text or a list)
    GET  /health    is the model loaded and answering?
    GET  /model     labels, base model, metrics
    GET  /docs      OpenAPI documentation

Bad input gets a 4xx JSON answer {"error": "..."}; concurrent requests are batched for the model.
With an API key, every request but /health, /docs and /openapi.json must carry it; bound to
loopback, requests for other host names are refused (security.py)."""

import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

from .common import Batcher, BodyLimitMiddleware, ascii_json_response, install_error_handlers, rank
from .security import guard, resolve_api_key

PUBLIC_PATHS = ("/health", "/docs", "/docs/oauth2-redirect", "/openapi.json")
"""Reachable without the API key: a load balancer's health check, and the API's description (a
browser cannot add a header to the page it opens; the docs hold no data, and their 'Authorize'
button takes the key for the calls made from them)."""


@dataclass
class ServeLimits:
    max_body_bytes: int = 1_048_576
    """Largest request body accepted (413 above it)."""
    max_texts: int = 256
    """Most texts in one request (422 above it)."""
    max_text_chars: int = 10_000
    """Longest text accepted, in characters (422 above it); the model reads at most max_length tokens anyway."""
    max_batch: int = 64
    """Most texts the batcher puts through the model at once."""
    batch_wait_ms: float = 5.0
    """How long the batcher waits for more requests once one has arrived."""


def create_app(model_dir: str | Path, *, backend: str = "torch", limits: ServeLimits | None = None, classifier=None,
               threads: int | None = None, host: str | None = None, api_key: str | None = None,
               allowed_hosts: Iterable[str] = ()):
    """The FastAPI application serving one model folder (loaded now, so a bad folder fails at once).

    `threads` sets PyTorch's intra-op threads for the model calls (default: PyTorch's choice). On a
    busy machine with few cores, 1 thread can be many times faster than PyTorch's default.
    `api_key`: required on every request but PUBLIC_PATHS. `host`: the address the server listens
    on; on loopback, requests for other host names (and not in `allowed_hosts`) are refused."""
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.security import APIKeyHeader, HTTPBearer
    from pydantic import BaseModel, ConfigDict, Field

    from ..classifier import Classifier
    from ..errors import TextfitError

    limits = limits or ServeLimits()
    if threads is not None:
        if threads < 1:
            raise TextfitError(f"threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    classifier = classifier or Classifier.load(model_dir, backend=backend)
    batcher = Batcher(classifier, max_batch=limits.max_batch, max_wait_ms=limits.batch_wait_ms)
    labels = list(classifier.label_names)
    record = classifier.record or {}
    started = time.time()

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", json_schema_extra={
            "examples": [{"texts": "Acme Corp announces new CEO", "top_k": 3},
                         {"texts": ["Oil prices fall", "Fed keeps rates unchanged"]}]})
        texts: Union[str, list[str]] = Field(
            description=f"One text, or a list of at most {limits.max_texts} texts "
                        f"(each at most {limits.max_text_chars} characters).")
        top_k: int = Field(1, ge=1, le=len(labels), description="How many labels to return per text, best first.")

    class Guess(BaseModel):
        label: str
        score: float

    class Prediction(BaseModel):
        label: str
        score: float
        top_k: list[Guess]

    class PredictResponse(BaseModel):
        predictions: list[Prediction]
        """One per text, in the order given."""

    @asynccontextmanager
    async def lifespan(app):
        yield
        await batcher.close()

    description = (f"A {len(labels)}-label text classifier fine-tuned from {record.get('base_model', 'a pretrained model')}. "
                   "POST texts to /predict; errors are JSON objects with an 'error' message.")
    if api_key:
        description += (" This server needs its API key on every request but /health and these docs: "
                        "`Authorization: Bearer KEY` or `X-API-Key: KEY` (401 without it, 403 with a wrong one).")
    app = FastAPI(title="textfit model server", description=description, version="1", lifespan=lifespan,
                  default_response_class=ascii_json_response())
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=limits.max_body_bytes)
    guard(app, host=host, token=api_key, allowed_hosts=allowed_hosts, public_paths=PUBLIC_PATHS, what="API key")
    app.state.batcher = batcher
    app.state.classifier = classifier
    # Declared for the docs only (their 'Authorize' button); the check itself is security.RequireToken.
    key_schemes = [Depends(APIKeyHeader(name="X-API-Key", auto_error=False)),
                   Depends(HTTPBearer(auto_error=False))] if api_key else []

    @app.post("/predict", response_model=PredictResponse, summary="Classify one text or a list of texts",
              dependencies=key_schemes)
    async def predict(request: PredictRequest):
        texts = [request.texts] if isinstance(request.texts, str) else request.texts
        if not texts:
            raise HTTPException(422, "'texts' is an empty list: give at least one text")
        if len(texts) > limits.max_texts:
            raise HTTPException(422, f"too many texts: {len(texts)} in one request, the limit is {limits.max_texts}; "
                                     "split them over several requests")
        for i, text in enumerate(texts):
            if len(text) > limits.max_text_chars:
                raise HTTPException(422, f"text {i} is {len(text)} characters long, the limit is {limits.max_text_chars}")
        try:
            probabilities = await batcher.predict_proba(texts)
        except Exception as exc:  # logged by the batcher; this request fails, the server carries on
            raise HTTPException(500, f"prediction failed: {type(exc).__name__}: {exc}") from None
        return {"predictions": rank(probabilities, labels, request.top_k)}

    @app.get("/health", summary="Is the model loaded and answering?")
    async def health():
        return {"status": "ok", "labels": len(labels), "uptime_s": round(time.time() - started, 1),
                "queued": batcher.pending, "batches": batcher.stats, "threads": _torch_threads()}

    @app.get("/model", summary="Labels, base model and metrics of the served model", dependencies=key_schemes)
    async def model():
        return {
            "folder": str(Path(model_dir).resolve()) if model_dir else None,
            "labels": labels,
            "base_model": record.get("base_model"),
            "strategy": record.get("strategy"),
            "created": record.get("created"),
            "max_length": record.get("max_length") or classifier.max_length,
            "metrics": record.get("metrics"),
            "eval_examples": (record.get("data") or {}).get("eval_examples"),
            "backend": classifier.backend_name,
            "limits": {"max_body_bytes": limits.max_body_bytes, "max_texts": limits.max_texts,
                       "max_text_chars": limits.max_text_chars},
        }

    @app.get("/", include_in_schema=False)
    async def root():
        return {"service": "textfit model server", "labels": len(labels),
                "try": "POST /predict {\"texts\": \"your message\"}", "docs": "/docs"}

    return app


def serve(model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, *, backend: str = "torch",
          limits: ServeLimits | None = None, threads: int | None = None, log_level: str = "info",
          announce=None, api_key: str | None = None, allowed_hosts: Iterable[str] = ()) -> None:
    """Load the model (failing fast on a bad folder), then `announce(url)` and serve until Ctrl-C.
    `api_key` defaults to $TEXTFIT_API_KEY."""
    import uvicorn

    app = create_app(model_dir, backend=backend, limits=limits, threads=threads, host=host,
                     api_key=resolve_api_key(api_key), allowed_hosts=allowed_hosts)
    if announce:
        announce(f"http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)


def _torch_threads() -> int | None:
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch else None

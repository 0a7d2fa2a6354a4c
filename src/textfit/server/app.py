"""`textfit serve DIR`: a trained model folder behind an HTTP API.

    POST /predict   {"texts": "Acme Corp announces new CEO", "top_k": 3}   (one text or a list)
    POST / or /predict   {"inputs": "...", "parameters": {"top_k": 3}}      (the Hugging Face format:
                    `huggingface_hub.InferenceClient(model=URL).text_classification(text)` works)
    GET  /health    is the model loaded and answering?
    GET  /model     labels, base model, metrics
    GET  /docs      OpenAPI documentation

Bad input gets a 4xx JSON answer {"error": "..."}; concurrent requests are batched for the model.
With an API key, every request but /health, /docs and /openapi.json must carry it; bound to
loopback, requests for other host names are refused (security.py).

`serve(..., workers=N)` runs N such apps in N processes on one port (uvicorn's supervisor), each
with its own model and cores // N threads: one Python process answers requests on one core at a
time, so N workers let a machine with N cores answer N batches at once."""

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from .batcher import Batcher
from .security import guard, resolve_api_key
from .shared import REQUEST_FORMATS, BodyLimitMiddleware, ascii_json_response, install_error_handlers, rank

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
    """Longest text accepted, in characters (422 above it): about 10 windows of 256 tokens (model/windows.py),
    which bounds what one text costs."""
    max_batch: int = 64
    """Most texts the batcher puts through the model at once."""
    batch_wait_ms: float = 5.0
    """How long the batcher waits for more requests once one has arrived."""
    min_confidence: float | None = None
    """Answer "not sure" (label null) below this score, unless a request sets its own threshold."""


def create_app(
    model_dir: str | Path,
    *,
    backend: str = "torch",
    limits: ServeLimits | None = None,
    classifier=None,
    threads: int | None = None,
    host: str | None = None,
    api_key: str | None = None,
    allowed_hosts: Iterable[str] = (),
):
    """The FastAPI application serving one model folder (loaded now, so a bad folder fails at once).

    `threads` sets PyTorch's (or ONNX Runtime's) threads for the model calls (default: their choice). On a
    busy machine with few cores, 1 thread can be many times faster than PyTorch's default.
    `api_key`: required on every request but PUBLIC_PATHS. `host`: the address the server listens
    on; on loopback, requests for other host names (and not in `allowed_hosts`) are refused."""
    from fastapi import FastAPI

    from ..model.calibration import check_min_confidence
    from ..model.classifier import Classifier
    from ..predict.batch import set_torch_threads

    limits = limits or ServeLimits()
    check_min_confidence(limits.min_confidence)
    set_torch_threads(threads)  # for a classifier given, too
    classifier = classifier or Classifier.load(model_dir, backend, threads=threads)  # ONNX Runtime's threads too
    batcher = Batcher(classifier, max_batch=limits.max_batch, max_wait_ms=limits.batch_wait_ms)
    labels = list(classifier.label_names)
    record = classifier.record or {}
    started = time.time()

    @asynccontextmanager
    async def lifespan(app):
        yield
        await batcher.close()

    app = FastAPI(
        title="textfit model server",
        description=api_description(len(labels), record, api_key),
        version="1",
        lifespan=lifespan,
        default_response_class=ascii_json_response(),
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=limits.max_body_bytes)
    guard(app, host=host, token=api_key, allowed_hosts=allowed_hosts, public_paths=PUBLIC_PATHS, what="API key")
    app.state.batcher = batcher
    app.state.classifier = classifier
    key_schemes = docs_key_schemes(api_key)

    add_prediction_routes(app, batcher, labels, limits, api_key)

    @app.get("/health", summary="Is the model loaded and answering?")
    def health():
        return {
            "status": "ok",
            "labels": len(labels),
            "uptime_s": round(time.time() - started, 1),
            "queued": batcher.pending,
            "batches": batcher.stats,
            "threads": _torch_threads(),
            "pid": os.getpid(),
        }  # behind --workers, which process answered

    @app.get("/model", summary="Labels, base model and metrics of the served model", dependencies=key_schemes)
    def model():
        return model_info(model_dir, classifier, limits)

    @app.get("/", include_in_schema=False)
    def root():
        return {
            "service": "textfit model server",
            "labels": len(labels),
            "try": 'POST /predict {"texts": "your message"}',
            "docs": "/docs",
        }

    return app


def add_prediction_routes(app, batcher, labels: list[str], limits: ServeLimits, api_key: str | None) -> None:
    """POST /predict (textfit's format or Hugging Face's) and POST / (Hugging Face's)."""
    from fastapi import HTTPException

    multi_label = getattr(getattr(app.state, "classifier", None), "multi_label", False)
    PredictRequest, PredictResponse = api_models(limits, len(labels), multi_label)
    HFRequest, HFResponse = hf_models(limits, len(labels))
    AnyRequest = either_format(PredictRequest, HFRequest)
    key_schemes = docs_key_schemes(api_key)

    async def probabilities_of(texts: str | list[str]):
        try:
            return await batcher.predict_proba(checked_texts(texts, limits))
        except HTTPException:
            raise
        except Exception as exc:  # logged by the batcher; this request fails, the server carries on
            raise HTTPException(500, f"prediction failed: {type(exc).__name__}: {exc}") from None

    @app.post(
        "/predict",
        response_model=PredictResponse | HFResponse,
        summary="Classify one text or a list of texts (textfit's format or Hugging Face's)",
        dependencies=key_schemes,
        responses=error_responses(api_key),
    )
    async def predict(request: AnyRequest):
        if isinstance(request, HFRequest):
            return hf_answer(request, await probabilities_of(request.inputs), labels)
        probabilities = await probabilities_of(request.texts)
        if not multi_label:
            return {"predictions": rank(probabilities, labels, request.top_k, request.min_confidence)}
        # several labels per text: every label at or above its threshold, those less sure than
        # min_confidence apart (model/label_calibration.py); the top label stays as is, never "not sure"
        answers = rank(probabilities, labels, request.top_k)
        sure, unsure = app.state.classifier.sure_and_unsure(probabilities, request.min_confidence)
        for answer, given, doubts in zip(answers, sure, unsure):
            answer.update(labels=given, not_sure=doubts)
        return {"predictions": answers}

    @app.post(
        "/",
        response_model=HFResponse,
        summary="Classify, in the Hugging Face Inference API's format",
        dependencies=key_schemes,
        responses=error_responses(api_key),
    )
    async def predict_hf(request: HFRequest):
        return hf_answer(request, await probabilities_of(request.inputs), labels)


def api_models(limits: ServeLimits, n_labels: int, multi_label: bool = False):
    """The /predict request and response, as the API's documentation shows them."""
    from pydantic import BaseModel, ConfigDict, Field

    class PredictRequest(BaseModel):
        model_config = ConfigDict(
            extra="forbid",
            json_schema_extra={
                "examples": [
                    {"texts": "Acme Corp announces new CEO", "top_k": 3},
                    {"texts": ["Oil prices fall", "Fed keeps rates unchanged"]},
                ]
            },
        )
        texts: str | list[str] = Field(
            description=f"One text, or a list of at most {limits.max_texts} texts "
            f"(each at most {limits.max_text_chars} characters)."
        )
        top_k: int = Field(1, ge=1, le=n_labels, description="How many labels to return per text, best first.")
        min_confidence: float | None = Field(
            limits.min_confidence,
            ge=0,
            le=1,
            description="Below this score the answer is 'not sure': label null, not_sure true, the best label as guess "
            f"(default: the server's, {limits.min_confidence}).",
        )

    class Guess(BaseModel):
        label: str
        score: float

    class Prediction(BaseModel):
        label: str | None = Field(description="The label; null when not sure.")
        score: float
        not_sure: bool = False
        guess: str | None = Field(None, description="When not sure: the best label all the same.")
        top_k: list[Guess]

    if multi_label:

        class Prediction(Prediction):  # noqa: F811  (the same answer, with the labels given)
            labels: list[str] = Field(
                description="Every label at or above its threshold, best first (possibly none): "
                "this model gives a text several labels. With min_confidence, only those it is sure of."
            )
            not_sure: list[str] = Field(
                [],
                description="With min_confidence: the labels whose decision (given or not) is less sure than it, "
                "best first; neither given nor denied.",
            )

    class PredictResponse(BaseModel):
        predictions: list[Prediction]
        """One per text, in the order given."""

    return PredictRequest, PredictResponse


def hf_models(limits: ServeLimits, n_labels: int):
    """The Hugging Face Inference API's text-classification request and answer (what
    `huggingface_hub.InferenceClient.text_classification` and text-embeddings-inference clients send)."""
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field, RootModel

    class HFParameters(BaseModel):
        top_k: int | None = Field(
            None, ge=1, le=n_labels, description="How many labels to return per text (default: all)."
        )
        function_to_apply: Literal["softmax"] | None = Field(
            None, description="textfit answers calibrated probabilities: 'softmax' or nothing."
        )

    class HFRequest(BaseModel):
        model_config = ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"inputs": "Acme Corp announces new CEO", "parameters": {"top_k": 3}}]},
        )
        inputs: str | list[str] = Field(
            description=f"One text, or a list of at most {limits.max_texts} texts "
            f"(each at most {limits.max_text_chars} characters)."
        )
        parameters: HFParameters = Field(default_factory=HFParameters)

    class HFGuess(BaseModel):
        label: str
        score: float

    class HFResponse(RootModel[list[list[HFGuess]]]):
        """One list per text, in the order given, best label first."""

    return HFRequest, HFResponse


def either_format(PredictRequest, HFRequest):
    """textfit's request or Hugging Face's, told apart by its "inputs" key, so a mistake is reported
    against the format the client meant."""
    from typing import Annotated

    from pydantic import Discriminator, Tag

    textfit, hugging_face = REQUEST_FORMATS

    def which(body) -> str:
        return hugging_face if isinstance(body, dict) and "inputs" in body else textfit

    either = Annotated[PredictRequest, Tag(textfit)] | Annotated[HFRequest, Tag(hugging_face)]
    return Annotated[either, Discriminator(which)]


def hf_answer(request, probabilities, labels: list[str]) -> list[list[dict]]:
    """For each text, its labels best first ({"label", "score"}), as the Hugging Face API answers.
    No "not sure" here: that format has no place for it (the scores say it)."""
    k = request.parameters.top_k or len(labels)
    return [answer["top_k"] for answer in rank(probabilities, labels, k)]


def error_responses(api_key: str | None) -> dict:
    """Every error status the server sends, documented with the body it really has."""
    from pydantic import BaseModel, Field

    class ErrorBody(BaseModel):
        error: str = Field(description="What went wrong, and what to do.")

    statuses = {
        400: "A request without a Host header, or with a Content-Length that is not a number.",
        403: "A Host this server does not answer to" + (", or a wrong API key." if api_key else "."),
        413: "The request body is larger than the server's limit.",
        422: "The body is not a valid request: the message names the field (too many texts, a text too long, ...).",
        500: "The model failed on these texts (the server carries on).",
    }
    if api_key:
        statuses[401] = "No API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`."
    return {status: {"model": ErrorBody, "description": text} for status, text in sorted(statuses.items())}


def docs_key_schemes(api_key: str | None) -> list:
    """The API key's ways in, declared for the docs only (their 'Authorize' button); the check itself
    is security.RequireToken."""
    from fastapi import Depends
    from fastapi.security import APIKeyHeader, HTTPBearer

    if not api_key:
        return []
    return [Depends(APIKeyHeader(name="X-API-Key", auto_error=False)), Depends(HTTPBearer(auto_error=False))]


def checked_texts(texts: str | list[str], limits: ServeLimits) -> list[str]:
    """The request's texts as a list, within the limits (422 otherwise)."""
    from fastapi import HTTPException

    texts = [texts] if isinstance(texts, str) else texts
    if not texts:
        raise HTTPException(422, "'texts' is an empty list: give at least one text")
    if len(texts) > limits.max_texts:
        raise HTTPException(
            422,
            f"too many texts: {len(texts)} in one request, the limit is {limits.max_texts}; "
            "split them over several requests",
        )
    for i, text in enumerate(texts):
        if len(text) > limits.max_text_chars:
            raise HTTPException(422, f"text {i} is {len(text)} characters long, the limit is {limits.max_text_chars}")
    return texts


def api_description(n_labels: int, record: dict, api_key: str | None) -> str:
    description = (
        f"A {n_labels}-label text classifier fine-tuned from {record.get('base_model', 'a pretrained model')}. "
        "POST texts to /predict; errors are JSON objects with an 'error' message."
    )
    if api_key:
        description += (
            " This server needs its API key on every request but /health and these docs: "
            "`Authorization: Bearer KEY` or `X-API-Key: KEY` (401 without it, 403 with a wrong one)."
        )
    return description


def model_info(model_dir, classifier, limits: ServeLimits) -> dict:
    """GET /model: the served model's labels, base model and metrics, and the server's limits."""
    record = classifier.record or {}
    return {
        "folder": str(Path(model_dir).resolve()) if model_dir else None,
        "labels": list(classifier.label_names),
        "base_model": record.get("base_model"),
        "strategy": record.get("strategy"),
        "created": record.get("created"),
        "max_length": record.get("max_length") or classifier.max_length,
        "metrics": record.get("metrics"),
        "eval_examples": (record.get("data") or {}).get("eval_examples"),
        "backend": classifier.backend_name,
        "limits": {
            "max_body_bytes": limits.max_body_bytes,
            "max_texts": limits.max_texts,
            "max_text_chars": limits.max_text_chars,
        },
    }


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    backend: str = "torch",
    limits: ServeLimits | None = None,
    threads: int | None = None,
    log_level: str = "info",
    announce=None,
    api_key: str | None = None,
    allowed_hosts: Iterable[str] = (),
    workers: int = 1,
) -> None:
    """Load the model (failing fast on a bad folder), then `announce(url)` and serve until Ctrl-C.
    `api_key` defaults to $TEXTFIT_API_KEY. `workers` > 1: that many processes on the one port,
    each with `threads` (default: cores // workers) threads."""
    import uvicorn

    from ..errors import TextfitError
    from ..model.backends import default_threads

    if workers < 1:
        raise TextfitError(f"workers must be at least 1, got {workers}")
    api_key = resolve_api_key(api_key)
    no_kernel_cache()
    if workers == 1:
        app = create_app(
            model_dir,
            backend=backend,
            limits=limits,
            threads=threads,
            host=host,
            api_key=api_key,
            allowed_hosts=allowed_hosts,
        )
        if announce:
            announce(f"http://{host}:{port}")
        uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
        return
    settings = {
        "model_dir": str(model_dir),
        "backend": backend,
        "limits": asdict(limits or ServeLimits()),
        "threads": threads or max(1, default_threads() // workers),
        "host": host,
        "api_key": api_key,
        "allowed_hosts": list(allowed_hosts),
    }
    _serve_workers(settings, port, workers, log_level, announce)


KERNEL_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"


def no_kernel_cache() -> None:
    """Keep the server's memory flat: oneDNN caches a compiled kernel for every new batch shape (up
    to 1,024 of them), and a server sees a new shape with almost every batch. 250 random batches in
    one process: RSS 578 -> 824 MB with the cache, 577 -> 606 MB without, no slower (2026-12-07,
    docs/guide/when-things-go-wrong.md). oneDNN reads the variable when it makes its first kernel,
    so setting it before the model's first forward pass is enough; workers inherit it. A value the
    user set is kept."""
    os.environ.setdefault(KERNEL_CACHE_ENV, "0")


WORKER_SETTINGS_ENV = "TEXTFIT_SERVE_SETTINGS"
"""Path of the JSON file from which each worker process builds its app (they are spawned, not
forked: nothing but the environment and files reaches them). It holds the API key."""
WORKER_FAILED = "failed.txt"


def _serve_workers(settings: dict, port: int, workers: int, log_level: str, announce) -> None:
    """uvicorn's supervisor: one socket, `workers` spawned processes each running `worker_app()`;
    it restarts a worker that dies, and Ctrl-C (SIGINT) or SIGTERM stops them all. A worker that
    cannot load the model writes why, and the supervisor stops: the error is raised here."""
    import uvicorn

    from ..errors import ModelError, TextfitError
    from ..model.classifier import BACKENDS

    if not Path(settings["model_dir"], "config.json").is_file():  # the common mistakes, before N processes start
        raise ModelError(
            f"{settings['model_dir']} is not a trained model folder (no config.json); train one with `textfit train`"
        )
    if settings["backend"] not in BACKENDS:
        raise ModelError(f"unknown backend '{settings['backend']}'; choose one of {', '.join(BACKENDS)}")
    with tempfile.TemporaryDirectory(prefix="textfit-serve-") as folder:
        path = Path(folder, "settings.json")  # the folder is the user's alone (mode 0700)
        path.write_text(json.dumps({**settings, "failure_file": str(Path(folder, WORKER_FAILED))}))
        previous = os.environ.get(WORKER_SETTINGS_ENV)
        os.environ[WORKER_SETTINGS_ENV] = str(path)
        try:
            if announce:
                announce(f"http://{settings['host']}:{port}")
            uvicorn.run(
                "textfit.server.app:worker_app",
                factory=True,
                workers=workers,
                host=settings["host"],
                port=port,
                log_level=log_level,
                timeout_graceful_shutdown=5,
            )
        finally:
            if previous is None:
                os.environ.pop(WORKER_SETTINGS_ENV, None)
            else:
                os.environ[WORKER_SETTINGS_ENV] = previous
        failed = Path(folder, WORKER_FAILED)
        if failed.is_file():
            raise TextfitError(f"a worker could not start: {failed.read_text()}")


def worker_app():
    """The app of one `serve --workers N` process, from the settings `serve` wrote (an import-string
    factory: uvicorn calls it in each worker)."""
    from uvicorn.config import STARTUP_FAILURE

    settings = json.loads(Path(os.environ[WORKER_SETTINGS_ENV]).read_text())
    try:
        return create_app(
            settings["model_dir"],
            backend=settings["backend"],
            limits=ServeLimits(**settings["limits"]),
            threads=settings["threads"],
            host=settings["host"],
            api_key=settings["api_key"],
            allowed_hosts=settings["allowed_hosts"],
        )
    except Exception as exc:  # the supervisor stops on this exit code instead of restarting the worker forever
        from ..errors import TextfitError

        reason = str(exc) if isinstance(exc, TextfitError) else f"{type(exc).__name__}: {exc}"
        Path(settings["failure_file"]).write_text(reason)
        sys.exit(STARTUP_FAILURE)


def _torch_threads() -> int | None:
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch else None

"""What both web apps use (`textfit serve` in app.py, the studio in studio/): a request-body limit,
every error as a JSON object {"error": message}, and the shape of a prediction's answer (`rank`).
Who may reach them is security.py."""

from __future__ import annotations

import json
import logging
import math

import numpy as np

from ..errors import TextfitError

log = logging.getLogger("textfit")


def error_body(message: str, **extra) -> bytes:
    return json.dumps({"error": message, **extra}).encode()


class BodyLimitMiddleware:
    """Answer 413 to any request whose body is larger than `limit` bytes.

    Checks Content-Length first, then counts the bytes as they arrive (chunked uploads), so a
    large body is refused without being read into memory or spooled to disk."""

    def __init__(self, app, limit: int, limits_by_prefix: dict[str, int] | None = None):
        self.app = app
        self.limit = limit
        self.limits_by_prefix = limits_by_prefix or {}

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits_by_prefix.items():
            if path.startswith(prefix):
                return limit
        return self.limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                return await self._reply(send, 400, "the Content-Length header is not a number")
            if too_big:
                return await self._too_large(send, limit)
        received = 0
        started = rejected = False

        async def counting_receive():
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now and tell the app the client left: whatever it does next goes nowhere.
                    rejected = True
                    if not started:
                        await self._too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not rejected:
                raise

    async def _too_large(self, send, limit: int):
        await self._reply(send, 413, f"the request body is larger than the limit of {human_bytes(limit)}")

    @staticmethod
    async def _reply(send, status: int, message: str):
        body = error_body(message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def human_bytes(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}".replace(".0 ", " ")
        size /= 1024
    return f"{size} bytes"


REQUEST_FORMATS = ("textfit format", "Hugging Face format")
"""The tags of a body that may come in either format (pydantic puts the one chosen in an error's
location, where it is not a field the client sent)."""


def describe_validation_error(errors) -> str:
    """FastAPI's validation errors as one sentence a person can act on."""
    parts = []
    for error in errors:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body" and p not in REQUEST_FORMATS)
        kind = error.get("type", "")
        if kind == "json_invalid":
            parts.append("the request body is not valid JSON")
        elif kind == "missing":
            parts.append(f"'{location}' is missing")
        else:
            parts.append(
                f"'{location}': {error.get('msg', 'is not valid')}" if location else error.get("msg", "invalid")
            )
    return "; ".join(parts) or "the request is not valid"


def ascii_json_response():
    """A JSONResponse that escapes every non-ASCII character. A JSON body may carry lone surrogates
    ("\\ud800"); echoed back in an error message or a run's name, they cannot be encoded as UTF-8,
    and Starlette's own JSONResponse would fail with a 500."""
    from fastapi.responses import JSONResponse

    class AsciiJSONResponse(JSONResponse):
        def render(self, content) -> bytes:
            return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")

    return AsciiJSONResponse


def install_error_handlers(app) -> None:
    """Every error is a JSON object {"error": message}; nothing reaches the client as a traceback.
    Create `app` with `default_response_class=ascii_json_response()`."""
    from fastapi import HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    JSONResponse = ascii_json_response()

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError):
        errors = jsonable_errors(exc.errors())
        return JSONResponse({"error": describe_validation_error(errors), "detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(TextfitError)
    async def on_textfit(request: Request, exc: TextfitError):
        return JSONResponse({"error": str(exc)}, status_code=getattr(exc, "status", 400))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)


def jsonable_errors(errors) -> list[dict]:
    """Validation errors may carry exception objects in 'ctx'; keep what JSON can hold."""
    clean = []
    for error in errors:
        item = {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
        value = error.get("input")
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # NaN and Infinity parse from a request body but JSON cannot carry them back
        if "input" in error and isinstance(value, (str, int, float, bool, type(None))):
            item["input"] = value[:200] if isinstance(value, str) else value
        clean.append(item)
    return clean


def rank(probabilities: np.ndarray, label_names: list[str], k: int, min_confidence: float | None = None) -> list[dict]:
    """Per text: the best label and score, and the k best as a list. Below `min_confidence` the
    label is None, with "not_sure": True and the best label as "guess"."""
    k = max(1, min(k, len(label_names)))
    results = []
    for row in probabilities:
        order = np.argsort(-row)[:k]
        ranked = [{"label": label_names[j], "score": round(float(row[j]), 6)} for j in order]
        answer = {"label": ranked[0]["label"], "score": ranked[0]["score"], "top_k": ranked}
        if min_confidence is not None and row[order[0]] < min_confidence:
            answer.update(label=None, not_sure=True, guess=ranked[0]["label"])
        results.append(answer)
    return results

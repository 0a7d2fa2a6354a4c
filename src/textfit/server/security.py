"""Who may talk to the studio and the server.

Three checks, each an ASGI middleware:

* `LoopbackHostOnly`: a server bound to a loopback address answers only requests whose Host header
  names a loopback host. Otherwise a web page could point its own domain at 127.0.0.1 (DNS
  rebinding) and drive the local server from the victim's browser as if it were the same site.
* `RequireToken`: every request (but a few public paths) carries a secret: `Authorization: Bearer`,
  `X-API-Key`, or, for the studio's page, a cookie set by a first visit to `/?token=...`.
* `SameOriginOnly`: another web site open in the same browser must not post to the studio.

Starlette's TrustedHostMiddleware matches exact names and `*.domain` patterns only (not 127.0.0.0/8)
and answers in plain text, so the Host check is written here."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Iterable
from html import escape
from urllib.parse import urlsplit

from .shared import error_body

STUDIO_TOKEN_ENV = "TEXTFIT_STUDIO_TOKEN"
API_KEY_ENV = "TEXTFIT_API_KEY"
STUDIO_COOKIE = "textfit_studio_token"


def is_loopback(host: str | None) -> bool:
    """Is `host` (an address to bind to, or the name in a Host header) this machine's loopback?"""
    name = (host or "").strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host in a Host header, without the port: 'a:80' -> 'a', '[::1]:80' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def split_hosts(values: Iterable[str] | None) -> tuple[str, ...]:
    """`--allow-host a --allow-host b,c` -> ('a', 'b', 'c')."""
    return tuple(name.strip().lower() for value in values or () for name in value.split(",") if name.strip())


def resolve_api_key(given: str | None = None) -> str | None:
    """The server's API key: the one given, else $TEXTFIT_API_KEY, else None (no key needed)."""
    return (given or os.environ.get(API_KEY_ENV) or "").strip() or None


def resolve_studio_token(host: str, given: str | None = None) -> str | None:
    """The studio's access token: the one given (or in $TEXTFIT_STUDIO_TOKEN), a new one when the
    studio listens beyond loopback, or None (no token) on loopback."""
    given = (given or os.environ.get(STUDIO_TOKEN_ENV) or "").strip()
    if given:
        return given
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def public_url(host: str, port: int, token: str | None = None) -> str:
    """The URL to print at start: a wildcard address is no place to browse to, the machine's name is."""
    import socket

    shown = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


async def _reply_json(
    send, status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = (), websocket: bool = False
) -> None:
    if websocket:  # neither app has a websocket; should one come, it is refused the same way
        return await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
    body = error_body(message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class LoopbackHostOnly:
    """Refuse (403) requests whose Host header is not a loopback name or one of `allowed_hosts`."""

    def __init__(self, app, allowed_hosts: Iterable[str] = ()):
        self.app = app
        self.allowed = set(split_hosts(allowed_hosts))

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        name = host_name(header)
        websocket = scope["type"] == "websocket"
        if not name:
            return await _reply_json(send, 400, "the request has no Host header", websocket=websocket)
        if not (is_loopback(name) or name in self.allowed):
            return await _reply_json(
                send,
                403,
                f"requests for host '{name}' are refused: this server listens on a loopback address and "
                "answers only to localhost, 127.x.x.x or [::1]. Behind a reverse proxy, start it with "
                f"--allow-host {name}",
                websocket=websocket,
            )
        await self.app(scope, receive, send)


class RequireToken:
    """Let through only requests that carry `token`, except for `public_paths`.

    The secret may come as `Authorization: Bearer <token>` or `X-API-Key: <token>`. With `cookie`
    set (the studio), a GET with `?token=<token>` stores it in that cookie (HttpOnly, SameSite=Strict)
    and redirects to the same URL without it, so the page and its API calls carry it from then on;
    and `/` without the token answers with `page` (HTML) rather than JSON. No secret: 401; a wrong
    one: 403. Compared in constant time."""

    def __init__(
        self,
        app,
        token: str,
        *,
        public_paths: Iterable[str] = (),
        cookie: str | None = None,
        page: str | None = None,
        what: str = "access token",
    ):
        if not token:
            raise ValueError("RequireToken needs a non-empty token")
        self.app = app
        self.token = token.encode()
        self.public = frozenset(public_paths)
        self.cookie = cookie
        self.page = page
        self.what = what

    def matches(self, presented: str) -> bool:
        return secrets.compare_digest(presented.encode("utf-8", "surrogatepass"), self.token)

    async def __call__(self, scope, receive, send):
        from starlette.requests import HTTPConnection
        from starlette.responses import HTMLResponse, RedirectResponse

        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.public:
            return await self.app(scope, receive, send)
        request = HTTPConnection(scope)
        websocket = scope["type"] == "websocket"
        visit = self.cookie and not websocket and scope["method"] in ("GET", "HEAD")
        in_url = request.query_params.get("token") if visit else None
        if in_url is not None and self.matches(in_url):
            clean = request.url.remove_query_params("token")
            response = RedirectResponse(clean.path + (f"?{clean.query}" if clean.query else ""), status_code=303)
            response.set_cookie(self.cookie, in_url, httponly=True, samesite="strict", path="/")
            return await response(scope, receive, send)
        presented = self._presented(request)
        if presented is not None and self.matches(presented):
            return await self.app(scope, receive, send)
        status = 401 if presented is None and in_url is None else 403  # none given / a wrong one
        if self.page is not None and scope.get("path") == "/" and not websocket:
            return await HTMLResponse(self.page, status_code=status)(scope, receive, send)
        message = (
            f"this server needs its {self.what}: send it as 'Authorization: Bearer <{self.what}>' "
            f"or 'X-API-Key: <{self.what}>'"
            if status == 401
            else f"the {self.what} is wrong"
        )
        await _reply_json(
            send, status, message, [(b"www-authenticate", b"Bearer")] if status == 401 else [], websocket=websocket
        )

    def _presented(self, request) -> str | None:
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        if request.headers.get("x-api-key"):
            return request.headers["x-api-key"]
        if self.cookie and request.cookies.get(self.cookie):
            return request.cookies[self.cookie]
        return None  # a ?token= is taken only by the redirect above: secrets in URLs end up in logs


def studio_login_page() -> str:
    """What `/` shows a browser that has not got the studio's token."""
    return (
        "<!doctype html><meta charset='utf-8'><title>textfit studio: access token needed</title>"
        "<body style='font-family: sans-serif; max-width: 40em; margin: 4em auto; line-height: 1.5'>"
        "<h1>This studio needs its access token</h1>"
        "<p>Open the address that <code>textfit studio</code> printed when it started: it ends in "
        "<code>/?token=…</code>. The browser keeps the token from then on (until it is closed).</p>"
        "<p>Started it yourself with <code>--token</code> or <code>" + escape(STUDIO_TOKEN_ENV) + "</code>? "
        "Add <code>?token=YOUR-TOKEN</code> to this address.</p></body>"
    )


class SameOriginOnly:
    """Refuse (403) a state-changing request whose Origin header names another site."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin", b"").decode("latin-1")
            if origin and urlsplit(origin).netloc != headers.get(b"host", b"").decode("latin-1"):
                message = f"requests from {origin} are not allowed; use the studio's own page"
                return await _reply_json(send, 403, message)
        await self.app(scope, receive, send)


def guard(
    app,
    *,
    host: str | None,
    token: str | None,
    allowed_hosts: Iterable[str] = (),
    public_paths: Iterable[str] = (),
    cookie: str | None = None,
    page: str | None = None,
    what: str = "access token",
) -> None:
    """Install the Host check (when `host`, the address bound to, is loopback) and the token check
    (when there is a token) on a FastAPI/Starlette app. Call it after the app's other middleware:
    the last one added runs first."""
    if token:
        app.add_middleware(
            RequireToken, token=token, public_paths=tuple(public_paths), cookie=cookie, page=page, what=what
        )
    if host is not None and is_loopback(host):
        app.add_middleware(LoopbackHostOnly, allowed_hosts=tuple(allowed_hosts))

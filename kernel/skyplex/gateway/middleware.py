"""Pure-ASGI middleware: last-resort 500s, bearer-token auth, the request size limit, and JSON bodies
that repeat a key.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so streamed responses pass through untouched and
the checks run before any route code reads the request.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..encoding import duplicated_key
from .errors import error_body

log = logging.getLogger(__name__)

#: Paths anyone may read: liveness and the API's own documentation.
PUBLIC_PATHS: frozenset[str] = frozenset({"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})

#: Mark a plugin's GET route as a public page: ``@router.get("/", openapi_extra=PUBLIC_PAGE)``. A browser
#: opens it without an Authorization header (so it must hold no data, only the page); everything the
#: page then fetches still needs the key, which the page asks its user for. Only GET/HEAD routes qualify.
PUBLIC_PAGE: dict[str, bool] = {"x-skyplex-public-page": True}


async def send_json_error(send: Send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON error response straight through ASGI."""
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class CatchAllMiddleware:
    """Turn any exception no handler claimed into a generic 500 JSON body, logged with its traceback.

    Starlette's own last-resort handler re-raises after responding; catching here keeps the server log
    to one traceback per failure and the response in our error shape.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error serving %s %s", scope.get("method"), scope.get("path"))
            if started:  # a streamed response broke midway: nothing more can be said to this client
                return
            body = error_body(
                "internal server error; the gateway logged the details and is still serving",
                status=500,
                type="internal_error",
            )
            await send_json_error(send, 500, body)


class BearerAuthMiddleware:
    """Require ``Authorization: Bearer <key>`` on every path except :data:`PUBLIC_PATHS`, and except GET
    and HEAD on ``public_pages`` (routes marked :data:`PUBLIC_PAGE`)."""

    def __init__(self, app: ASGIApp, *, api_key: str, public_paths: Collection[str] = PUBLIC_PATHS,
                 public_pages: Collection[str] = ()) -> None:
        self.app = app
        self._key = api_key.encode()
        self._public = frozenset(public_paths)
        self._pages = frozenset(public_pages)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] in self._public or scope.get("method") == "OPTIONS"
                or (scope["path"] in self._pages and scope.get("method") in ("GET", "HEAD"))):
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        scheme, _, token = (header or "").strip().partition(" ")
        if header is None or (scheme.lower() == "bearer" and not token.strip()):
            # clients with no key configured send no header or an empty "Bearer " (lm-eval, openai)
            message = f"missing API key: send 'Authorization: Bearer <key>'; {_key_location(scope)}"
        elif scheme.lower() != "bearer" or not token.strip():
            message = "malformed Authorization header: expected 'Bearer <key>'"
        elif not hmac.compare_digest(token.strip().encode(), self._key):  # constant time: no timing oracle
            message = "invalid API key"
        else:
            await self.app(scope, receive, send)
            return
        body = error_body(message, status=401, type="authentication_error", code="invalid_api_key")
        await send_json_error(send, 401, body, {"www-authenticate": "Bearer"})


class BodySizeLimitMiddleware:
    """Answer 413 to bodies over ``max_body_bytes``, by Content-Length and by counting streamed bytes,
    and 400 to a JSON body that gives one key twice in an object (which copy wins differs between
    parsers, so such a body can mean two things).

    The body is read here (up to the limit) and replayed to the app, so a chunked upload that grows past
    the limit is refused before any route sees part of it.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body_bytes
            except ValueError:
                body = error_body("Content-Length is not a number", status=400)
                await send_json_error(send, 400, body)
                return
            if too_big:
                await self._refuse(send, f"{int(declared)} bytes")
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away before finishing the body
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(send, f"more than {self.max_body_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if "json" in (_header(scope, b"content-type") or "").lower():
            repeated = duplicated_key(b"".join(chunks))
            if repeated is not None:  # parsers disagree on which copy wins: refuse rather than guess
                body = error_body(
                    f"the JSON body gives the key {repeated!r} twice in one object; send each key once",
                    status=400, param=repeated, code="duplicated_key",
                )
                await send_json_error(send, 400, body)
                return
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _refuse(self, send: Send, got: str) -> None:
        body = error_body(
            f"request body too large: got {got}, the limit is {self.max_body_bytes} bytes; "
            "send less per request (split batches) or raise the gateway's max_body_bytes",
            status=413,
            code="request_too_large",
        )
        await send_json_error(send, 413, body, {"connection": "close"})


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read body once, then defers to the real one."""
    state = {"sent": False}

    async def replay() -> Message:
        if not state["sent"]:
            state["sent"] = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await receive()

    return replay


def _key_location(scope: Scope) -> str:
    """Where this gateway's key is kept, for the 'missing API key' message."""
    kernel = getattr(getattr(scope.get("app"), "state", None), "kernel", None)
    data_dir = getattr(getattr(kernel, "settings", None), "data_dir", None)
    where = f"{data_dir}/gateway.key" if data_dir is not None else "gateway.key in the skyplex data dir"
    return (
        f"the key is in {where} (written by the first `skyplex serve`), unless the server was started "
        "with --api-key; OpenAI clients read it from OPENAI_API_KEY"
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None

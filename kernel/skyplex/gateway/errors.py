"""One JSON error shape for every failure: ``{"error": {"message", "type", "param", "code"}}``.

The shape is OpenAI's, so OpenAI clients surface our messages unchanged; ``param`` names the input
at fault as a dotted path (``messages.0.role``) so a person can find it in what they sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import SkyplexError

log = logging.getLogger(__name__)

#: HTTP status -> the ``type`` of errors that carry no more specific one.
_STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong and what to do about it.")
    type: str = Field(description="Error class, e.g. 'invalid_request_error', 'not_found_error'.")
    param: str | None = Field(default=None, description="Dotted path of the input at fault, if any.")
    code: str | None = Field(default=None, description="Machine-readable code, e.g. 'model_not_found'.")


class ErrorResponse(BaseModel):
    """The body of every non-2xx response."""

    error: ErrorDetail


#: Error responses every route can give, for the OpenAPI schema.
COMMON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed request (bad JSON or a field failing validation)."},
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
    404: {"model": ErrorResponse, "description": "Unknown plugin, backend, job or action."},
    413: {"model": ErrorResponse, "description": "Request body larger than the gateway accepts."},
    500: {"model": ErrorResponse, "description": "Unexpected server error (details are in the server log)."},
}


def error_body(
    message: str, *, status: int, type: str | None = None, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The JSON body for an error response."""
    detail = ErrorDetail(message=message, type=type or _STATUS_TYPES.get(status, "api_error"), param=param, code=code)
    return {"error": detail.model_dump()}


def error_response(
    message: str,
    *,
    status: int,
    type: str | None = None,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(message, status=status, type=type, param=param, code=code), status_code=status, headers=headers
    )


def dotted(loc: Sequence[Any]) -> str | None:
    """``("body", "messages", 0, "role")`` -> ``"messages.0.role"``; None when only the body is meant."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    # pydantic names the union member it tried ('str', 'list[int]', 'function-after[...]'); people
    # sent fields and indexes, not types, so those steps are left out of the path
    parts = [p for p in parts if not (isinstance(p, str) and _is_type_step(p))]
    return ".".join(str(p) for p in parts) or None


_TYPE_STEPS = frozenset({"str", "int", "float", "bool", "none", "dict", "list", "bytes", "json-or-python"})


def _is_type_step(part: str) -> bool:
    return part in _TYPE_STEPS or "[" in part or part.startswith(("function-", "lax-", "constrained-"))


def validation_message(errors: Sequence[dict[str, Any]]) -> tuple[str, str | None, str | None]:
    """A sentence for people, the param path and a code, from pydantic/FastAPI validation errors."""
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error") or first.get("msg", "invalid JSON")
        pos = first["loc"][1] if len(first.get("loc", ())) > 1 else None
        where = f" at character {pos}" if isinstance(pos, int) else ""
        return f"request body is not valid JSON: {reason}{where}", None, "invalid_json"
    param = dotted(first.get("loc", ()))
    if param is None and isinstance(first.get("input"), (bytes, bytearray)):
        # FastAPI only parses JSON when the client says it is JSON (a guard against cross-site posts)
        return (
            "request body was not read as JSON: send it with 'Content-Type: application/json'",
            None,
            "unsupported_content_type",
        )
    if first.get("type") == "missing" and param is None:
        return "request body is required (send a JSON object)", None, "missing_body"
    where = f"'{param}'" if param else "request body"
    message = f"invalid {where}: {first.get('msg', 'invalid value')}"
    if len(errors) > 1:
        others = [dotted(e.get("loc", ())) or "body" for e in errors[1:4]]
        message += f" (and {len(errors) - 1} more problem(s), e.g. at {', '.join(others)})"
    return message, param, first.get("type")


async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    message, param, code = validation_message(exc.errors())
    return error_response(message, status=400, param=param, code=code)


async def _http_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /docs for the routes this gateway serves"
    elif exc.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
    return error_response(str(detail), status=exc.status_code, headers=getattr(exc, "headers", None))


async def _skyplex_handler(request: Request, exc: SkyplexError) -> JSONResponse:
    if exc.status_code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    body = {"error": ErrorDetail(**exc.to_dict()).model_dump()}
    return JSONResponse(body, status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    """Route every known error class to the JSON error shape (unexpected ones: see middleware)."""
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(SkyplexError, _skyplex_handler)

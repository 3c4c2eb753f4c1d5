"""The gateway application: :func:`create_app` wires a kernel's registries, jobs and models to HTTP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from .. import __version__
from ..kernel import Kernel
from .errors import COMMON_ERROR_RESPONSES, install_error_handlers
from .job_routes import jobs_router
from .kinds import kind_routers
from .middleware import PUBLIC_PAGE, PUBLIC_PATHS, BearerAuthMiddleware, BodySizeLimitMiddleware, CatchAllMiddleware
from .openai_routes import ModelRouting, openai_router
from .responses import SkyplexJSONResponse
from .schemas import Health, PluginLoadErrorInfo, PluginsResponse

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
ROUTES_HOOK = "skyplex_register_routes"


def create_app(
    kernel: Kernel,
    *,
    api_key: str | None,
    auth: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    batch_window_ms: float | None = 10.0,
    batch_max_wait_ms: float = 50.0,
    max_batch: int = 32,
) -> FastAPI:
    """The gateway for ``kernel``.

    ``auth`` requires ``Authorization: Bearer <api_key>`` on everything but ``/healthz`` and the docs.
    Completion requests arriving together are coalesced into one ``generate`` call: a batch closes
    after ``batch_window_ms`` without a new arrival, or ``batch_max_wait_ms`` after its first request
    (None for the window turns coalescing off); ``max_batch`` caps the prompts in one call.
    """
    if auth and not api_key:
        raise ValueError("create_app(auth=True) needs an api_key; pass auth=False only for loopback use")
    if max_body_bytes < 1:
        raise ValueError("max_body_bytes must be positive")
    routing = ModelRouting(
        kernel,
        batch_window_s=None if batch_window_ms is None else batch_window_ms / 1000.0,
        batch_max_wait_s=batch_max_wait_ms / 1000.0,
        max_batch=max_batch,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kernel.startup()  # idempotent; lets plugins open resources before the first request
        try:
            yield
        finally:
            routing.close()

    app = FastAPI(
        title="skyplex gateway",
        version=__version__,
        description="HTTP face of a skyplex kernel: plugins by kind, jobs, and OpenAI-compatible model routes.",
        lifespan=lifespan,
        responses=COMMON_ERROR_RESPONSES,
        default_response_class=SkyplexJSONResponse,  # the kernel's JSON encoder, shared with the CLI
    )
    app.state.kernel = kernel
    app.state.model_routing = routing
    app.state.auth = auth
    install_error_handlers(app)

    app.include_router(_core_router(kernel))
    for router in kind_routers():
        app.include_router(router)
    app.include_router(jobs_router())
    app.include_router(openai_router())
    pages = public_pages(_mount_plugin_routers(app, kernel))

    # Starlette wraps later-added middleware around earlier ones: size limit runs innermost, then
    # auth (so strangers get 401 before their body is read), then the catch-all outermost. Added after
    # the routes are mounted, so auth knows which plugin pages are public.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=max_body_bytes)
    if auth:
        app.add_middleware(BearerAuthMiddleware, api_key=api_key, public_pages=pages)
    app.add_middleware(CatchAllMiddleware)
    _document_auth(app, enabled=auth, public_pages=pages)
    return app


def public_pages(routers: list[APIRouter]) -> frozenset[str]:
    """Paths of the plugin GET routes marked :data:`~.middleware.PUBLIC_PAGE` (a marked route with any
    other method is ignored, with a warning: only pages may be public)."""
    out = set()
    for route in (r for router in routers for r in router.routes):
        extra = getattr(route, "openapi_extra", None) or {}
        if not all(extra.get(k) == v for k, v in PUBLIC_PAGE.items()):
            continue
        methods = set(getattr(route, "methods", ()) or ())
        if methods <= {"GET", "HEAD"}:
            out.add(route.path)
        else:
            log.warning("route %s %s is marked as a public page but is not GET; it keeps requiring the API key",
                        sorted(methods), route.path)
    return frozenset(out)


def _core_router(kernel: Kernel) -> APIRouter:
    router = APIRouter(tags=["gateway"])

    @router.get("/healthz", response_model=Health, summary="Liveness (no auth)")
    def healthz() -> Health:
        return Health(version=__version__)

    @router.get("/v1/plugins", response_model=PluginsResponse, summary="Installed plugins and load errors")
    def plugins() -> PluginsResponse:
        return PluginsResponse(
            data=kernel.plugins(),
            errors=[PluginLoadErrorInfo(**e.to_dict()) for e in kernel.plugin_errors],
        )

    return router


def _mount_plugin_routers(app: FastAPI, kernel: Kernel) -> list[APIRouter]:
    """Give each plugin its own router under ``/plugins/<name>``; a plugin that raises is recorded and
    skipped. Returns the routers mounted."""
    routers: dict[str, APIRouter] = {}

    def hook_args(plugin: str) -> dict[str, Any]:
        routers[plugin] = APIRouter(prefix=f"/plugins/{plugin}", tags=[plugin])
        return {"router": routers[plugin], "kernel": kernel}

    seen = len(kernel.hook_errors)
    kernel.call_each(ROUTES_HOOK, hook_args)
    failed = {e.plugin for e in kernel.hook_errors[seen:] if e.where == ROUTES_HOOK}
    mounted = []
    for plugin, router in routers.items():
        if plugin in failed:
            log.warning("plugin %r raised while adding routes; none of its routes are mounted", plugin)
            continue
        if router.routes:
            app.include_router(router)
            mounted.append(router)
    return mounted


def _document_auth(app: FastAPI, *, enabled: bool, public_pages: frozenset[str] = frozenset()) -> None:
    """Declare the bearer scheme in the OpenAPI schema (enforcement is the middleware's job)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        if enabled:
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "The gateway's API key."}
            }
            for path, operations in schema.get("paths", {}).items():
                if path in PUBLIC_PATHS:
                    continue
                for method, operation in operations.items():
                    if path in public_pages and method in ("get", "head"):
                        continue
                    operation["security"] = [{"bearerAuth": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

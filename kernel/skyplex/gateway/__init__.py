"""The HTTP gateway (extra ``skyplex[gateway]``): FastAPI app, API key, and uvicorn runner.

Only this package imports FastAPI; ``import skyplex`` never does. Plugins mark a GET route that a
browser opens without the API key with :data:`PUBLIC_PAGE`
(``@router.get("/", response_class=HTMLResponse, openapi_extra=PUBLIC_PAGE)``).
"""

from .app import create_app
from .middleware import PUBLIC_PAGE
from .server import background_server, is_loopback, load_or_create_api_key, serve

__all__ = ["PUBLIC_PAGE", "background_server", "create_app", "is_loopback", "load_or_create_api_key", "serve"]

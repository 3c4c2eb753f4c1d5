"""The HTTP gateway (extra ``skyplex[gateway]``): FastAPI app, API key, and uvicorn runner.

Only this package imports FastAPI; ``import skyplex`` never does.
"""

from .app import create_app
from .server import background_server, is_loopback, load_or_create_api_key, serve

__all__ = ["background_server", "create_app", "is_loopback", "load_or_create_api_key", "serve"]

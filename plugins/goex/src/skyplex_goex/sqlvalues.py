"""Column values as JSON that decode to exactly the same SQLite values."""

from __future__ import annotations

import base64
from typing import Any


def encode(v: Any) -> Any:
    """A column value as JSON that decodes to exactly the same value (floats by hex, blobs by base64)."""
    if isinstance(v, float):
        return {"f": v.hex()}
    if isinstance(v, bytes):
        return {"b": base64.b64encode(v).decode()}
    return v


def decode(v: Any) -> Any:
    if isinstance(v, dict):
        return float.fromhex(v["f"]) if "f" in v else base64.b64decode(v["b"])
    return v

"""The gateway's JSON responses, written by the kernel's one encoder (:mod:`skyplex.encoding`), so a
route's answer and the CLI's ``--json`` for the same data agree, and a NaN in a result is ``null``
rather than a 500 (strict JSON has no NaN)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from ..encoding import dumps


class SkyplexJSONResponse(JSONResponse):
    """JSONResponse rendered by :func:`skyplex.encoding.dumps` (UTF-8, NaN and infinities as null)."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")

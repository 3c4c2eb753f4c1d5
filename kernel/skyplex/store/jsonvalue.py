"""Turning Python values into the JSON the store keeps (kv values, job params and results)."""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from ..errors import InvalidInputError


def to_json_value(value: Any, *, what: str, field: str | None = None) -> Any:
    """``value`` as plain JSON data: pydantic models dumped as in ``model_dump(mode="json")``, dicts,
    lists and scalars as they are.

    ``what`` says in the error which value it was ("job result", "kv value 'melange/prices'").
    NaN and infinities are refused because PostgreSQL's JSON type refuses them too, so both backends agree.
    """
    try:
        data = to_jsonable_python(value)
        json.dumps(data, allow_nan=False)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{what} is not JSON-serialisable ({type(value).__name__}: {exc}); use dicts, lists, strings, "
            "finite numbers, booleans, None or pydantic models",
            field=field,
        ) from None
    return data

"""One JSON encoder for everything skyplex prints or serves: the CLI's ``--json``, gateway routes and
plugin outputs all turn values into JSON by the same rules.

The rules: pydantic models as ``model_dump(mode="json")``; dataclasses as dicts; datetimes and dates
as ISO 8601; paths as strings; enums as their values; sets and tuples as lists; numpy scalars and
arrays as numbers and lists; bytes as URL-safe base64; anything else as ``str()``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pydantic_core import to_jsonable_python


def _fallback(obj: Any) -> Any:
    """What pydantic-core cannot encode itself: numpy values, dataclass instances, the rest as text."""
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars, without importing numpy
    if callable(tolist) and type(obj).__module__.startswith("numpy"):
        return tolist()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return str(obj)


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types (dict, list, str, int, float, bool, None) by the rules above."""
    return to_jsonable_python(obj, fallback=_fallback, bytes_mode="base64")


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """``obj`` as JSON text (non-ASCII kept as is); NaN and infinities are written as ``null``."""
    return json.dumps(_finite(to_jsonable(obj)), indent=indent, ensure_ascii=False, allow_nan=False)


def _finite(data: Any) -> Any:
    # JSON has no NaN/Infinity; writing them would make output other tools cannot parse
    if isinstance(data, float):
        return data if data == data and data not in (float("inf"), float("-inf")) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


class DuplicatedKeyError(ValueError):
    """A JSON object gives ``key`` twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears twice in one object")
        self.key = key


def _unique_pairs(items: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in items:
        if key in out:
            raise DuplicatedKeyError(key)
        out[key] = value
    return out


def loads_unique(text: str | bytes) -> Any:
    """``json.loads``, refusing an object that gives one key twice (:class:`DuplicatedKeyError`, a
    ``ValueError``). JSON parsers disagree on which copy of a repeated key wins, so a document with two
    ``model`` or two ``claim`` keys can say one thing to whoever reads it and another to the code that
    acts on it. Nesting too deep to parse raises ``RecursionError``, as ``json.loads`` does."""
    return json.loads(text, object_pairs_hook=_unique_pairs)


def duplicated_key(text: str | bytes) -> str | None:
    """The first key that appears twice in one JSON object of ``text``, or None when every object's keys
    are distinct or ``text`` is not JSON at all (the gateway refuses the first kind of body)."""
    try:
        loads_unique(text)
    except DuplicatedKeyError as exc:
        try:  # a repeated key in text that is not JSON further on: the route says what is wrong
            json.loads(text)
        except (ValueError, RecursionError, UnicodeDecodeError):
            return None
        return exc.key
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None  # not JSON: the route that reads it says what is wrong
    return None

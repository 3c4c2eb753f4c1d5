"""Validating input into pydantic models with errors for people.

Every plugin turns a JSON body, a YAML file or CLI options into a pydantic model; a failure should
reach the person as one line naming the field and the rule it broke, as an
:class:`~skyplex.errors.InvalidInputError` (HTTP 400 from the gateway, exit 2 from the CLI)::

    from skyplex.validation import validate

    options = validate(MyOptions, raw, where="options")   # 'options.slice_factor: ...'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .errors import InvalidInputError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")


def field_path(loc: tuple[Any, ...] | list[Any], where: str | None = None) -> str:
    """A pydantic error location as a dotted path (``workload.requests[2].rate``), under ``where``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if where:
        return f"{where}.{path}" if path and not path.startswith("[") else f"{where}{path}"
    return path


def invalid_input(exc: ValidationError, *, where: str | None = None, option_style: bool = False) -> InvalidInputError:
    """The first error of ``exc`` as an InvalidInputError naming the field, with how many more there are.

    ``option_style`` names a top-level field as a CLI option (``max_tokens`` -> ``--max-tokens``).
    """
    errors = exc.errors(include_url=False)
    if not errors:
        return InvalidInputError(" ".join(str(exc).split()), field=where)
    first = errors[0]
    loc = tuple(first.get("loc") or ())
    if option_style and loc:
        name = "--" + str(loc[0]).replace("_", "-")
    else:
        name = field_path(loc, where) or (where or "input")
    got = first.get("input")
    shown = "" if first.get("type") == "missing" or isinstance(got, dict) else f" (got {_short(got)})"
    more = f"; and {len(errors) - 1} more error(s)" if len(errors) > 1 else ""
    label = "invalid value for " + name if option_style else name
    return InvalidInputError(f"{label}: {first['msg']}{shown}{more}", field=name)


def validate(model: type[M], data: Any, *, where: str | None = None, option_style: bool = False) -> M:
    """``model`` validated from ``data`` (a dict, or JSON text), raising :func:`invalid_input` on failure."""
    from pydantic import ValidationError

    try:
        if isinstance(data, (str, bytes)):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc, where=where, option_style=option_style) from None


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Shared output helpers: JSON for machines, short human formats for times, durations and statuses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

#: rich style per job status, shared by `jobs list` and `jobs show`
STATUS_STYLE: dict[str, str] = {
    "queued": "cyan",
    "running": "yellow",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "magenta",
}


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types: pydantic models, dataclasses, datetimes, paths and enums included."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "model_dump"):  # pydantic v2 models
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def emit_json(data: Any) -> None:
    """Write ``data`` to stdout as indented JSON (plain text: no colour, no wrapping)."""
    click.echo(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False))


def as_datetime(value: Any) -> dt.datetime | None:
    """A datetime from a datetime, an epoch timestamp or an ISO string; None when there is none."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def format_time(value: Any) -> str:
    """A timestamp in local time to the second, or '-' when unset."""
    when = as_datetime(value)
    if when is None:
        return "-"
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    """'850ms', '12.3s', '4m05s', '2h03m'; '-' when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def elapsed(start: Any, end: Any = None) -> float | None:
    """Seconds from ``start`` to ``end`` (now when ``end`` is unset); None without a start."""
    begin = as_datetime(start)
    if begin is None:
        return None
    finish = as_datetime(end)
    if finish is None:
        finish = dt.datetime.now(tz=begin.tzinfo)
    elif (finish.tzinfo is None) != (begin.tzinfo is None):  # mixed naive/aware: compare as UTC
        begin, finish = begin.replace(tzinfo=None), finish.replace(tzinfo=None)
    return (finish - begin).total_seconds()


def one_line(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def json_option(f: Any) -> Any:
    """``--json`` on a list/show command; the root group's ``--json`` means the same."""
    return click.option(
        "--json", "json_output", is_flag=True, help="Print JSON instead of a table (same as `skyplex --json ...`)."
    )(f)

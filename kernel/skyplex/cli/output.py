"""Output helpers for commands: JSON for machines (one encoder, :mod:`skyplex.encoding`), short human
formats for times, durations and statuses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click

from ..encoding import dumps, to_jsonable

__all__ = [
    "STATUS_STYLE",
    "elapsed",
    "emit",
    "emit_json",
    "format_duration",
    "format_time",
    "json_option",
    "one_line",
    "to_jsonable",
    "wants_json",
]

#: rich style per job status, shared by `jobs list` and `jobs show`
STATUS_STYLE: dict[str, str] = {
    "queued": "cyan",
    "running": "yellow",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "magenta",
}


def emit_json(data: Any) -> None:
    """Write ``data`` to stdout as indented JSON by the kernel's one encoder (:mod:`skyplex.encoding`)."""
    click.echo(dumps(data, indent=2))


def wants_json(json_output: bool = False) -> bool:
    """Whether this command should print JSON: its own ``--json`` or the root ``skyplex --json``."""
    if json_output:
        return True
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    from .context import ensure_state

    return ensure_state(ctx).json


def emit(data: Any, *, json_output: bool = False, human: Callable[[Any], None] | None = None) -> None:
    """Print a command's result: JSON when asked (``--json`` here or on the root group), else ``human``.

    ``human`` receives ``data`` and prints it for people (a rich table, a few lines); without it
    the data is printed as JSON either way, so every command has a machine-readable form.
    """
    if human is None or wants_json(json_output):
        emit_json(data)
    else:
        human(data)


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

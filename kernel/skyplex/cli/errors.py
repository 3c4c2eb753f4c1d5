"""How a failure of any ``skyplex`` command reaches a person: one line on stderr and an exit status.

Every command, built-in or added by a plugin, runs under the root group, which passes whatever it
raised through :func:`explain`. Bad input of any kind exits 2 with a message naming the input:
skyplex's own errors, click's usage errors, files that are missing or unreadable, malformed JSON,
YAML or CSV, corrupt or truncated compressed files, and values a parser refused. Ctrl-C alone exits
130. Anything else is a fault in the command itself: exit 1, one line, and ``-v`` shows the traceback.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import click

from ..errors import SkyplexError

#: bad input of any kind (usage errors, unknown names, invalid files and values), as click does
EXIT_BAD_INPUT = 2
#: a fault in the command itself, not in what it was given
EXIT_FAULT = 1
#: interrupted with Ctrl-C
EXIT_INTERRUPTED = 130


def one_line(message: str) -> str:
    """Messages may span lines (pydantic, YAML parsers); the CLI promises a single line."""
    return " ".join(str(message).split())


def explain(exc: BaseException, *, verbose: bool = False) -> tuple[str, int]:
    """The one-line message (without ``error:``) and the exit status for ``exc``."""
    message, code = _explain(exc, verbose)
    # an exception raised without a message must still say something
    return message or f"{type(exc).__name__} (raised without a message; run with -v for the traceback)", code


def _explain(exc: BaseException, verbose: bool) -> tuple[str, int]:
    if isinstance(exc, click.UsageError):
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return one_line(exc.format_message()) + hint, EXIT_BAD_INPUT
    if isinstance(exc, click.ClickException):
        return one_line(exc.format_message()), exc.exit_code
    if isinstance(exc, SkyplexError):
        return one_line(exc.message), EXIT_BAD_INPUT
    if isinstance(exc, click.Abort) and isinstance(exc.__cause__, EOFError):
        # click turns an EOFError escaping a command into Abort; reading a truncated file ends that
        # way, and it is bad input, not Ctrl-C
        exc = exc.__cause__
    elif isinstance(exc, (KeyboardInterrupt, click.Abort)):
        return "interrupted", EXIT_INTERRUPTED
    bad_input = _bad_input_message(exc)
    if bad_input is not None:
        return one_line(bad_input), EXIT_BAD_INPUT
    hint = "" if verbose else " (run with -v for the traceback)"
    detail = one_line(str(exc)) or "no details"
    return f"the command failed with {type(exc).__name__}: {detail}{hint}", EXIT_FAULT


def _bad_input_message(exc: BaseException) -> str | None:
    """A message for exceptions that mean the command's input was bad; None for anything else."""
    import gzip

    if isinstance(exc, (gzip.BadGzipFile, zlib.error, EOFError)) or _is_archive_error(exc):
        # a truncated .gz ends in EOFError: that is a corrupt file, not a Ctrl-C
        return f"the input is not a valid compressed file, or it is truncated: {exc or type(exc).__name__}"
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}" if exc.filename else f"file not found: {exc}"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a folder; give a file"
    if isinstance(exc, PermissionError):
        return f"cannot read or write {exc.filename}: permission denied"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    if isinstance(exc, UnicodeDecodeError):
        return f"the input is not UTF-8 text ({exc.reason} at byte {exc.start}); give a text file"
    if _is_validation_error(exc):
        from ..validation import invalid_input

        return invalid_input(exc).message  # type: ignore[arg-type]
    if _is_yaml_error(exc):
        return f"invalid YAML: {exc}"
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else "?"
        return f"the input lacks the required field {key!r}"
    if isinstance(exc, (ValueError, IndexError)):
        return f"invalid input: {exc}" if str(exc) else f"invalid input ({type(exc).__name__})"
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot use {exc.filename}: {exc.strerror or exc}"
    return None


def _is_validation_error(exc: BaseException) -> bool:
    return type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic")


def _is_yaml_error(exc: BaseException) -> bool:
    return any(cls.__module__.startswith("yaml") and cls.__name__ == "YAMLError" for cls in type(exc).__mro__)


def _is_archive_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module in {"lzma", "bz2", "zipfile", "tarfile"} or type(exc).__name__ in {"LZMAError", "BadZipFile"}


def fail(message: str, *, field: Any = None) -> None:
    """Stop the command with bad input: ``error: <message>`` on stderr and exit status 2."""
    from ..errors import InvalidInputError

    raise InvalidInputError(message, field=field)

"""Splitting SQL scripts into statements without being fooled by ';' inside literals, comments or triggers."""

from __future__ import annotations

import sqlite3


def split_sqlite(script: str) -> list[str]:
    """The statements of ``script`` as SQLite parses them.

    Cuts only where SQLite itself says a statement is complete (``sqlite3.complete_statement``), so ';'
    inside strings, quoted names, comments and CREATE TRIGGER bodies stays put.
    """
    out: list[str] = []
    buf = ""
    pieces = script.split(";")
    for i, piece in enumerate(pieces):
        buf += piece
        last = i == len(pieces) - 1
        if not last:
            buf += ";"
            if sqlite3.complete_statement(buf):
                if _has_code(buf):
                    out.append(buf.strip())
                buf = ""
    if _has_code(buf):
        if not sqlite3.complete_statement(buf + ";"):
            raise ValueError(f"incomplete SQL statement at the end of the script: {buf.strip()[:200]!r}")
        out.append(buf.strip())
    return out


def _has_code(text: str) -> bool:
    """Whether ``text`` holds more than whitespace, ';' and comments."""
    s = text
    while True:
        s = s.lstrip().lstrip(";").lstrip()
        if s.startswith("--"):
            nl = s.find("\n")
            if nl < 0:
                return False
            s = s[nl + 1:]
        elif s.startswith("/*"):
            end = s.find("*/")
            if end < 0:
                return False
            s = s[end + 2:]
        else:
            return bool(s)


READ_ONLY_KEYWORDS = {"SELECT", "EXPLAIN", "VALUES"}


def first_keyword(statement: str) -> str:
    s = statement
    while True:
        s = s.lstrip()
        if s.startswith("--"):
            s = s[s.find("\n") + 1:] if "\n" in s else ""
        elif s.startswith("/*"):
            s = s[s.find("*/") + 2:] if "*/" in s else ""
        else:
            break
    word = ""
    for ch in s:
        if not (ch.isalpha() or ch == "_"):
            break
        word += ch
    return word.upper()

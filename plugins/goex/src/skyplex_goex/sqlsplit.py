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


def _past_block_comment(text: str, i: int) -> int:
    """The index just past the /* */ comment opening at ``i`` (PostgreSQL's comments nest), or the end."""
    depth, i = 1, i + 2
    while i < len(text) and depth:
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def split_postgres(script: str) -> list[str]:
    """The statements of ``script`` cut at the ';' PostgreSQL's lexer would end them at: not inside
    '...' or E'...' strings, "quoted names", $tag$ dollar quotes, -- comments or nested /* */ comments.

    Each piece is sent to the server on its own with the extended protocol, which refuses more than one
    command: were this lexer ever wrong, the server rejects the piece instead of running a statement
    nobody checked.
    """
    out: list[str] = []
    i, start, n = 0, 0, len(script)
    while i < n:
        ch = script[i]
        if ch == "-" and script.startswith("--", i):
            nl = script.find("\n", i)
            i = n if nl < 0 else nl + 1
        elif ch == "/" and script.startswith("/*", i):
            i = _past_block_comment(script, i)
        elif ch == "'":
            backslash = i > 0 and script[i - 1] in "eE" and (i < 2 or not (script[i - 2].isalnum() or script[i - 2] == "_"))
            i += 1
            while i < n:
                if backslash and script[i] == "\\":
                    i += 2
                elif script[i] == "'":
                    if script.startswith("''", i):
                        i += 2
                    else:
                        break
                else:
                    i += 1
            i += 1
        elif ch == '"':
            end = script.find('"', i + 1)
            while end >= 0 and script.startswith('""', end):
                end = script.find('"', end + 2)
            i = n if end < 0 else end + 1
        elif ch == "$" and (i == 0 or not (script[i - 1].isalnum() or script[i - 1] == "_")):
            j = i + 1
            while j < n and (script[j].isalnum() or script[j] == "_") and not (j == i + 1 and script[j].isdigit()):
                j += 1
            if j < n and script[j] == "$":
                tag = script[i:j + 1]
                end = script.find(tag, j + 1)
                i = n if end < 0 else end + len(tag)
            else:
                i += 1
        elif ch == ";":
            if _has_code(script[start:i]):
                out.append(script[start:i].strip())
            i += 1
            start = i
        else:
            i += 1
    if _has_code(script[start:]):
        out.append(script[start:].strip())
    return out


def leading_words(statement: str, count: int = 2) -> list[str]:
    """The first ``count`` words of ``statement`` (comments skipped), upper-cased."""
    words: list[str] = []
    s = statement
    while len(words) < count:
        s = s.lstrip()
        if s.startswith("--"):
            s = s[s.find("\n") + 1:] if "\n" in s else ""
        elif s.startswith("/*"):
            s = s[_past_block_comment(s, 0):]
        else:
            word = ""
            for ch in s:
                if not (ch.isalpha() or ch == "_"):
                    break
                word += ch
            if not word:
                break
            words.append(word.upper())
            s = s[len(word):]
    return words

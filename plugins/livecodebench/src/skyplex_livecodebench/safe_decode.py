"""A decoder for LiveCodeBench's compressed hidden tests that accepts only plain data.

The release stores ``private_test_cases`` as base64 text of a zlib-compressed pickle (of a JSON string).
``pickle.loads`` would run whatever callables such a blob names, so it is never used here: this module
interprets the pickle opcodes itself and knows only the ones that build strings, bytes, numbers,
``None``/booleans, lists, tuples and dicts. Any opcode that imports or calls something (GLOBAL,
STACK_GLOBAL, REDUCE, BUILD, NEWOBJ, INST, OBJ, EXT*, persistent ids) is refused with an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from typing import Any

#: decompressed size above which a blob is refused (a zip bomb must not exhaust memory)
MAX_DECOMPRESSED_BYTES = 512 << 20


class UnsafeOrMalformedData(ValueError):
    """The blob is not plain pickled data (or is damaged)."""


_MARK = object()


def decode_private_tests(blob: str, *, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> list[dict[str, Any]]:
    """Hidden tests from the release's ``private_test_cases`` text (base64 of zlib of pickled JSON).

    Plain JSON text (as some copies of the release store) is accepted too. Returns the list of
    ``{"input", "output", "testtype"}`` dicts; raises :class:`UnsafeOrMalformedData` otherwise.
    """
    text = blob.strip()
    if text.startswith("["):
        value: Any = text
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UnsafeOrMalformedData(f"private_test_cases is neither JSON nor base64 ({exc})") from None
        value = load_plain_pickle(_inflate(raw, max_bytes))
    if isinstance(value, (bytes, str)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise UnsafeOrMalformedData(f"private_test_cases does not hold JSON ({exc})") from None
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise UnsafeOrMalformedData("private_test_cases must decode to a list of test objects")
    return value


def _inflate(raw: bytes, max_bytes: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise UnsafeOrMalformedData(f"private_test_cases is not zlib data ({exc})") from None
    if len(out) > max_bytes or d.unconsumed_tail:
        raise UnsafeOrMalformedData(f"private_test_cases inflates past {max_bytes} bytes; refusing it")
    return out


def load_plain_pickle(data: bytes) -> Any:
    """Interpret a pickle that holds only plain data; refuse every opcode that could import or call."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    pos = 0
    n = len(data)

    def take(k: int) -> bytes:
        nonlocal pos
        if pos + k > n:
            raise UnsafeOrMalformedData("pickle ends early")
        chunk = data[pos:pos + k]
        pos += k
        return chunk

    def line() -> bytes:
        nonlocal pos
        end = data.find(b"\n", pos)
        if end < 0:
            raise UnsafeOrMalformedData("pickle ends early")
        chunk = data[pos:end]
        pos = end + 1
        return chunk

    def pop_mark() -> list[Any]:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        raise UnsafeOrMalformedData("pickle has no MARK for a collection")

    def top() -> Any:
        if not stack:
            raise UnsafeOrMalformedData("pickle stack underflow")
        return stack[-1]

    def pop() -> Any:
        if not stack:
            raise UnsafeOrMalformedData("pickle stack underflow")
        return stack.pop()

    while True:
        op = take(1)
        if op == b"\x80":  # PROTO
            take(1)
        elif op == b"\x95":  # FRAME
            take(8)
        elif op == b".":  # STOP
            if len(stack) != 1 or stack[0] is _MARK:
                raise UnsafeOrMalformedData("pickle does not end with one value")
            return stack[0]
        elif op == b"N":
            stack.append(None)
        elif op == b"\x88":
            stack.append(True)
        elif op == b"\x89":
            stack.append(False)
        elif op == b"K":
            stack.append(take(1)[0])
        elif op == b"M":
            stack.append(struct.unpack("<H", take(2))[0])
        elif op == b"J":
            stack.append(struct.unpack("<i", take(4))[0])
        elif op == b"\x8a":  # LONG1
            stack.append(int.from_bytes(take(take(1)[0]), "little", signed=True))
        elif op == b"\x8b":  # LONG4
            size = struct.unpack("<i", take(4))[0]
            if size < 0:
                raise UnsafeOrMalformedData("negative LONG4 size")
            stack.append(int.from_bytes(take(size), "little", signed=True))
        elif op == b"G":
            stack.append(struct.unpack(">d", take(8))[0])
        elif op == b"I":  # text INT (protocol 0), also True/False as 01/00
            text = line()
            stack.append({b"01": True, b"00": False}.get(text) if text in (b"01", b"00") else _int(text))
        elif op == b"L":
            stack.append(_int(line().rstrip(b"L")))
        elif op == b"F":
            try:
                stack.append(float(line()))
            except ValueError:
                raise UnsafeOrMalformedData("bad FLOAT in pickle") from None
        elif op in (b"\x8c", b"X", b"\x8d"):  # SHORT_BINUNICODE, BINUNICODE, BINUNICODE8
            size = {b"\x8c": 1, b"X": 4, b"\x8d": 8}[op]
            length = int.from_bytes(take(size), "little")
            try:
                stack.append(take(length).decode("utf-8", "surrogatepass"))
            except UnicodeDecodeError:
                raise UnsafeOrMalformedData("bad UTF-8 in pickle string") from None
        elif op == b"V":  # UNICODE (protocol 0): raw-unicode-escape text up to a newline
            try:
                stack.append(line().decode("raw-unicode-escape"))
            except UnicodeDecodeError:
                raise UnsafeOrMalformedData("bad UNICODE in pickle") from None
        elif op in (b"C", b"B", b"\x8e"):  # SHORT_BINBYTES, BINBYTES, BINBYTES8
            size = {b"C": 1, b"B": 4, b"\x8e": 8}[op]
            stack.append(bytes(take(int.from_bytes(take(size), "little"))))
        elif op == b"]":
            stack.append([])
        elif op == b")":
            stack.append(())
        elif op == b"}":
            stack.append({})
        elif op == b"(":
            stack.append(_MARK)
        elif op == b"l":
            stack.append(pop_mark())
        elif op == b"t":
            stack.append(tuple(pop_mark()))
        elif op == b"d":
            items = pop_mark()
            stack.append(_pairs(items))
        elif op == b"\x85":
            stack.append((pop(),))
        elif op == b"\x86":
            b = pop()
            stack.append((pop(), b))
        elif op == b"\x87":
            c = pop()
            b = pop()
            stack.append((pop(), b, c))
        elif op == b"a":  # APPEND
            value = pop()
            _list(top()).append(value)
        elif op == b"e":  # APPENDS
            items = pop_mark()
            _list(top()).extend(items)
        elif op == b"s":  # SETITEM
            value = pop()
            key = pop()
            _dict(top())[_key(key)] = value
        elif op == b"u":  # SETITEMS
            items = pop_mark()
            _dict(top()).update(_pairs(items))
        elif op == b"\x94":  # MEMOIZE
            memo[len(memo)] = top()
        elif op == b"q":
            memo[take(1)[0]] = top()
        elif op == b"r":
            memo[struct.unpack("<I", take(4))[0]] = top()
        elif op == b"p":
            memo[_int(line())] = top()
        elif op in (b"h", b"j", b"g"):
            key = take(1)[0] if op == b"h" else struct.unpack("<I", take(4))[0] if op == b"j" else _int(line())
            if key not in memo:
                raise UnsafeOrMalformedData("pickle refers to a memo entry it never stored")
            stack.append(memo[key])
        elif op == b"0":
            pop()
        elif op == b"2":
            stack.append(top())
        else:
            raise UnsafeOrMalformedData(
                f"pickle opcode {op!r} at byte {pos - 1} is not plain data (imports or calls are refused)")


def _int(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise UnsafeOrMalformedData("bad integer in pickle") from None


def _list(obj: Any) -> list:
    if not isinstance(obj, list):
        raise UnsafeOrMalformedData("APPEND onto something that is not a list")
    return obj


def _dict(obj: Any) -> dict:
    if not isinstance(obj, dict):
        raise UnsafeOrMalformedData("SETITEM onto something that is not a dict")
    return obj


def _key(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise UnsafeOrMalformedData("unhashable dict key in pickle") from None
    return key


def _pairs(items: list[Any]) -> dict:
    if len(items) % 2:
        raise UnsafeOrMalformedData("odd number of items for a dict")
    return {_key(items[i]): items[i + 1] for i in range(0, len(items), 2)}

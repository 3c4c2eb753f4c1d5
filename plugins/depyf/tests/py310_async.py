"""``async with`` and ``async for`` functions for ``py310_child.py`` (run inside CPython 3.10), with
the async context manager and iterators they use, and their judge: each function runs under
``asyncio`` on the inputs of the generated corpus, the original against the decompiled source."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from skyplex_depyf.corpus import INPUTS
from skyplex_depyf.decompiler import decompile

#: functions the 3.11 rules themselves refuse (an ``async with`` left by ``return``, an async
#: comprehension, an async generator's ``with``, a loop with ``break`` and ``else``): refused on 3.10 too
REFUSED_ON_311 = {"async_for_break_continue_else", "async_with_returning", "async_comprehension",
                  "async_generator_for"}

#: coroutine functions ``f(a, b)`` (one an async generator) using the helpers below
ASYNC_310 = {
    "async_with_and_for": ("async def f(a, b):\n    log = []\n    async with Ctx(log, a) as x:\n        log.append(x)\n"
                           "    async for y in Ticks(b % 4):\n        log.append(y)\n    return log\n"),
    "async_with_nested_without_as": ("async def f(a, b):\n    log = []\n    async with Ctx(log, a):\n"
                                     "        async with Ctx(log, b) as y:\n            log.append(y * 2)\n    return log\n"),
    "async_for_break_continue_else": ("async def f(a, b):\n    t = 0\n    async for i in Ticks(a % 6):\n"
                                      "        if i == b:\n            break\n        if i % 2:\n            continue\n"
                                      "        t += i\n    else:\n        t = -t\n    return t\n"),
    "async_with_in_async_for": ("async def f(a, b):\n    log = []\n    async for i in Ticks(3):\n"
                                "        async with Ctx(log, i) as c:\n            log.append(c + a)\n    return log\n"),
    "async_with_suppressing": ("async def f(a, b):\n    log = []\n    async with Ctx(log, a, b % 2) as c:\n"
                               "        log.append(1 // (c - a))\n    return log\n"),
    "async_with_returning": ("async def f(a, b):\n    log = []\n    async with Ctx(log, a) as c:\n"
                             "        if c > b:\n            return log\n        log.append(b)\n    return log\n"),
    "async_comprehension": ("async def f(a, b):\n    return [i * b async for i in Ticks(a % 4)], "
                            "{i async for i in Ticks(b % 3) if i}\n"),
    "async_generator_for": ("async def f(a, b):\n    async for i in Ticks(a % 4):\n        yield i + b\n"
                            "    async with Ctx([], b) as c:\n        yield c\n"),
    "async_for_tuple_target_in_try": ("async def f(a, b):\n    t = []\n    try:\n"
                                      "        async for i, j in Pairs(a % 4):\n            t.append(i - j)\n"
                                      "    except ValueError:\n        t = None\n    return t\n"),
}


class Ctx:
    """An async context manager that records entering and leaving in ``log``."""

    def __init__(self, log: list, value: Any, suppress: Any = False) -> None:
        self.log, self.value, self.suppress = log, value, suppress

    async def __aenter__(self) -> Any:
        self.log.append(("enter", self.value))
        return self.value

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        self.log.append(("exit", self.value, kind.__name__ if kind else None))
        return bool(self.suppress)


class Ticks:
    """An async iterator over ``range(n)``."""

    def __init__(self, n: int) -> None:
        self.left = iter(range(n))

    def __aiter__(self) -> Ticks:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self.left)
        except StopIteration:
            raise StopAsyncIteration from None


class Pairs(Ticks):
    """Ticks as pairs; raises ValueError after 2."""

    async def __anext__(self) -> Any:
        i = await Ticks.__anext__(self)
        if i > 2:
            raise ValueError(i)
        return i, i * i


HELPERS = {"Ctx": Ctx, "Ticks": Ticks, "Pairs": Pairs}


def _result(fn: Any, args: tuple) -> tuple:
    """What awaiting ``fn(*args)`` gives (an async generator's yields), or the exception it raises."""
    async def drive() -> Any:
        value = fn(*args)
        if inspect.isasyncgen(value):
            return [v async for v in value]
        return await value

    try:
        return ("value", asyncio.run(drive()))
    except Exception as exc:  # a raised exception is a result too
        return ("raise", type(exc).__name__)


def judge_async(source: str) -> str:
    """'ok', 'refused: <why>' or 'wrong: <how>' for the coroutine function ``f`` in ``source``."""
    namespace = dict(HELPERS)
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    result = decompile(namespace["f"])
    if not result.ok:
        return f"refused: {result.refusal}"
    rebuilt = dict(HELPERS)
    try:
        exec(compile(result.source, "<decompiled>", "exec", dont_inherit=True), rebuilt)
    except SyntaxError as exc:
        return f"wrong: does not compile: {exc}"
    for args in INPUTS:
        want, got = _result(namespace["f"], args), _result(rebuilt["f"], args)
        if got != want:
            return f"wrong: on {args}: {got!r} != {want!r}"
    return "ok"

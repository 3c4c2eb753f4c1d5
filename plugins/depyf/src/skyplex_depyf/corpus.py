"""Round-trip corpora: random well-formed functions from a small grammar, and real functions of stdlib
modules. Round-trip means: decompile, recompile the source, run both on the same inputs, compare.

The grammar draws through a ``draw(lo, hi)`` callable so the same generator serves hypothesis (which
shrinks failures) and the benchmark (a seeded ``random.Random``)."""

from __future__ import annotations

import dis
import importlib
import inspect
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Draw = Callable[[int, int], int]
VARS = ("a", "b", "x", "y", "z")
BINOPS = ("+", "-", "*", "//", "%", "&", "|", "^")
CMPOPS = ("<", "<=", "==", "!=", ">", ">=")
INPUTS = [(0, 0), (1, 2), (-3, 5), (7, -1), (4, 4), (10, 3)]
STDLIB_MODULES = ("json.encoder", "json.decoder", "textwrap", "colorsys", "heapq", "bisect", "fnmatch", "shlex",
                  "posixpath", "string", "calendar", "statistics", "base64", "difflib", "tokenize")


def _pick(draw: Draw, options: tuple | list) -> object:
    return options[draw(0, len(options) - 1)]


def gen_expr(draw: Draw, depth: int, names: tuple[str, ...] = VARS) -> str:
    """A random integer-valued (or boolean) expression over ``names``."""
    choice = draw(0, 3 if depth <= 0 else 13)
    if choice <= 1:
        return str(_pick(draw, names))
    if choice <= 3:
        return str(draw(-3, 9))
    sub = lambda: gen_expr(draw, depth - 1, names)  # noqa: E731
    if choice <= 5:
        return f"({sub()} {_pick(draw, BINOPS)} {sub()})"
    if choice == 6:
        return f"({sub()} {_pick(draw, CMPOPS)} {sub()})"
    if choice == 7:
        return f"({sub()} if {sub()} else {sub()})"
    if choice == 8:
        return f"({sub()} {_pick(draw, ('and', 'or'))} {sub()})"
    if choice == 9:
        return f"{_pick(draw, ('abs', 'bool', 'int'))}({sub()})"
    if choice == 10:
        return f"(not {sub()})"
    inner = names + ("i",)
    n = draw(0, 4)
    if choice == 11:
        kind = _pick(draw, ("sum([{e} for i in range({n}){c}])", "len({{{e} for i in range({n}){c}}})",
                            "sum({e} for i in range({n}){c})", "len({{i: {e} for i in range({n}){c}}})"))
        cond = f" if {gen_expr(draw, depth - 1, inner)}" if draw(0, 1) else ""
        return "(" + str(kind).format(e=gen_expr(draw, depth - 1, inner), n=n, c=cond) + ")"
    if choice == 12:
        return f"({sub()}, {sub()})[{draw(0, 1)}]"
    return f"max({sub()}, {sub()})"


def gen_block(draw: Draw, depth: int, indent: str, in_loop: bool) -> list[str]:
    """Random statements: assignments, augmented assignments, if/elif/else, for and while loops."""
    lines: list[str] = []
    for _ in range(draw(1, 3)):
        choice = draw(0, 3 if depth <= 0 else 9)
        target = _pick(draw, ("x", "y", "z"))
        if choice <= 1:
            lines.append(f"{indent}{target} = {gen_expr(draw, 2)}")
        elif choice <= 3:
            lines.append(f"{indent}{target} {_pick(draw, ('+=', '-=', '*=', '^='))} {gen_expr(draw, 1)}")
        elif choice <= 5:
            lines.append(f"{indent}if {gen_expr(draw, 2)}:")
            lines += gen_block(draw, depth - 1, indent + "    ", in_loop)
            if draw(0, 1):
                lines.append(f"{indent}elif {gen_expr(draw, 1)}:")
                lines += gen_block(draw, depth - 1, indent + "    ", in_loop)
            if draw(0, 1):
                lines.append(f"{indent}else:")
                lines += gen_block(draw, depth - 1, indent + "    ", in_loop)
        elif choice == 6:
            lines.append(f"{indent}for {_pick(draw, ('i', 'j'))} in range({draw(0, 5)}):")
            lines += gen_block(draw, depth - 1, indent + "    ", True)
        elif choice == 7:
            counter = f"k{depth}"
            lines.append(f"{indent}{counter} = 0")
            lines.append(f"{indent}while {counter} < {draw(0, 4)}:")
            lines.append(f"{indent}    {counter} += 1")
            lines += gen_block(draw, depth - 1, indent + "    ", True)
        elif choice == 9:
            lines += _gen_compound(draw, depth, indent, in_loop)
        elif in_loop:
            lines.append(f"{indent}if {gen_expr(draw, 1)}:")
            lines.append(f"{indent}    {_pick(draw, ('break', 'continue'))}")
        else:
            lines.append(f"{indent}if {gen_expr(draw, 1)}:")
            lines.append(f"{indent}    return {gen_expr(draw, 1)}")
    return lines


def _gen_compound(draw: Draw, depth: int, indent: str, in_loop: bool) -> list[str]:
    """A ``try`` statement (except, else, finally in the combinations Python allows) or a ``with``."""
    inner = indent + "    "
    if draw(0, 3) == 0:
        lines = [f"{indent}with __import__('contextlib').nullcontext({gen_expr(draw, 1)})"
                 + (" as w:" if draw(0, 1) else ":")]
        return lines + gen_block(draw, depth - 1, inner, in_loop)
    lines = [f"{indent}try:"] + gen_block(draw, depth - 1, inner, in_loop)
    shape = draw(0, 3)  # 0: except, 1: except/else, 2: finally, 3: except/finally
    if shape != 2:
        lines.append(f"{indent}except {_pick(draw, ('ZeroDivisionError', '(ZeroDivisionError, TypeError)'))}"
                     + (" as err:" if draw(0, 1) else ":"))
        lines += gen_block(draw, depth - 1, inner, in_loop)
    if shape == 1:
        lines += [f"{indent}else:"] + gen_block(draw, depth - 1, inner, in_loop)
    if shape >= 2:
        lines += [f"{indent}finally:"] + gen_block(draw, depth - 1, inner, False)
    return lines


#: the variables a generated function sets before its statements (it returns a, b, x, y and z)
PRELUDE = "    x = 0\n    y = 1\n    z = 2\n    i = 0\n    j = 0\n"


def generated_function(body: str, prelude: str = PRELUDE, name: str = "generated") -> str:
    """``body`` (statements indented by four spaces, each line ending in a newline) as a function of
    the corpus's shape: ``name(a, b)`` sets ``prelude``'s variables, runs ``body`` and returns
    ``(a, b, x, y, z)``, so a round trip is judged on every variable the statements touch."""
    return f"def {name}(a, b):\n{prelude}{body}    return (a, b, x, y, z)\n"


def gen_function(draw: Draw, name: str = "generated") -> str:
    """Source of a random well-formed function ``name(a, b)`` returning its variables."""
    return generated_function("".join(line + "\n" for line in gen_block(draw, 3, "    ", False)), name=name)


def gen_generator(draw: Draw, name: str = "generated") -> str:
    """A random generator function: the grammar's statements with ``yield``, ``yield from`` and sent
    values placed after assignments, yielding its variables at the end; judged by what it yields."""
    body = ["    x = 0", "    y = 1", "    z = 2", "    i = 0", "    j = 0"]
    for line in gen_block(draw, 3, "    ", False):
        body.append(line)
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if stripped[:1] in ("x", "y", "z") and not stripped.endswith(":"):
            choice = draw(0, 4)
            if choice == 0:
                body.append(f"{indent}yield {stripped[0]}")
            elif choice == 1:
                body.append(f"{indent}yield from range({draw(0, 3)})")
            elif choice == 2:
                body.append(f"{indent}{stripped[0]} = (yield {gen_expr(draw, 1)}) or {stripped[0]}")
    body.append("    yield (a, b, x, y, z)")
    return f"def {name}(a, b):\n" + "\n".join(body) + "\n"


MATCH_SUBJECTS = [0, 1, 2, 3, True, None, "s", (1, 2), [1, 2, 3], (5,), {"k": 1, "j": 2}, {"k": 4}, 2.5, [], {}]
#: inputs for match functions ``generated(x, t)``: each subject against two values of ``t``
MATCH_INPUTS = [(s, t) for s in MATCH_SUBJECTS for t in (0, 3)]


def gen_pattern(draw: Draw, depth: int, names: list[str]) -> str:
    """A random pattern: literal, singleton, wildcard, capture, or-pattern, sequence (with a starred
    name), mapping or class pattern; captured names are appended to ``names``."""
    choice = draw(0, 8 if depth > 0 else 3)
    if choice == 0:
        return str(draw(-2, 3))
    if choice == 1:
        return str(_pick(draw, ("None", "True", "'s'")))
    if choice == 2:
        return "_"
    if choice == 3:
        names.append(f"v{len(names)}")
        return names[-1]
    if choice == 4:
        return " | ".join(str(draw(0, 4)) for _ in range(draw(2, 3)))
    if choice == 5:
        items = [gen_pattern(draw, depth - 1, names) for _ in range(draw(0, 3))]
        if items and draw(0, 2) == 0:
            names.append(f"v{len(names)}")
            items.insert(draw(0, len(items)), f"*{names[-1]}")
        return "[" + ", ".join(items) + "]"
    if choice == 6:
        return "{" + f"'k': {gen_pattern(draw, depth - 1, names)}" + "}"
    if choice == 7:
        return f"int({gen_pattern(draw, depth - 1, names)})"
    inner = gen_pattern(draw, depth - 1, names)
    names.append(f"v{len(names)}")
    return f"[{inner}] as {names[-1]}"


def gen_match(draw: Draw, name: str = "generated") -> str:
    """A random function ``name(x, t)`` made of one match statement: cases with guards, early returns
    and an optional ``case _``. Some draws are not valid Python (an irrefutable pattern before the
    last case, a name bound twice); the caller compiles and skips those."""
    lines = [f"def {name}(x, t):", "    r = 0", "    match x:"]
    for k in range(draw(1, 4)):
        names: list[str] = []
        pattern = gen_pattern(draw, 2, names)
        guard = f" if {names[0]} == t" if names and draw(0, 1) else ""
        lines += [f"        case {pattern}{guard}:", f"            r = {k + 1}"]
        if names:
            lines.append(f"            r = (r, {names[-1]})")
        if draw(0, 1):
            lines.append("            return r")
    if draw(0, 1):
        lines += ["        case _:", "            r = -1"]
    lines.append("    return r")
    return "\n".join(lines) + "\n"


@dataclass
class RoundTrip:
    """Outcome of one round-trip: ``ok`` (same results), ``refused``, or ``wrong`` (a silent difference)."""

    name: str
    outcome: str
    detail: str = ""


def outcome_of(original: Callable, inputs: list[tuple]) -> Callable[[Callable], str | None]:
    """A checker comparing a rebuilt function's results (value or exception type) with the original's."""
    def run(fn: Callable, args: tuple) -> object:
        try:
            value = fn(*args)
            if inspect.isgenerator(value):  # a generator's result is what it yields (up to a bound)
                value = [v for _, v in zip(range(1000), value)]
            return ("value", value)
        except Exception as exc:  # a raised exception is a result too
            return ("raise", type(exc).__name__)

    expected = [run(original, args) for args in inputs]

    def check(rebuilt: Callable) -> str | None:
        for args, want in zip(inputs, expected):
            got = run(rebuilt, args)
            if got != want:
                return f"on {args}: {got!r} != {want!r}"
        return None

    return check


def define_generated(source: str, name: str = "generated") -> types.FunctionType:
    """The function ``name`` that ``source`` defines, compiled as the corpus compiles it (no future
    flags inherited from the caller)."""
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec", dont_inherit=True), namespace)
    return namespace[name]


def round_trip_generated(source: str, inputs: list[tuple] = INPUTS) -> RoundTrip:
    """Round-trip the generated function in ``source`` on ``inputs``, judged by its results."""
    from .decompiler import decompile

    original = define_generated(source)
    result = decompile(original)
    if not result.ok:
        return RoundTrip("generated", "refused", result.refusal or "")
    rebuilt_ns: dict = {}
    try:
        exec(compile(result.source, "<decompiled>", "exec", dont_inherit=True), rebuilt_ns)
    except SyntaxError as exc:
        return RoundTrip("generated", "wrong", f"decompiled source does not compile: {exc}")
    problem = outcome_of(original, inputs)(rebuilt_ns["generated"])
    return RoundTrip("generated", "wrong" if problem else "ok", problem or "")


def stdlib_functions(modules: tuple[str, ...] = STDLIB_MODULES) -> Iterator[tuple[str, types.FunctionType]]:
    """Every plain function and method defined in ``modules`` (not imported from elsewhere)."""
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name, obj in sorted(vars(module).items()):
            candidates = [(name, obj)]
            if inspect.isclass(obj) and obj.__module__ == module_name:
                candidates += [(f"{name}.{k}", v) for k, v in sorted(vars(obj).items())]
            for qual, fn in candidates:
                if isinstance(fn, (staticmethod, classmethod)):
                    fn = fn.__func__
                if isinstance(fn, types.FunctionType) and fn.__module__ == module_name:
                    yield f"{module_name}:{qual}", fn


def round_trip_stdlib(name: str, fn: types.FunctionType) -> RoundTrip:
    """Round-trip a real function. Its inputs are unknown, so the judge is an independent one: the
    recompiled code's raw instruction bytes (caches included) must equal the original's, recursively."""
    from .decompiler import compile_like, decompile, find_code

    result = decompile(fn)
    if not result.ok:
        return RoundTrip(name, "refused", result.refusal or "")
    try:
        module = compile_like(fn.__code__, result.source)
    except SyntaxError as exc:
        return RoundTrip(name, "wrong", f"does not compile: {exc}")
    rebuilt = find_code(module, fn.__code__.co_name)
    problem = _raw_difference(fn.__code__, rebuilt) if rebuilt is not None else "function missing"
    if problem and rebuilt is not None and not _difference_beyond_nops(fn.__code__, rebuilt):
        return RoundTrip(name, "unproven", f"{problem} (only in NOPs and where jumps and handlers land past them)")
    return RoundTrip(name, "wrong" if problem else "ok", problem or "")


def _without_nops(code: types.CodeType) -> list[tuple]:
    """(opname, referent, handler) per instruction other than NOP, jump targets and handler targets
    given as positions in that list: a NOP does nothing, so these agree for code that only differs
    in NOPs. A second, plainer reading than the verifier's, for the stdlib judge."""
    listed = list(dis.get_instructions(code))
    position: dict[int, int] = {}
    n = 0
    for ins in listed:
        position[ins.offset] = n
        n += ins.opname != "NOP"
    # 3.10 has no table: its handlers are SETUP_* jump targets, compared as jumps above
    table = dis._parse_exception_table(code) if hasattr(dis, "_parse_exception_table") else []  # type: ignore[attr-defined]
    out = []
    for ins in listed:
        if ins.opname == "NOP":
            continue
        referent = ins.argval
        if ins.opcode in dis.hasjrel or ins.opcode in dis.hasjabs:
            referent = ("jump", position.get(ins.argval))
        elif isinstance(referent, types.CodeType):
            referent = ("code", tuple(_without_nops(referent)))
        else:
            referent = (type(referent).__name__, repr(referent))
        handler = next(((position.get(e.target), e.depth, e.lasti) for e in table if e.start <= ins.offset < e.end),
                       None)
        out.append((ins.opname, referent, handler))
    return out


def _difference_beyond_nops(a: types.CodeType, b: types.CodeType) -> bool:
    try:
        return _without_nops(a) != _without_nops(b)
    except Exception:  # a table that does not parse: nothing is shown equal
        return True


def _raw_difference(a: types.CodeType, b: types.CodeType) -> str | None:
    """Exact equality of the raw bytecode (caches and argument indices included) and of every name,
    local and constant an instruction refers to: stricter than the verifier, and written apart from it."""
    if a.co_code != b.co_code:
        return f"{a.co_name}: raw bytecode differs"
    for x, y in zip(dis.get_instructions(a), dis.get_instructions(b)):
        vx, vy = x.argval, y.argval
        if isinstance(vx, types.CodeType) and isinstance(vy, types.CodeType):
            problem = _raw_difference(vx, vy)
            if problem:
                return problem
        elif (type(vx), repr(vx)) != (type(vy), repr(vy)):
            return f"{a.co_name}: offset {x.offset} {x.opname} refers to {vx!r} != {vy!r}"
    return None

"""The ``depyf`` inspector: a function (``module:attr``) or a function in Python source, decompiled."""

from __future__ import annotations

import importlib
import types
from pathlib import Path

from skyplex.errors import InvalidInputError
from skyplex.interfaces import InspectionArtifact, InspectionReport, Inspector, InspectTarget

from .decompiler import Decompilation, decompile


def load_function(ref: str) -> object:
    """The object named by ``module:attr`` (dotted attributes allowed); InvalidInputError when absent."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInputError(f"{ref!r} is not a 'module:function' reference (e.g. json:dumps)", field="ref")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInputError(f"cannot import {module_name!r} for {ref!r}: {exc}", field="ref") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidInputError(f"{module_name!r} has no {attr!r}; check the name in {ref!r}", field="ref")
        obj = getattr(obj, part)
    if not isinstance(getattr(obj, "__code__", None), types.CodeType):
        raise InvalidInputError(f"{ref!r} is a {type(obj).__name__}, not a Python function", field="ref")
    return obj


def _constant_defaults(module: types.CodeType, code: types.CodeType) -> tuple | None:
    """The defaults of ``code`` when the enclosing code builds them from one constant tuple."""
    import dis

    instrs = list(dis.get_instructions(module))
    for k, ins in enumerate(instrs):
        if ins.opname == "LOAD_CONST" and ins.argval is code and k + 1 < len(instrs) and k >= 1:
            make, prev = instrs[k + 1], instrs[k - 1]
            if make.opname == "MAKE_FUNCTION" and make.arg == 1 and prev.opname == "LOAD_CONST":
                return prev.argval if isinstance(prev.argval, tuple) else None
    return None


def function_from_source(source: str, function: str, filename: str = "<source>") -> object:
    """``function`` of ``source`` as a code object, with its defaults when they are constants."""
    module, code = _compile_and_find(source, function, filename)
    return types.SimpleNamespace(__code__=code, __defaults__=_constant_defaults(module, code))


def code_from_source(source: str, function: str, filename: str = "<source>") -> types.CodeType:
    """The code object of ``function`` defined in ``source`` (compiled, never run)."""
    return _compile_and_find(source, function, filename)[1]


def _compile_and_find(source: str, function: str, filename: str) -> tuple[types.CodeType, types.CodeType]:
    from .decompiler import find_code

    try:
        module = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise InvalidInputError(f"{filename} does not compile: {exc.msg} (line {exc.lineno})", field="source") from None
    code = find_code(module, function)
    if code is None:
        raise InvalidInputError(f"{filename} defines no function {function!r}", field="function")
    return module, code


def function_from_pyc(path: Path, function: str) -> types.CodeType:
    """``function`` from a compiled ``.pyc`` of this interpreter's version (loaded, never run)."""
    import importlib.util
    import marshal

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read it ({exc.strerror or exc})", field="ref") from None
    magic = importlib.util.MAGIC_NUMBER
    if len(data) < 16 or data[2:4] != magic[2:4]:
        raise InvalidInputError(f"{path} is not a .pyc file (no bytecode header); give a file written by "
                                "py_compile or a module's __pycache__", field="ref")
    if data[:4] != magic:
        raise InvalidInputError(f"{path} was compiled by another Python version (magic {data[:2].hex()}, this "
                                f"interpreter's is {magic[:2].hex()}); decompile it with the Python that wrote it",
                                field="ref")
    try:
        module = marshal.loads(data[16:])
    except (ValueError, EOFError, TypeError) as exc:
        raise InvalidInputError(f"{path}: corrupted bytecode ({exc}); recompile the source", field="ref") from None
    from .decompiler import find_code

    code = find_code(module, function) if isinstance(module, types.CodeType) else None
    if code is None:
        raise InvalidInputError(f"{path} defines no function {function!r}", field="function")
    return code


class DepyfInspector(Inspector):
    """Decompiles a function; the report carries the source, or the refusal and a ``dis`` listing."""

    name = "depyf"

    def inspect(self, target: InspectTarget) -> InspectionReport:
        """Target kinds: ``python-function`` (ref ``module:attr``) or ``source`` (options source, function)."""
        if target.kind == "python-function":
            result = decompile(load_function(target.ref))
        elif target.kind == "source":
            source = target.options.get("source")
            if not isinstance(source, str):
                raise InvalidInputError("a 'source' target needs options.source (Python text)", field="options.source")
            result = decompile(function_from_source(source, target.ref, str(target.options.get("filename", "<source>"))))
        else:
            raise InvalidInputError(f"target kind {target.kind!r} is not one of python-function, source", field="kind")
        return report_of(self.name, target, result)


def report_of(inspector: str, target: InspectTarget, result: Decompilation) -> InspectionReport:
    """An InspectionReport of one decompilation."""
    summary = (f"{result.name}: decompiled and verified" if result.ok
               else f"{result.name}: not decompiled ({result.refusal}); dis listing attached")
    artifacts = [InspectionArtifact(name=f"{result.name}.py", kind="python-source", content=result.text())]
    if not result.ok:
        artifacts.append(InspectionArtifact(name=f"{result.name}.dis", kind="dis-listing", content=result.listing))
    return InspectionReport(inspector=inspector, target=target, summary=summary, artifacts=artifacts,
                            metadata={"verified": result.ok, "refusal": result.refusal})

"""Documents for RAFT: API documentation chunks read from installed modules' docstrings, or text files
chunked by section. A chunk is the unit shown to the model: one oracle or one distractor."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

from skyplex.errors import InvalidInputError

from .chunking import TokenCounter, count_words, split_by_tokens

#: a chunk longer than this is cut at a paragraph boundary (characters; docstrings of big classes run long)
MAX_CHUNK_CHARS = 1500


@dataclass(frozen=True)
class Chunk:
    """One document: ``title`` is the API name (``json.dumps``) or the section heading, ``text`` what
    the model reads. ``kind`` is ``"api"`` (first line ``name(signature)``, then the docstring) or ``"section"``."""

    id: str
    source: str
    title: str
    text: str
    kind: str = "api"


def chunk_id(source: str, text: str) -> str:
    """A stable id from the source and the text, so rebuilding the same corpus names chunks the same."""
    return hashlib.sha1(f"{source}\0{text}".encode()).hexdigest()[:12]


def _cut(text: str, limit: int = MAX_CHUNK_CHARS) -> str:
    # keep whole paragraphs: a question's answer is a line, and a line must not be split
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for para in text.split("\n\n"):
        if kept and sum(len(p) + 2 for p in kept) + len(para) > limit:
            break
        kept.append(para)
    return "\n\n".join(kept)


def _pieces(text: str, chunk_tokens: int | None, count: TokenCounter | None) -> list[str]:
    # by tokens: every piece kept, each within the budget; else the first MAX_CHUNK_CHARS, whole paragraphs
    if chunk_tokens is None:
        return [_cut(text)]
    return split_by_tokens(text, chunk_tokens, count or count_words)


#: " at 0x7fd8e1d74220" in an object's default repr
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _api_chunks(module: str, qualname: str, obj: object, chunk_tokens: int | None = None,
                count: TokenCounter | None = None) -> list[Chunk]:
    doc = inspect.getdoc(obj)
    if not doc or not doc.strip():
        return []
    try:
        signature = str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        signature = "(...)"
    # a default's repr can hold its memory address (shutil.move's copy_function=<function copy2 at 0x7f..>),
    # which differs in every process: it would change the chunk's text, its id and so the train/test split
    signature = _ADDRESS.sub("", signature)
    name = f"{module}.{qualname}"
    # every piece keeps the API name as its title: a question about a later piece still names the API
    return [Chunk(id=chunk_id(module, text), source=module, title=name, text=text, kind="api")
            for text in _pieces(f"{name}{signature}\n\n{doc.strip()}", chunk_tokens, count)]


def api_doc_chunks(modules: list[str], *, max_chunks: int | None = None, chunk_tokens: int | None = None,
                   count: TokenCounter | None = None) -> list[Chunk]:
    """One chunk per public documented function, class and method of each module in ``modules`` (several
    when ``chunk_tokens`` cuts a long docstring into pieces of at most that many tokens by ``count``)."""
    chunks: list[Chunk] = []
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise InvalidInputError(
                f"module {module_name!r} cannot be imported; name an installed module (e.g. python:json,textwrap)",
                field="source") from None
        found = 0
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)):
                continue
            members = [(name, obj)]
            if inspect.isclass(obj):
                members += [(f"{name}.{m}", f) for m, f in sorted(vars(obj).items())
                            if not m.startswith("_") and inspect.isfunction(f)]
            for qualname, member in members:
                pieces = _api_chunks(module.__name__, qualname, member, chunk_tokens, count)
                chunks += pieces
                found += len(pieces)
        if found == 0:
            raise InvalidInputError(f"module {module_name!r} has no documented public functions or classes",
                                    field="source")
    return dedup_chunks(chunks)[:max_chunks] if max_chunks else dedup_chunks(chunks)


def dedup_chunks(chunks: list[Chunk]) -> list[Chunk]:
    """Drop chunks whose text repeats an earlier one (an alias documents the same function twice)."""
    seen: set[str] = set()
    out = []
    for chunk in chunks:
        if chunk.text not in seen:
            seen.add(chunk.text)
            out.append(chunk)
    return out


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def read_text_document(path: Path) -> str:
    """The text of ``path``, refusing an empty or binary file with a message that names it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror}); give a readable text file",
                                field="source") from None
    if not data.strip():
        raise InvalidInputError(f"{path}: the document is empty; give a text or Markdown file with content",
                                field="source")
    if b"\0" in data:
        raise InvalidInputError(f"{path}: looks binary (it holds NUL bytes); give a UTF-8 text or Markdown file",
                                field="source")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: is not UTF-8 text; convert it to UTF-8", field="source") from None


def section_chunks(path: Path, *, chunk_tokens: int | None = None, count: TokenCounter | None = None) -> list[Chunk]:
    """Chunks of a text/Markdown file, one per heading section (the whole file when it has none), each
    section cut into pieces of at most ``chunk_tokens`` tokens (by ``count``) when that is given."""
    text = read_text_document(path).replace("\r\n", "\n")
    marks = list(_HEADING.finditer(text))
    sections: list[tuple[str, str]] = []
    if not marks:
        if text.strip():  # str.strip also drops separators such as \x1c that a decoder let through
            sections.append((path.stem, text.strip()))
    else:
        if text[:marks[0].start()].strip():
            sections.append((path.stem, text[:marks[0].start()].strip()))
        for i, mark in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            body = text[mark.start():end].strip()
            if body != mark.group(0).strip():  # a heading with no body says nothing to ask about
                sections.append((mark.group(2), body))
    if not sections:
        raise InvalidInputError(f"{path}: holds no text to ask about (only headings or blank space); "
                                "give a document with content", field="source")
    return [Chunk(id=chunk_id(str(path), text), source=str(path), title=title, text=text, kind="section")
            for title, body in sections for text in _pieces(body, chunk_tokens, count)]


def load_corpus(source: str, *, max_chunks: int | None = None, chunk_tokens: int | None = None,
                count: TokenCounter | None = None) -> list[Chunk]:
    """Chunks from ``source``: ``python:mod1,mod2`` (installed modules' API docs) or a file/folder of text;
    ``chunk_tokens`` cuts each document into pieces of at most that many tokens as ``count`` measures them
    (a model's tokenizer; blank-separated words when not given)."""
    if source.startswith("python:"):
        modules = [m.strip() for m in source[len("python:"):].split(",") if m.strip()]
        if not modules:
            raise InvalidInputError("source 'python:' names no module; write e.g. python:json,textwrap",
                                    field="source")
        return api_doc_chunks(modules, max_chunks=max_chunks, chunk_tokens=chunk_tokens, count=count)
    path = Path(source)
    if not path.exists():
        raise InvalidInputError(f"{source}: no such file or folder; give python:MODULES or a path to text files",
                                field="source")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".md", ".txt", ".rst"}) \
        if path.is_dir() else [path]
    if not files:
        raise InvalidInputError(f"{source}: the folder holds no .md, .txt or .rst files", field="source")
    chunks = dedup_chunks([c for f in files for c in section_chunks(f, chunk_tokens=chunk_tokens, count=count)])
    return chunks[:max_chunks] if max_chunks else chunks

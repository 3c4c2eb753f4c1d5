"""skyplex-depyf: decompile CPython bytecode to source that is checked to recompile to the same bytecode."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def debug(folder: str | Path) -> Any:
    """``with skyplex_depyf.debug("dump"):`` writes, for every frame torch.compile transforms inside
    the block, its decompiled original and transformed code, its FX graphs and guards, and an
    ``index.html`` linking them (see :func:`skyplex_depyf.dump.dump_compiled`). torch is imported
    only when the block is entered."""
    from .dump import dump_compiled

    return dump_compiled(folder)


__all__ = ["debug"]

"""``with debug("dump"):`` — the one call a person needs to see what torch.compile did.

``from skyplex_depyf.debug import debug``; the block's compiled frames are written to the folder
(decompiled original and transformed code, FX graphs, guards, ``index.html``). torch is imported only
when the block is entered, so importing this module stays light."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def debug(folder: str | Path) -> Any:
    """A context manager writing, for every frame torch.compile transforms inside the block, its
    decompiled original and transformed code, its FX graphs and guards, and an ``index.html`` linking
    them; it yields the :class:`~skyplex_depyf.dump.Dump` (see :func:`skyplex_depyf.dump.dump_compiled`)."""
    from .dump import dump_compiled

    return dump_compiled(folder)


__all__ = ["debug"]

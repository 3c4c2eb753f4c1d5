"""Run inside CPython 3.12 or 3.13 by ``test_jumps312.py``: judges each function source given as a JSON
list on stdin (round-tripped through the decompiler of this interpreter, then run on fixed inputs),
with one of ``versions_child.py``'s mutations applied, and prints one JSON line. It imports only the
plugin's source (on PYTHONPATH) and its sibling ``versions_child.py``, never the kernel."""

from __future__ import annotations

import json
import sys

from versions_child import judge, mutate


def main() -> None:
    mutate(sys.argv[1] if len(sys.argv) > 1 else "none")
    sources = json.loads(sys.stdin.read() or "[]")
    print(json.dumps({"python": list(sys.version_info[:2]), "given": [judge(source) for source in sources]}))


if __name__ == "__main__":
    main()

"""The same build is the same dataset in every process: no chunk carries a memory address (an object's
default repr, such as shutil.move's copy_function), so chunk ids, and with them the train/test split,
do not change from one run to the next."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from skyplex_raft.documents import load_corpus

BUILD = """
import sys
from pathlib import Path
from skyplex_raft.builder import RaftOptions
from skyplex_raft.trainer import build_dataset
art = build_dataset("python:shutil,json", Path(sys.argv[1]), RaftOptions(k=2, p=0.8, test_fraction=0.3))
"""


def test_api_doc_chunks_hold_no_memory_address():
    chunks = load_corpus("python:shutil,json")
    assert any(c.title == "shutil.move" for c in chunks)
    assert not [c.title for c in chunks if " at 0x" in c.text]


def test_two_processes_build_the_same_dataset(tmp_path):
    digests = []
    for run in range(2):
        out = tmp_path / f"run{run}" / "raft.jsonl"
        out.parent.mkdir()
        subprocess.run([sys.executable, "-c", BUILD, str(out)], check=True, timeout=300)
        files = sorted(out.parent.glob("*.jsonl"))
        assert len(files) >= 2  # the train file and its held-out split
        digests.append([(f.name, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files])
    assert digests[0] == digests[1]

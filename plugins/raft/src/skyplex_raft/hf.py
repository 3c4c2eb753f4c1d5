"""The built dataset as a Hugging Face ``datasets.DatasetDict`` (train/test), for trainers that take one.

``datasets`` is optional (extra ``hf``): it is imported only when this is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError


def to_hf_dataset(train_path: Path, test_path: Path) -> Any:
    """A ``DatasetDict`` with ``train`` and ``test`` from the two chat JSONL files the builder wrote."""
    try:
        import datasets
    except ImportError:
        raise InvalidInputError("Hugging Face output needs the datasets package: pip install 'skyplex-raft[hf]'",
                                field="hf_dir") from None
    splits = {}
    for name, path in (("train", train_path), ("test", test_path)):
        rows = Path(path).read_text(encoding="utf-8").splitlines()
        splits[name] = datasets.Dataset.from_json(str(path)) if rows else datasets.Dataset.from_list([])
    return datasets.DatasetDict(splits)


def save_hf_dataset(train_path: Path, test_path: Path, folder: Path) -> Path:
    """Write the ``DatasetDict`` to ``folder`` (``datasets.load_from_disk`` reads it back)."""
    to_hf_dataset(train_path, test_path).save_to_disk(str(folder))
    return folder

"""Domain-specific fine-tuning data (the baseline RAFT is measured against): the same train questions
with the same answer format -- the oracle quoted, then ``<ANSWER>:`` -- but no documents in the prompt.

A model tuned on this learns the answer format and the domain's questions, not to read documents; scored
with documents at test time (as RAFT is), it separates "learned the format" from "learned to ground the
answer in the documents shown". Every example keeps its answer target, also where the RAFT example lacked
its oracle or abstained: without documents there is nothing to abstain about.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError

from .builder import SYSTEM_PROMPT, answer_target


def sft_record(record: dict[str, Any]) -> dict[str, Any]:
    """The domain fine-tuning record of one RAFT chat record: the question alone, the answer target."""
    try:
        raft = record["raft"]
        question = record["messages"][1]["content"].rsplit("Question: ", 1)[1]
        quote, answer, _ = raft["quote"], raft["answer"], raft["question_id"]
    except (KeyError, IndexError, TypeError):
        raise InvalidInputError("not a RAFT record (messages with a 'Question: ' turn, raft provenance with "
                                "quote and answer)", field="dataset") from None
    return {"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": f"Question: {question}"},
                         {"role": "assistant", "content": answer_target(quote, answer)}],
            "raft": {**raft, "oracle_present": False, "oracle_position": None, "document_ids": [],
                     "abstain": False, "sft": True}}


def write_sft_dataset(raft_train: Path, out: Path) -> int:
    """Write ``out``: the SFT record of every example of the RAFT train split ``raft_train``, in order, one per
    question (a question seen twice is kept once). Written beside ``out`` and renamed over it. Returns the count."""
    if not raft_train.is_file():
        raise InvalidInputError(f"dataset {raft_train}: no such file; give the train JSONL a build wrote",
                                field="dataset")
    seen: set[str] = set()
    lines = []
    try:
        text = raft_train.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"dataset {raft_train}: not UTF-8 text; give the train JSONL a build wrote",
                                field="dataset") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = sft_record(json.loads(line))
        except (ValueError, InvalidInputError):
            raise InvalidInputError(f"dataset {raft_train} line {n}: not a RAFT record (messages and raft "
                                    "provenance)", field="dataset") from None
        if record["raft"]["question_id"] not in seen:
            seen.add(record["raft"]["question_id"])
            lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
    if not lines:
        raise InvalidInputError(f"dataset {raft_train} holds no examples", field="dataset")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, out)
    return len(lines)

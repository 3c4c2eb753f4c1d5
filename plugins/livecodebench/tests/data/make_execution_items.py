"""Builds execution_items.jsonl from the committed slice: O1-Mini's officially passing LeetCode
programs, each called on its problem's public test inputs; the recorded output is the test's expected
value (which the program returns). Run from the repository root:

    .venv/bin/python plugins/livecodebench/tests/data/make_execution_items.py
"""

import json
from pathlib import Path

from skyplex_livecodebench.literals import call_text
from skyplex_livecodebench.problems import load_problems

HERE = Path(__file__).resolve().parent


def main() -> None:
    graded = {r["question_id"]: r for r in json.loads((HERE / "o1_mini_graded.json").read_text())}
    rows = []
    for p in load_problems(HERE / "problems.jsonl"):
        g = graded.get(p.question_id)
        if p.kind != "functional" or g is None or not all(g["graded_list"]):
            continue
        for i, case in enumerate(p.public_tests):
            rows.append({"id": f"{p.question_id}_{i}", "question_id": p.question_id, "code": g["code_list"][0],
                         "input": "Solution()." + call_text(p, case), "output": repr(json.loads(case.output)),
                         "contest_date": p.contest_date.isoformat(), "difficulty": p.difficulty,
                         "platform": p.platform})
    (HERE / "execution_items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} items")


if __name__ == "__main__":
    main()

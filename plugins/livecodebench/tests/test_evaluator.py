"""The evaluator end to end with a scripted model: prompts, extraction, sandboxed grading, pass@1 by window."""

from __future__ import annotations

import pytest
from skyplex import InvalidInputError, Subject, Suite

pytestmark = pytest.mark.usefixtures("sandbox_ok")


def test_scores_and_items(lcb_kernel, problems_path):
    ev = lcb_kernel.evaluators.get("livecodebench")
    rep = ev.evaluate([Subject(name="solver", backend="solver")],
                      Suite(name="s", options={"problems": str(problems_path), "end": "2023-05-20", "cutoff": "2023-05-14"}))
    items = {i.item_id: i for i in rep.items}
    assert items["2727"].data["status"] == "AC"          # the scripted model solves countSeniors
    assert all(i.data["status"] == "NO_CODE" for q, i in items.items() if q != "2727")
    overall = next(s for s in rep.scores if s.metric == "pass@1")
    assert overall.value == pytest.approx(1 / len(items)) and overall.n == len(items)
    assert any(s.metric == "pass@1[window=before_cutoff]" for s in rep.scores)


def test_bad_options(lcb_kernel, problems_path):
    ev = lcb_kernel.evaluators.get("livecodebench")
    with pytest.raises(InvalidInputError, match="problems"):
        ev.evaluate([Subject(name="solver", backend="solver")], Suite(name="s"))
    with pytest.raises(InvalidInputError, match="unknown"):
        ev.evaluate([Subject(name="solver", backend="solver")], Suite(name="s", options={"problems": "x", "bogus": 1}))
    with pytest.raises(InvalidInputError, match="window"):
        ev.evaluate([Subject(name="solver", backend="solver")],
                    Suite(name="s", options={"problems": str(problems_path), "start": "2030-01-01"}))

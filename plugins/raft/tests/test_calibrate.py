"""The calibrated abstention rule: the openings it compares are the builder's targets' own, the threshold it
chooses on development items is the lowest that keeps false abstention within the bound (searched with
hypothesis), and, on the real local SmolLM2, the rule's replies abstain exactly above the threshold and
otherwise answer after the quoted answer's opening."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft.builder import ABSTAIN_TARGET, BEGIN, RaftOptions, build_examples, held_out_path, write_jsonl
from skyplex_raft.calibrate import (
    ABSTAIN_OPENING,
    ANSWER_OPENING,
    abstain_margins,
    abstains,
    calibrated_replies,
    choose_threshold,
    roc_auc,
)
from skyplex_raft.evaluate import final_answer, is_abstention, load_items, score_reply
from skyplex_raft.fictional import fictional_corpus

margins_and_labels = st.lists(st.tuples(st.floats(-50, 50, allow_nan=False), st.booleans()), min_size=2,
                              max_size=80).filter(lambda pairs: len({p for _, p in pairs}) == 2)


def test_every_abstain_mode_target_opens_with_one_of_the_two_openings():
    chunks, questions = fictional_corpus(40, 1)
    examples, _ = build_examples(chunks, questions, RaftOptions(k=2, p=0.5, abstain=True, pairing=True))
    for e in examples:
        target = e.target()
        assert target.startswith(ABSTAIN_OPENING if e.abstains else ANSWER_OPENING)
        assert not target.startswith(ANSWER_OPENING if e.abstains else ABSTAIN_OPENING)
    assert ABSTAIN_TARGET.startswith(ABSTAIN_OPENING) and is_abstention(final_answer(ABSTAIN_TARGET))


@settings(max_examples=200, deadline=None)
@given(pairs=margins_and_labels, max_false=st.floats(0, 0.5))
def test_the_threshold_is_the_lowest_within_the_false_abstention_bound(pairs, max_false):
    margins, present = [m for m, _ in pairs], [p for _, p in pairs]
    threshold = choose_threshold(margins, present, max_false=max_false)
    with_oracle = [m for m, p in pairs if p]
    false = sum(abstains(m, threshold) for m in with_oracle)
    assert false <= max_false * len(with_oracle) + 1e-9
    # any lower threshold abstains on one more item with the oracle than the bound allows
    assert sum(m >= threshold for m in with_oracle) > max_false * len(with_oracle) - 1e-9
    assert threshold in with_oracle


@settings(max_examples=100, deadline=None)
@given(pairs=margins_and_labels)
def test_auc_is_a_ranking_probability(pairs):
    margins, present = [m for m, _ in pairs], [p for _, p in pairs]
    auc = roc_auc(margins, present)
    assert 0.0 <= auc <= 1.0
    assert roc_auc([-m for m in margins], present) == pytest.approx(1 - auc)


def test_threshold_needs_both_kinds_of_item():
    with pytest.raises(InvalidInputError, match="with the oracle and without it"):
        choose_threshold([1.0, 2.0], [True, True])
    with pytest.raises(InvalidInputError, match="max_false=1.5"):
        choose_threshold([1.0, 2.0], [True, False], max_false=1.5)
    assert choose_threshold([3.0, 1.0, -2.0, 5.0], [True, True, False, False], max_false=0.0) == 3.0
    assert math.isnan(roc_auc([1.0], [True]))


@pytest.fixture(scope="module")
def fictional_items(tmp_path_factory):
    """Four held-out fictional questions, two with their oracle and two without."""
    chunks, questions = fictional_corpus(20, 2)
    examples, _ = build_examples(chunks, questions, RaftOptions(k=2, p=0.5, test_p=0.5, abstain=True,
                                                                test_fraction=0.3))
    out = tmp_path_factory.mktemp("calibrate") / "f.jsonl"
    write_jsonl([e for e in examples if e.split == "test"], held_out_path(out))
    items = load_items(held_out_path(out))
    with_oracle = [i for i in items if i.oracle_present][:2]
    return with_oracle + [i for i in items if not i.oracle_present][:2]


@pytest.mark.timeout(900)
def test_the_rule_on_the_real_local_model(skyplex_local_backend, fictional_items):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(skyplex_local_backend.cache_dir))
    margins = abstain_margins(skyplex_local_backend, tokenizer, fictional_items, batch=3)
    assert len(margins) == 4 and all(math.isfinite(m) for m in margins)
    one_by_one = abstain_margins(skyplex_local_backend, tokenizer, fictional_items, batch=1)
    assert margins == pytest.approx(one_by_one, abs=1e-3)  # batching does not change a margin
    threshold = sorted(margins)[1]  # two items above it abstain, two do not
    replies = calibrated_replies(skyplex_local_backend, tokenizer, fictional_items, threshold, max_tokens=6,
                                 margins=margins)
    for item, margin, reply in zip(fictional_items, margins, replies):
        if margin > threshold:
            assert reply == ABSTAIN_TARGET and score_reply(item, reply)["abstain"] == 1.0
        else:
            assert reply.startswith(ANSWER_OPENING) and len(reply) > len(ANSWER_OPENING) and BEGIN in reply
    assert sum(r == ABSTAIN_TARGET for r in replies) == 2

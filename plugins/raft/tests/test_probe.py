"""The decision probe (``skyplex_raft.probe``). Searched with hypothesis: the features are the states at each
prompt's last real token and the mean over its question's tokens, whatever the batch pads; the threshold
follows the development items alone and keeps their false abstention within the bound; every reply abstains
or is the answering path's reply unchanged. Mutation checks: the threshold with its sign turned, the threshold
chosen on the scored items, features from the wrong token, each caught. The features of the real local model
on fictional questions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft import probe
from skyplex_raft.builder import ABSTAIN_TARGET, RaftOptions, build_examples, held_out_path, write_jsonl
from skyplex_raft.evaluate import load_items

WIDTH = 3


def coded_forward(layers: int = 3):
    """A fake causal model: the state of a token at position t in layer l is (id, t, l), so a feature says
    which token and layer it was read from (a token's state never depends on what comes after it)."""
    def forward(ids: np.ndarray) -> list[np.ndarray]:
        batch, positions = ids.shape
        return [np.stack([ids, np.broadcast_to(np.arange(positions), ids.shape), np.full(ids.shape, layer)],
                         axis=-1).astype(float) for layer in range(layers)]
    return forward


PROMPT = st.lists(st.integers(1, 999), min_size=1, max_size=12).flatmap(
    lambda ids: st.tuples(st.just(ids), st.integers(0, len(ids) - 1).flatmap(
        lambda a: st.tuples(st.just(a), st.integers(a + 1, len(ids))))))


def check_features(encoded, batch: int) -> None:
    features = probe.hidden_features(coded_forward(), encoded, layers=(0, 2), batch=batch, pad=0)
    assert features.shape == (len(encoded), 2, 2, WIDTH)
    for row, (ids, (a, b)) in zip(features, encoded):
        for index, layer in enumerate((0, 2)):
            assert row[index, 0].tolist() == [ids[-1], len(ids) - 1, layer]  # the prompt's last real token
            assert row[index, 1].tolist() == pytest.approx([np.mean(ids[a:b]), (a + b - 1) / 2, layer])


@settings(max_examples=150, deadline=None)
@given(st.lists(PROMPT, min_size=1, max_size=7), st.integers(1, 4))
def test_features_are_read_at_the_last_prompt_token_and_over_the_question(encoded, batch):
    check_features(encoded, batch)


def test_mutation_features_from_the_wrong_token_are_caught(monkeypatch):
    """Break the pooling: read the last position of the padded batch row instead of the prompt's last token.
    The search finds a batch whose prompts differ in length."""
    monkeypatch.setattr(probe, "pool", lambda hidden, length, span: np.stack(
        [hidden[-1], hidden[span[0]:span[1]].mean(axis=0)]))

    @settings(max_examples=150, deadline=None, database=None, phases=(Phase.generate,))
    @given(st.lists(PROMPT, min_size=1, max_size=7), st.integers(1, 4))
    def search(encoded, batch):
        check_features(encoded, batch)

    with pytest.raises(AssertionError):
        search()


def test_the_question_span_is_the_tokens_over_its_last_occurrence():
    text = "Question: who? ... Question: who?"
    offsets = [(0, 9), (9, 10), (10, 14), (14, 18), (18, 28), (28, 29), (29, 33)]
    assert probe.question_span(offsets, text, "who?") == (6, 7)
    with pytest.raises(InvalidInputError, match="not in its prompt"):
        probe.question_span(offsets, text, "whom?")


# items whose features are made up: a point in WIDTH dimensions, the oracle's presence shifting it
ITEM = st.tuples(st.lists(st.floats(-3, 3), min_size=WIDTH, max_size=WIDTH), st.booleans())
SPLIT = st.lists(ITEM, min_size=4, max_size=14).filter(lambda xs: 1 < sum(p for _, p in xs) < len(xs) - 1)


def made_items(drawn, tag: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(question_id=f"{tag}{n}", question="q?", documents=["d"], answer="gold",
                            oracle_present=present, oracle_text="d" if present else None,
                            vector=[v + (1.5 if present else 0.0) for v in vector])
            for n, (vector, present) in enumerate(drawn)]


def fake_features(items) -> np.ndarray:
    """[items, 1 layer, 2 poolings, WIDTH]: the item's vector as both poolings."""
    return np.array([[[it.vector, it.vector]] for it in items], dtype=float).reshape(len(items), 1, 2, WIDTH)


def fake_answers(items) -> list[str]:
    return [f"##Reason: ##begin_quote##d##end_quote## <ANSWER>: reply {it.question_id}" for it in items]


GRID = {"layers": (0,), "poolings": ("last",), "l2s": (1.0,), "folds": 2}


def run(train, dev, items, evaluate=None, max_false=0.05):
    evaluate = evaluate or probe.evaluate_probe
    return evaluate(fake_features, fake_answers, made_items(train, "t"), made_items(dev, "d"), made_items(items, "s"),
                    max_false=max_false, resamples=20, **GRID)


def check_dev_only(train, dev, scored, other, evaluate=None) -> None:
    """The threshold and the probe follow the train and development items alone; each reply abstains or is the
    answering path's reply for that item, unchanged."""
    first, second = run(train, dev, scored, evaluate), run(train, dev, other, evaluate)
    assert first["threshold"] == second["threshold"]
    for item, reply in zip(made_items(scored, "s"), first["replies"]):
        assert reply in (ABSTAIN_TARGET, fake_answers([item])[0])


@settings(max_examples=60, deadline=None)
@given(SPLIT, SPLIT, st.lists(ITEM, min_size=1, max_size=5), st.lists(ITEM, min_size=1, max_size=5))
def test_the_threshold_follows_the_development_items_and_replies_are_the_answer_path_unchanged(train, dev, scored,
                                                                                                other):
    check_dev_only(train, dev, scored, other)


def test_mutation_calibrating_on_the_scored_items_is_caught():
    """Break the procedure: choose the threshold on the development and the scored items together."""
    def leaky(features, answer, train, dev, items, **options):
        return probe.evaluate_probe(features, answer, train, [*dev, *items], items, **options)

    @settings(max_examples=100, deadline=None, database=None, phases=(Phase.generate,))
    @given(SPLIT, SPLIT, st.lists(ITEM, min_size=1, max_size=5), st.lists(ITEM, min_size=1, max_size=5))
    def search(train, dev, scored, other):
        check_dev_only(train, dev, scored, other, evaluate=leaky)

    with pytest.raises(AssertionError):
        search()


def check_bound(train, dev, max_false) -> None:
    """On the development items, the decision abstains on at most ``max_false`` of those with the oracle, and no
    lower threshold among their scores would keep that bound (it abstains as much as the bound allows)."""
    decision = probe.fit_decision(fake_features(made_items(train, "t")), [p for _, p in train],
                                  fake_features(made_items(dev, "d")), [p for _, p in dev], max_false=max_false,
                                  layers=(0,), poolings=("last",), l2s=(1.0,), folds=2)
    scores = decision.scores(fake_features(made_items(dev, "d")))
    decided = decision.decide(fake_features(made_items(dev, "d")))
    present = [p for _, p in dev]
    bound = max_false * sum(present) + 1e-9
    assert sum(d for d, p in zip(decided, present) if p) <= bound
    for lower in (s for s in scores if s < decision.threshold):
        assert sum(s > lower for s, p in zip(scores, present) if p) > bound


@settings(max_examples=100, deadline=None)
@given(SPLIT, SPLIT, st.sampled_from([0.0, 0.05, 0.2, 0.5]))
def test_the_threshold_abstains_most_within_the_false_abstention_bound(train, dev, max_false):
    check_bound(train, dev, max_false)


def test_mutation_a_threshold_with_its_sign_turned_is_caught(monkeypatch):
    """Break the rule: abstain when the score is below the threshold. The search finds development items on
    which it abstains beyond the bound."""
    monkeypatch.setattr(probe, "abstains", lambda score, threshold: score < threshold)

    @settings(max_examples=100, deadline=None, database=None, phases=(Phase.generate,))
    @given(SPLIT, SPLIT, st.sampled_from([0.0, 0.05, 0.2]))
    def search(train, dev, max_false):
        check_bound(train, dev, max_false)

    with pytest.raises(AssertionError):
        search()


def test_probe_replies_ask_the_answer_path_once_for_the_answered_items():
    asked = []

    def answer(indices):
        asked.append(list(indices))
        return [f"r{i}" for i in indices]

    assert probe.probe_replies([True, False, True, False], answer) == [ABSTAIN_TARGET, "r1", ABSTAIN_TARGET, "r3"]
    assert asked == [[1, 3]]
    assert probe.probe_replies([True], answer) == [ABSTAIN_TARGET] and asked == [[1, 3]]
    with pytest.raises(ValueError, match="gave 1 replies for 2 items"):
        probe.probe_replies([False, False], lambda indices: ["only one"])


def test_a_separable_train_split_is_ranked_and_bad_settings_are_refused():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8))
    absent = [bool(i % 2) for i in range(40)]
    x[np.array(absent), 0] += 4.0
    fitted = probe.fit_logistic(x, absent, 1.0)
    assert probe.rank_auc(fitted.score(x), [not a for a in absent]) == 1.0
    wide = np.hstack([x, rng.normal(size=(40, 60))])  # more features than items: the fit in the items' span
    assert probe.rank_auc(probe.fit_logistic(wide, absent, 1.0).score(wide), [not a for a in absent]) == 1.0
    with pytest.raises(InvalidInputError, match="with the oracle and without it"):
        probe.fit_logistic(x, [True] * 40, 1.0)
    with pytest.raises(InvalidInputError, match="pooling 'max'"):
        probe.select(np.zeros((2, 1, 2, 3)), 0, "max")
    with pytest.raises(InvalidInputError, match="max_false=1.5"):
        probe.fit_decision(np.zeros((4, 1, 2, 3)), [True, False] * 2, np.zeros((4, 1, 2, 3)), [True, False] * 2,
                           max_false=1.5, layers=(0,))


@pytest.fixture(scope="module")
def fictional_items(tmp_path_factory):
    """Four fictional questions (namesake distractors, k = 2): two with their oracle, two without."""
    from skyplex_raft.fictional import fictional_corpus

    chunks, questions = fictional_corpus(6, 3)
    examples, _ = build_examples(chunks, questions, RaftOptions(k=2, p=0.5, distractors="bm25", test_fraction=0.0,
                                                                abstain=True))
    out = tmp_path_factory.mktemp("probe") / "f.jsonl"
    write_jsonl(examples, held_out_path(out))
    items = load_items(held_out_path(out))
    return [i for i in items if i.oracle_present][:2] + [i for i in items if not i.oracle_present][:2]


@pytest.mark.timeout(600)
def test_the_features_of_the_real_local_model(skyplex_local_backend, fictional_items):
    """The real tokenizer's question span decodes to the question; the truncated forward gives the full model's
    states at the probe's layers, at the last prompt token."""
    import torch

    skyplex_local_backend.count_tokens("x")
    model, tokenizer = probe.load_model(skyplex_local_backend.cache_dir)
    for item in fictional_items:
        ids, (a, b) = probe.encode(tokenizer, item)
        assert item.question in tokenizer.decode(ids[a:b]) and ids[-1] == tokenizer("\n")["input_ids"][-1]
    features = probe.item_features(model, tokenizer, fictional_items[:2], layers=(8, 12))
    assert features.shape == (2, 2, 2, model.config.hidden_size)
    ids, span = probe.encode(tokenizer, fictional_items[0])
    with torch.no_grad():
        full = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
    for index, layer in enumerate((8, 12)):
        assert np.allclose(features[0, index, 0], full[layer][0, -1].numpy(), atol=1e-4)
        assert np.allclose(features[0, index, 1], full[layer][0, span[0]:span[1]].mean(0).numpy(), atol=1e-4)

"""The per-document decision probe (``skyplex_raft.docprobe``). Searched with hypothesis: an item's score is
its best document's, whatever order its documents come in; the threshold follows the development items alone
and keeps their false abstention within the bound; every reply abstains or is the answering path's reply
unchanged. Mutation checks: the first document deciding instead of the best, the threshold chosen on the scored
items, the threshold with its sign turned, folds that split an item's documents, each caught. The prompts are
the builder's format with one document; the features of the real local model are those of that prompt."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft import docprobe, probe
from skyplex_raft.builder import ABSTAIN_TARGET, RaftOptions, build_examples, held_out_path, write_jsonl
from skyplex_raft.evaluate import load_items

WIDTH = 3
VECTOR = st.lists(st.floats(-3, 3), min_size=WIDTH, max_size=WIDTH)
# an item: its documents' made-up feature vectors, and the oracle's position among them (None: not shown)
ITEM = st.lists(VECTOR, min_size=1, max_size=3).flatmap(
    lambda docs: st.tuples(st.just(docs), st.one_of(st.none(), st.integers(0, len(docs) - 1))))
SPLIT = st.lists(ITEM, min_size=4, max_size=12).filter(
    lambda xs: 1 < sum(o is not None for _, o in xs) < len(xs) - 1)


def made_items(drawn, tag: str) -> list[SimpleNamespace]:
    """Items whose documents are named ``tag n.j``; the oracle's vector is shifted, so the probe can learn it."""
    items = []
    for n, (vectors, oracle) in enumerate(drawn):
        names = [f"{tag}{n}.{j}" for j in range(len(vectors))]
        shifted = [[v + (1.5 if j == oracle else 0.0) for v in vec] for j, vec in enumerate(vectors)]
        items.append(SimpleNamespace(question_id=f"{tag}{n}", question="q?", documents=names, answer="gold",
                                     oracle_present=oracle is not None,
                                     oracle_text=None if oracle is None else names[oracle],
                                     vectors=dict(zip(names, shifted))))
    return items


def fake_features(items) -> np.ndarray:
    """[documents, 1 layer, 2 poolings, WIDTH]: each document's vector as both poolings, item by item."""
    rows = [[it.vectors[d], it.vectors[d]] for it in items for d in it.documents]
    return np.array(rows, dtype=float).reshape(len(rows), 1, 2, WIDTH)


def fake_answers(items) -> list[str]:
    return [f"##Reason: ##begin_quote##d##end_quote## <ANSWER>: reply {it.question_id}" for it in items]


GRID = {"layers": (0,), "poolings": ("last",), "l2s": (1.0,), "folds": 2}


def run(train, dev, items, evaluate=None, max_false=0.05):
    evaluate = evaluate or docprobe.evaluate_document_probe
    return evaluate(fake_features, fake_answers, made_items(train, "t"), made_items(dev, "d"), made_items(items, "s"),
                    max_false=max_false, resamples=20, **GRID)


def check_dev_only(train, dev, scored, other, evaluate=None) -> None:
    """The probe and its threshold follow the train and development items alone; each reply abstains or is the
    answering path's reply for that item, unchanged."""
    first, second = run(train, dev, scored, evaluate), run(train, dev, other, evaluate)
    assert first["threshold"] == second["threshold"]
    for item, reply in zip(made_items(scored, "s"), first["replies"]):
        assert reply in (ABSTAIN_TARGET, fake_answers([item])[0])


@settings(max_examples=50, deadline=None)
@given(SPLIT, SPLIT, st.lists(ITEM, min_size=1, max_size=5), st.lists(ITEM, min_size=1, max_size=5))
def test_the_threshold_follows_the_development_items_and_replies_are_the_answer_path_unchanged(train, dev, scored,
                                                                                                other):
    check_dev_only(train, dev, scored, other)


def test_mutation_calibrating_on_the_scored_items_is_caught():
    """Break the procedure: choose the threshold on the development and the scored items together."""
    def leaky(features, answer, train, dev, items, **options):
        return docprobe.evaluate_document_probe(features, answer, train, [*dev, *items], items, **options)

    @settings(max_examples=100, deadline=None, database=None, phases=(Phase.generate,))
    @given(SPLIT, SPLIT, st.lists(ITEM, min_size=1, max_size=5), st.lists(ITEM, min_size=1, max_size=5))
    def search(train, dev, scored, other):
        check_dev_only(train, dev, scored, other, evaluate=leaky)

    with pytest.raises(AssertionError):
        search()


# document scores grouped by item: each item's list of its documents' scores
GROUPS = st.lists(st.lists(st.floats(-50, 50), min_size=1, max_size=4), min_size=1, max_size=6)


def check_order_invariant(groups, data) -> None:
    """An item's score is minus its best document's, and shuffling each item's documents changes nothing."""
    owner = [i for i, g in enumerate(groups) for _ in g]
    scores = docprobe.item_scores([s for g in groups for s in g], owner, len(groups))
    assert scores.tolist() == [-max(g) for g in groups]
    shuffled = [data.draw(st.permutations(g)) for g in groups]
    assert docprobe.item_scores([s for g in shuffled for s in g], owner, len(groups)).tolist() == scores.tolist()


@settings(max_examples=150, deadline=None)
@given(GROUPS, st.data())
def test_the_best_document_decides_whatever_their_order(groups, data):
    check_order_invariant(groups, data)


def test_mutation_the_first_document_deciding_is_caught(monkeypatch):
    """Break the rule: the item's first document decides, not its best. The search finds an item whose best
    document is not its first."""
    def first_only(document_scores, owner, n):
        out = np.full(n, np.inf)
        for s, i in reversed(list(zip(document_scores, owner))):
            out[i] = -s
        return out

    monkeypatch.setattr(docprobe, "item_scores", first_only)

    @settings(max_examples=150, deadline=None, database=None, phases=(Phase.generate,))
    @given(GROUPS, st.data())
    def search(groups, data):
        check_order_invariant(groups, data)

    with pytest.raises(AssertionError):
        search()


def check_bound(train, dev, max_false) -> None:
    """On the development items, the decision abstains on at most ``max_false`` of those with the oracle, and no
    lower threshold among their scores would keep that bound."""
    tr, de = made_items(train, "t"), made_items(dev, "d")
    decision = docprobe.fit_document_decision(
        fake_features(tr), docprobe.owners(tr), docprobe.document_labels(tr), [it.oracle_present for it in tr],
        fake_features(de), docprobe.owners(de), [it.oracle_present for it in de], max_false=max_false, **GRID)
    scores = decision.scores(fake_features(de), docprobe.owners(de), len(de))
    decided = decision.decide(fake_features(de), docprobe.owners(de), len(de))
    present = [it.oracle_present for it in de]
    bound = max_false * sum(present) + 1e-9
    assert sum(d for d, p in zip(decided, present) if p) <= bound
    for lower in (s for s in scores if s < decision.threshold):
        assert sum(s > lower for s, p in zip(scores, present) if p) > bound


@settings(max_examples=80, deadline=None)
@given(SPLIT, SPLIT, st.sampled_from([0.0, 0.05, 0.2, 0.5]))
def test_the_threshold_abstains_most_within_the_false_abstention_bound(train, dev, max_false):
    check_bound(train, dev, max_false)


def test_mutation_a_threshold_with_its_sign_turned_is_caught(monkeypatch):
    """Break the rule: abstain when the score is below the threshold."""
    monkeypatch.setattr(docprobe, "abstains", lambda score, threshold: score < threshold)

    @settings(max_examples=100, deadline=None, database=None, phases=(Phase.generate,))
    @given(SPLIT, SPLIT, st.sampled_from([0.0, 0.05, 0.2]))
    def search(train, dev, max_false):
        check_bound(train, dev, max_false)

    with pytest.raises(AssertionError):
        search()


def check_item_folds(drawn, folds) -> None:
    """Cross-validation deals whole items to folds: every document is scored by a probe fitted without any
    document of its item."""
    items = made_items(drawn, "t")
    owner = docprobe.owners(items)
    features = fake_features(items)
    features[:, 0, 0, 0] = np.arange(len(owner))  # a row's first value names its document
    seen: list[set[int]] = []
    real_fit = docprobe.fit_logistic

    def recording_fit(x, labels, l2):
        seen.append(set(np.rint(x[:, 0]).astype(int).tolist()))
        return real_fit(x, labels, l2)

    docprobe.fit_logistic = recording_fit
    try:
        docprobe.choose_document_settings(features, owner, docprobe.document_labels(items),
                                          [it.oracle_present for it in items], layers=(0,), poolings=("last",),
                                          l2s=(1.0,), folds=folds)
    finally:
        docprobe.fit_logistic = real_fit
    assume(seen)  # no fold had both kinds of document to train on (every fit skipped): nothing to check
    for fitted in seen:  # each fit's train rows hold all of an item's documents or none of them
        for i in range(len(items)):
            assert len({int(j) in fitted for j in np.flatnonzero(owner == i)}) == 1


@settings(max_examples=60, deadline=None)
@given(SPLIT, st.integers(2, 4))
def test_cross_validation_keeps_an_items_documents_in_one_fold(drawn, folds):
    check_item_folds(drawn, folds)


def test_mutation_folds_dealt_by_document_are_caught(monkeypatch):
    """Break the procedure: deal documents to folds one by one, so an item's documents are split."""
    def by_document(features, owner, holds, present, **options):
        return real(features, np.arange(len(owner)), holds, [False] * len(owner), **options)

    real = docprobe.choose_document_settings
    monkeypatch.setattr(docprobe, "choose_document_settings", by_document)

    @settings(max_examples=100, deadline=None, database=None, phases=(Phase.generate,))
    @given(SPLIT, st.integers(2, 4))
    def search(drawn, folds):
        check_item_folds(drawn, folds)

    with pytest.raises((AssertionError, InvalidInputError)):
        search()


def test_labels_owners_and_refusals():
    items = made_items([([[0.0] * WIDTH] * 3, 1), ([[0.0] * WIDTH] * 2, None)], "t")
    assert docprobe.document_labels(items).tolist() == [False, True, False, False, False]
    assert docprobe.owners(items).tolist() == [0, 0, 0, 1, 1]
    assert docprobe.item_scores([1.0, 2.0], [0, 0], 2).tolist() == [-2.0, np.inf]  # no document: "absent"
    x = fake_features(items)
    with pytest.raises(InvalidInputError, match="max_false=1.5"):
        docprobe.fit_document_decision(x, [0, 0, 0, 1, 1], docprobe.document_labels(items), [True, False], x,
                                       [0, 0, 0, 1, 1], [True, False], max_false=1.5, layers=(0,))
    with pytest.raises(ValueError, match="5 train documents, 4 owners"):
        docprobe.fit_document_decision(x, [0, 0, 0, 1], docprobe.document_labels(items), [True, False], x,
                                       [0, 0, 0, 1, 1], [True, False], layers=(0,))
    with pytest.raises(InvalidInputError, match="with the oracle and without it"):
        docprobe.fit_document_decision(x, [0, 0, 0, 1, 1], [False] * 5, [False, False], x, [0, 0, 0, 1, 1],
                                       [True, False], **GRID)


@pytest.fixture(scope="module")
def fictional_items(tmp_path_factory):
    """Fictional questions with namesake distractors, k = 2, and the same with k = 1 (one document each)."""
    from skyplex_raft.fictional import fictional_corpus

    chunks, questions = fictional_corpus(6, 3)
    out = {}
    for k in (2, 1):
        examples, _ = build_examples(chunks, questions, RaftOptions(k=k, p=0.5, distractors="bm25", test_fraction=0.0,
                                                                    abstain=True))
        path = tmp_path_factory.mktemp("docprobe") / f"k{k}.jsonl"
        write_jsonl(examples, held_out_path(path))
        out[k] = load_items(held_out_path(path))
    return out


def test_a_single_document_prompt_is_the_builders_prompt_with_that_document_alone(fictional_items):
    """With k = 1 the builder shows one document: the per-document prompt of that item is its prompt."""
    assert any(it.oracle_present for it in fictional_items[1]) and not all(it.oracle_present
                                                                          for it in fictional_items[1])
    for item in fictional_items[1]:
        assert len(item.documents) == 1
        assert docprobe.document_prompts(item)[0].messages == item.messages
    item = next(it for it in fictional_items[2] if it.oracle_present)
    prompts = docprobe.document_prompts(item)
    assert len(prompts) == len(item.documents)
    for prompt, document in zip(prompts, item.documents):
        assert prompt.messages[0] == item.messages[0] and prompt.question == item.question
        assert f"<DOCUMENT>{document}</DOCUMENT>" in prompt.messages[1]["content"]
        assert prompt.messages[1]["content"].count("<DOCUMENT>") == 1


@pytest.mark.timeout(600)
def test_the_document_features_of_the_real_local_model(skyplex_local_backend, fictional_items):
    """Each document's features are the whole-prompt features of its one-document prompt."""
    skyplex_local_backend.count_tokens("x")
    model, tokenizer = probe.load_model(skyplex_local_backend.cache_dir)
    item = next(it for it in fictional_items[2] if it.oracle_present)
    features = docprobe.document_features(model, tokenizer, [item], layers=(8,))
    assert features.shape == (len(item.documents), 1, 2, model.config.hidden_size)
    alone = [SimpleNamespace(messages=p.messages, question=p.question) for p in docprobe.document_prompts(item)]
    assert np.allclose(features, probe.item_features(model, tokenizer, alone, layers=(8,)), atol=1e-4)


def check_common_prefix(encoded) -> None:
    """Every prompt starts with the prefix and keeps a token of its own; one token more would not be common."""
    prefix = probe.common_prefix(encoded)
    assert all(list(e[:len(prefix)]) == prefix and len(e) > len(prefix) for e in encoded)
    longer = len(prefix) + 1
    assert longer >= min(len(e) for e in encoded) or len({tuple(e[:longer]) for e in encoded}) > 1


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=0, max_size=4).flatmap(
    lambda head: st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=5).map(lambda tail: head + tail),
                          min_size=1, max_size=5)))
def test_the_shared_prefix_is_the_longest_that_leaves_each_prompt_a_token(encoded):
    check_common_prefix(encoded)


def test_mutation_a_prefix_one_token_short_is_caught(monkeypatch):
    """Break the prefix: drop its last token (still exact, but not the longest; the search must notice)."""
    real = probe.common_prefix
    monkeypatch.setattr(probe, "common_prefix", lambda encoded: real(encoded)[:-1])

    @settings(max_examples=150, deadline=None, database=None, phases=(Phase.generate,))
    @given(st.lists(st.lists(st.integers(0, 1), min_size=2, max_size=4), min_size=1, max_size=3))
    def search(encoded):
        check_common_prefix(encoded)

    with pytest.raises(AssertionError):
        search()

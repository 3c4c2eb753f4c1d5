"""A per-document decision probe: the question paired with one document at a time, a logistic regression
deciding "this document holds the answer", and abstention when the best document's score is below a threshold.

Where :mod:`skyplex_raft.probe` reads the hidden states of the whole prompt (every document, then the
question), this probe reads those of one prompt per document: the item's system turn and a user turn holding
that document alone and the question, in the format the builder writes (``<DOCUMENT>...</DOCUMENT>`` then
``Question: ...``). The question comes after the document, so its tokens' states (and the last token's) have
read that document: the features are a question-document pair's. Train labels are known from abstain-mode
data: a document holds the answer when it is the item's oracle (shown), and no document of an item without
its oracle does.

Settings (layer, pooling, L2) are chosen by cross-validation on the train items alone, folds dealt by item
(an item's documents are never split between folds), by the out-of-fold AUC of the *item* score; the item
score is minus the best document's log-odds of holding the answer (so, as in :mod:`.probe`, higher means
"absent" and the probe abstains when it is above the threshold). The threshold is chosen on the development
items alone (``calibrate.choose_threshold``); replies are :func:`probe.probe_replies`': the abstaining answer
or the answering path's reply unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skyplex.errors import InvalidInputError

from .calibrate import choose_threshold
from .probe import (L2S, LAYERS, POOLINGS, LinearProbe, abstains, common_prefix, encode, fit_logistic, folds_of,
                    hidden_features, model_forward, rank_auc, scored_replies, select)


@dataclass(frozen=True)
class DocumentPrompt:
    """One question paired with one document: what :func:`probe.encode` reads (``messages``, ``question``)."""

    messages: list[dict[str, str]]
    question: str


def document_prompts(item: Any) -> list[DocumentPrompt]:
    """``item``'s question paired with each of its documents in turn, in the builder's prompt format."""
    system = list(item.messages[:1])
    return [DocumentPrompt(system + [{"role": "user", "content": f"<DOCUMENT>{document}</DOCUMENT>\n\n"
                                                                f"Question: {item.question}"}], item.question)
            for document in item.documents]


def owners(items: Sequence[Any]) -> np.ndarray:
    """For each document of ``items`` (in order), the index of its item."""
    return np.array([i for i, it in enumerate(items) for _ in it.documents], dtype=int)


def document_labels(items: Sequence[Any]) -> np.ndarray:
    """For each document of ``items``, whether it holds the answer: it is the item's oracle, shown."""
    return np.array([bool(it.oracle_present) and d == it.oracle_text for it in items for d in it.documents], dtype=bool)


def document_features(model: Any, tokenizer: Any, items: Sequence[Any], *,
                      layers: Sequence[int] = LAYERS) -> np.ndarray:
    """``[documents, layers, 2, width]``: :func:`probe.hidden_features` of every question-document prompt of
    ``items`` (item by item, documents in order: :func:`owners` says whose)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [encode(tokenizer, prompt) for it in items for prompt in document_prompts(it)]
    return hidden_features(model_forward(model, max(layers), common_prefix([ids for ids, _ in encoded])), encoded,
                           layers=layers, pad=pad)


def item_scores(document_scores: Sequence[float], owner: Sequence[int], n: int) -> np.ndarray:
    """Per item (``n`` of them), minus the best score among its documents (``inf``, "absent", for an item with
    none): the best document decides, whatever order the documents come in."""
    best = np.full(n, -np.inf)
    np.maximum.at(best, np.asarray(owner, dtype=int), np.asarray(document_scores, dtype=float))
    return -best


def choose_document_settings(features: np.ndarray, owner: Sequence[int], holds: Sequence[bool],
                             present: Sequence[bool], *, layers: Sequence[int] = LAYERS,
                             poolings: Sequence[str] = POOLINGS, l2s: Sequence[float] = L2S, folds: int = 5,
                             seed: int = 0) -> dict[str, Any]:
    """The layer, pooling and L2 strength whose out-of-fold item scores on the train items rank those without
    their oracle above the rest best (AUC; the first of the grid on ties). Folds are dealt by item."""
    owner, holds, present = np.asarray(owner, dtype=int), np.asarray(holds, dtype=bool), np.asarray(present, dtype=bool)
    item_fold = folds_of(len(present), min(folds, len(present)), seed)
    fold = item_fold[owner]
    best: dict[str, Any] = {"auc": -1.0}
    for li, layer in enumerate(layers):
        for pooling in poolings:
            x = select(features, li, pooling)
            for l2 in l2s:
                scores = np.zeros(len(owner))
                for f in range(item_fold.max() + 1):
                    train = fold != f
                    if holds[train].all() or not holds[train].any():
                        continue
                    scores[~train] = fit_logistic(x[train], holds[train], l2).score(x[~train])
                auc = rank_auc(item_scores(scores, owner, len(present)), present)
                if auc > best["auc"]:
                    best = {"layer": layer, "pooling": pooling, "l2": l2, "auc": auc}
    return best


@dataclass
class DocumentDecision:
    """A trained per-document probe (settings from the train items) and its threshold (from the development
    items); :meth:`scores` are item scores (minus the best document's log-odds of holding the answer)."""

    layer: int
    pooling: str
    l2: float
    cv_auc: float
    probe: LinearProbe
    threshold: float
    layers: tuple[int, ...] = LAYERS
    dev_scores: list[float] = field(default_factory=list)

    def document_scores(self, features: np.ndarray) -> np.ndarray:
        return self.probe.score(select(features, self.layers.index(self.layer), self.pooling))

    def scores(self, features: np.ndarray, owner: Sequence[int], n: int) -> list[float]:
        return item_scores(self.document_scores(features), owner, n).tolist()

    def decide(self, features: np.ndarray, owner: Sequence[int], n: int) -> list[bool]:
        """Per item, whether the probe abstains."""
        return [abstains(s, self.threshold) for s in self.scores(features, owner, n)]


def fit_document_decision(train: np.ndarray, train_owner: Sequence[int], train_holds: Sequence[bool],
                          train_present: Sequence[bool], dev: np.ndarray, dev_owner: Sequence[int],
                          dev_present: Sequence[bool], *, max_false: float = 0.05, layers: Sequence[int] = LAYERS,
                          seed: int = 0, **grid: Any) -> DocumentDecision:
    """Settings by cross-validation on the train documents, the probe refit on all of them, the threshold chosen
    on the development items' scores (at most ``max_false`` of those with the oracle abstained on)."""
    layers = tuple(layers)
    if not 0.0 <= max_false < 1.0:
        raise InvalidInputError(f"max_false={max_false} is outside [0, 1)", field="max_false")
    if len(train_owner) != len(train) or len(train_holds) != len(train) or len(dev_owner) != len(dev):
        raise ValueError(f"{len(train)} train documents, {len(train_owner)} owners, {len(train_holds)} labels; "
                         f"{len(dev)} development documents, {len(dev_owner)} owners")
    chosen = choose_document_settings(train, train_owner, train_holds, train_present, layers=layers, seed=seed, **grid)
    if "layer" not in chosen:
        raise InvalidInputError("training a per-document probe needs train items with the oracle and without it",
                                field="train")
    x = select(train, layers.index(chosen["layer"]), chosen["pooling"])
    probe = fit_logistic(x, list(train_holds), chosen["l2"])
    decision = DocumentDecision(chosen["layer"], chosen["pooling"], chosen["l2"], chosen["auc"], probe, 0.0, layers)
    decision.dev_scores = decision.scores(dev, dev_owner, len(dev_present))
    decision.threshold = choose_threshold(decision.dev_scores, list(dev_present), max_false=max_false)
    return decision


def evaluate_document_probe(features: Callable[[Sequence[Any]], np.ndarray],
                            answer: Callable[[Sequence[Any]], Sequence[str]], train: Sequence[Any], dev: Sequence[Any],
                            items: Sequence[Any], *, max_false: float = 0.05, grounded: bool = False,
                            resamples: int = 1000, seed: int = 0, **grid: Any) -> dict[str, Any]:
    """:func:`probe.evaluate_probe` with the per-document probe: ``features(items)`` gives
    :func:`document_features` (every item's documents in order)."""
    dev_present = [it.oracle_present for it in dev]
    decision = fit_document_decision(features(train), owners(train), document_labels(train),
                                     [it.oracle_present for it in train], features(dev), owners(dev), dev_present,
                                     max_false=max_false, seed=seed, **grid)
    scores = decision.scores(features(items), owners(items), len(items))
    result = scored_replies(scores, decision.threshold, answer, items, grounded=grounded, resamples=resamples,
                            seed=seed, name="document probe")
    return {"layer": decision.layer, "pooling": decision.pooling, "l2": decision.l2, "threshold": decision.threshold,
            "auc": {"train_cv": decision.cv_auc, "calibration": rank_auc(decision.dev_scores, dev_present),
                    "items": rank_auc(scores, [it.oracle_present for it in items])}, **result}

"""A decision probe: whether the documents shown hold the answer, read from a model's hidden states by a
logistic regression trained on abstain-mode examples (the oracle shown or not), its threshold chosen on
development items, then applied unchanged.

The features of an item are the hidden states of a causal LM (the untuned local SmolLM2, or a fine-tune's
``model/``) on the prompt the evaluator builds (the item's system and user turns in the chat template, ready
for the reply): at the prompt's last token (``last``), averaged over the tokens of the question
(``question``), or both side by side (``both``), at one layer. :func:`hidden_features` takes every layer of
``LAYERS`` and both poolings in one forward pass per item.

The probe (:func:`fit_logistic`: features standardized on the train items, L2-penalized logistic
regression, scipy's L-BFGS) scores an item by the log-odds that its oracle is absent. Which layer, pooling
and L2 strength it uses is chosen by cross-validation on the train items alone (:func:`choose_settings`,
out-of-fold AUC); the threshold (abstain when the score is above it) on the development items alone, as the
lowest at which at most ``max_false`` of those shown their oracle are abstained on
(``calibrate.choose_threshold``). Where it does not abstain, the reply is the answering path's reply,
unchanged (:func:`probe_replies`; the default path, :func:`made_answers`, is the model made to answer after
the quoted answer's opening, as ``calibrate.calibrated_replies`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skyplex.errors import InvalidInputError

from .builder import ABSTAIN_TARGET
from .calibrate import chat_text, choose_threshold

#: the hidden-state layers a probe may read (0: the embeddings; 30 would be SmolLM2-135M's last layer): the
#: lower middle ones, so a forward pass stops after layer 16 and never computes the vocabulary's logits
LAYERS = (8, 12, 16)
#: how a layer's states are pooled: the prompt's last token, the question's tokens' mean, or both
POOLINGS = ("last", "question", "both")
#: the L2 strengths cross-validation chooses among (on standardized features, summed log loss)
L2S = (10.0, 100.0)


def question_span(offsets: Sequence[tuple[int, int]], text: str, question: str) -> tuple[int, int]:
    """The tokens (``[start, end)``, by their character ``offsets`` in ``text``) that overlap the question's
    last occurrence in ``text``."""
    at = text.rfind(question.strip())
    if not question.strip() or at < 0:
        raise InvalidInputError(f"question {question!r} is not in its prompt", field="question")
    end = at + len(question.strip())
    inside = [i for i, (a, b) in enumerate(offsets) if a < end and b > at]
    if not inside:
        raise InvalidInputError(f"question {question!r} covers no token of its prompt", field="question")
    return inside[0], inside[-1] + 1


def encode(tokenizer: Any, item: Any) -> tuple[list[int], tuple[int, int]]:
    """The token ids of ``item``'s prompt (its chat turns, ready for the reply) and its question's span."""
    text = chat_text(tokenizer, item.messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(encoded["input_ids"]), question_span(encoded["offset_mapping"], text, item.question)


def pool(hidden: np.ndarray, length: int, span: tuple[int, int]) -> np.ndarray:
    """One layer's features of one prompt: its states (``[positions, width]``, padding after ``length``)
    at the last prompt token and averaged over the question's tokens, side by side (``[2, width]``)."""
    return np.stack([hidden[length - 1], hidden[span[0]:span[1]].mean(axis=0)])


def hidden_features(forward: Callable[[np.ndarray], Sequence[np.ndarray]], encoded: Sequence[tuple[list[int],
                    tuple[int, int]]], *, layers: Sequence[int] = LAYERS, batch: int = 8, pad: int = 0) -> np.ndarray:
    """``[items, layers, 2, width]``: :func:`pool` of every layer of ``layers`` for each encoded prompt.
    ``forward`` maps a batch of ids (``[batch, positions]``, right-padded with ``pad``: a causal model's real
    tokens never see the padding after them) to every layer's states (``[batch, positions, width]`` each).
    Prompts are batched by length, so a batch pads little."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    out: list[np.ndarray | None] = [None] * len(encoded)
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        width = max(len(encoded[i][0]) for i in chunk)
        ids = np.full((len(chunk), width), pad, dtype=np.int64)
        for row, i in enumerate(chunk):
            ids[row, :len(encoded[i][0])] = encoded[i][0]
        states = forward(ids)
        for row, i in enumerate(chunk):
            out[i] = np.stack([pool(np.asarray(states[layer][row]), len(encoded[i][0]), encoded[i][1])
                               for layer in layers])
    return np.stack(out) if out else np.zeros((0, len(layers), 2, 0))


def model_forward(model: Any, upto: int | None = None,
                  prefix: Sequence[int] = ()) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A transformers causal LM as :func:`hidden_features`' ``forward``: the states after the embeddings and
    each layer (float32). With ``upto``, its decoder stops after one layer more than ``upto`` (so the state
    after layer ``upto`` is the full model's, before any final norm) and the logits are never computed. With
    ``prefix`` (ids every prompt starts with, e.g. the chat template's system turn), the prefix's states and
    keys are computed once and each batch that starts with it runs from there: a causal model's states of the
    prefix do not depend on what follows, so the states are the same, for fewer tokens."""
    import copy

    import torch

    decoder = getattr(model, "model", model)
    prefix = list(prefix)
    kept: dict[str, Any] = {}

    def run(**inputs: Any) -> Any:
        layers = decoder.layers
        if upto is not None and upto + 1 < len(layers):
            decoder.layers = layers[:upto + 1]
        try:
            with torch.no_grad():
                return decoder(output_hidden_states=True, **inputs)
        finally:
            decoder.layers = layers

    def forward(ids: np.ndarray) -> list[np.ndarray]:
        if not prefix or ids.shape[1] <= len(prefix) or not (ids[:, :len(prefix)] == prefix).all():
            return [s.float().numpy() for s in run(input_ids=torch.from_numpy(ids)).hidden_states]
        if not kept:
            out = run(input_ids=torch.tensor([prefix]), use_cache=True)
            kept.update(cache=out.past_key_values, states=[s.float().numpy() for s in out.hidden_states])
        cache = copy.deepcopy(kept["cache"])
        cache.batch_repeat_interleave(len(ids))
        rest = run(input_ids=torch.from_numpy(np.ascontiguousarray(ids[:, len(prefix):])), past_key_values=cache,
                   use_cache=True).hidden_states
        return [np.concatenate([np.repeat(head, len(ids), axis=0), tail.float().numpy()], axis=1)
                for head, tail in zip(kept["states"], rest)]

    return forward


def common_prefix(encoded: Sequence[Sequence[int]]) -> list[int]:
    """The ids every one of ``encoded`` starts with, less one, so that each keeps a token of its own."""
    if not encoded:
        return []
    first, n = encoded[0], min(len(e) for e in encoded) - 1
    for e in encoded[1:]:
        n = next((i for i in range(n) if e[i] != first[i]), n)
    return list(first[:max(n, 0)])


def load_model(folder: Any, threads: int | None = None) -> tuple[Any, Any]:
    """The transformers model and tokenizer in ``folder`` (a converted local model or a fine-tune's ``model/``)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    model.eval()
    return model, AutoTokenizer.from_pretrained(str(folder))


def item_features(model: Any, tokenizer: Any, items: Sequence[Any], *, layers: Sequence[int] = LAYERS) -> np.ndarray:
    """:func:`hidden_features` of ``items``' prompts under a transformers ``model``."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [encode(tokenizer, it) for it in items]
    return hidden_features(model_forward(model, max(layers), common_prefix([ids for ids, _ in encoded])), encoded,
                           layers=layers, pad=pad)


def select(features: np.ndarray, layer: int, pooling: str) -> np.ndarray:
    """The design matrix of one layer index (into the features' layers) and pooling."""
    if pooling == "last":
        return features[:, layer, 0]
    if pooling == "question":
        return features[:, layer, 1]
    if pooling == "both":
        return features[:, layer].reshape(len(features), -1)
    raise InvalidInputError(f"pooling {pooling!r}: choose one of {', '.join(POOLINGS)}", field="pooling")


@dataclass(frozen=True)
class LinearProbe:
    """A fitted logistic regression on standardized features: :meth:`score` is the log-odds of "absent"."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def score(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights + self.bias


def fit_logistic(x: np.ndarray, absent: Sequence[bool], l2: float) -> LinearProbe:
    """Minimize the summed log loss of predicting ``absent`` plus ``l2 / 2 * |w|^2`` (the bias unpenalized)."""
    from scipy.optimize import minimize

    y = np.where(np.asarray(absent, dtype=bool), 1.0, -1.0)
    if len(set(y.tolist())) < 2:
        raise InvalidInputError("training a probe needs items with the oracle and without it", field="train")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)
    z = basis = (x - mean) / scale
    if z.shape[1] > z.shape[0]:  # fewer items than features: the same fit in the items' span (the penalty and
        _, _, basis = np.linalg.svd(z, full_matrices=False)  # the optimum lie in it), n weights, not d
        z = z @ basis.T

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        margin = y * (z @ w + b)
        value = np.logaddexp(0.0, -margin).sum() + 0.5 * l2 * w @ w
        g = -y / (1.0 + np.exp(np.clip(margin, -50, 50)))
        return float(value), np.append(z.T @ g + l2 * w, g.sum())

    theta = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B",
                     options={"maxiter": 500}).x
    weights = theta[:-1] if basis is z else basis.T @ theta[:-1]
    return LinearProbe(mean, scale, weights, float(theta[-1]))


def rank_auc(scores: Sequence[float], present: Sequence[bool]) -> float:
    """The chance that an oracle-absent item scores above an oracle-present one (ties half), by ranks."""
    from scipy.stats import rankdata

    present = np.asarray(present, dtype=bool)
    n_absent, n_present = int((~present).sum()), int(present.sum())
    if not n_absent or not n_present:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[~present].sum() - n_absent * (n_absent + 1) / 2) / (n_absent * n_present))


def folds_of(n: int, folds: int, seed: int) -> np.ndarray:
    """Each item's fold, a seeded shuffle dealt round-robin."""
    fold = np.empty(n, dtype=int)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    return fold


def choose_settings(features: np.ndarray, present: Sequence[bool], *, layers: Sequence[int] = LAYERS,
                    poolings: Sequence[str] = POOLINGS, l2s: Sequence[float] = L2S, folds: int = 5,
                    seed: int = 0) -> dict[str, Any]:
    """The layer, pooling and L2 strength whose out-of-fold scores on the train items rank the oracle-absent
    ones above the rest best (AUC; the first of the grid on ties). Only the train items enter."""
    present = np.asarray(present, dtype=bool)
    fold = folds_of(len(present), min(folds, len(present)), seed)
    best: dict[str, Any] = {"auc": -1.0}
    for li, layer in enumerate(layers):
        for pooling in poolings:
            x = select(features, li, pooling)
            for l2 in l2s:
                scores = np.zeros(len(present))
                for f in range(fold.max() + 1):
                    train = fold != f
                    if present[train].all() or not present[train].any():
                        scores[~train] = 0.0
                        continue
                    scores[~train] = fit_logistic(x[train], ~present[train], l2).score(x[~train])
                auc = rank_auc(scores, present)
                if auc > best["auc"]:
                    best = {"layer": layer, "pooling": pooling, "l2": l2, "auc": auc}
    return best


def abstains(score: float, threshold: float) -> bool:
    """The decision rule: abstain when the probe's score (log-odds of "absent") is above the threshold."""
    return score > threshold


@dataclass
class ProbeDecision:
    """A trained probe (settings from the train items) and its threshold (from the development items)."""

    layer: int
    pooling: str
    l2: float
    cv_auc: float
    probe: LinearProbe
    threshold: float
    layers: tuple[int, ...] = LAYERS
    dev_scores: list[float] = field(default_factory=list)

    def scores(self, features: np.ndarray) -> list[float]:
        return self.probe.score(select(features, self.layers.index(self.layer), self.pooling)).tolist()

    def decide(self, features: np.ndarray) -> list[bool]:
        """Per item, whether the probe abstains."""
        return [abstains(s, self.threshold) for s in self.scores(features)]


def fit_decision(train: np.ndarray, train_present: Sequence[bool], dev: np.ndarray, dev_present: Sequence[bool], *,
                 max_false: float = 0.05, layers: Sequence[int] = LAYERS, seed: int = 0,
                 **grid: Any) -> ProbeDecision:
    """Settings by cross-validation on the train features, the probe refit on all of them, the threshold
    chosen on the development features' scores (at most ``max_false`` of those with the oracle abstained
    on). The items it is then applied to play no part."""
    layers = tuple(layers)
    if not 0.0 <= max_false < 1.0:
        raise InvalidInputError(f"max_false={max_false} is outside [0, 1)", field="max_false")
    chosen = choose_settings(train, train_present, layers=layers, seed=seed, **grid)
    x = select(train, layers.index(chosen["layer"]), chosen["pooling"])
    probe = fit_logistic(x, [not p for p in train_present], chosen["l2"])
    dev_scores = probe.score(select(dev, layers.index(chosen["layer"]), chosen["pooling"])).tolist()
    threshold = choose_threshold(dev_scores, list(dev_present), max_false=max_false)
    return ProbeDecision(chosen["layer"], chosen["pooling"], chosen["l2"], chosen["auc"], probe, threshold, layers,
                         dev_scores)


def probe_replies(abstained: Sequence[bool], answer: Callable[[list[int]], Sequence[str]]) -> list[str]:
    """Per item: the abstaining answer where the probe abstains, else the answering path's reply unchanged
    (``answer`` is asked once, for the indices of the items answered, and returns their replies in order)."""
    answered = [i for i, a in enumerate(abstained) if not a]
    made = list(answer(answered)) if answered else []
    if len(made) != len(answered):
        raise ValueError(f"the answering path gave {len(made)} replies for {len(answered)} items")
    replies = dict(zip(answered, made))
    return [ABSTAIN_TARGET if a else replies[i] for i, a in enumerate(abstained)]


def made_answers(backend: Any, tokenizer: Any, items: Sequence[Any], *, max_tokens: int) -> list[str]:
    """The model made to answer every item: the quoted answer's opening and its greedy continuation
    (``calibrate.calibrated_replies`` with a threshold nothing is above)."""
    from .calibrate import calibrated_replies

    return calibrated_replies(backend, tokenizer, items, float("inf"), max_tokens=max_tokens,
                              margins=[0.0] * len(items))


def evaluate_probe(features: Callable[[Sequence[Any]], np.ndarray], answer: Callable[[Sequence[Any]], Sequence[str]],
                   train: Sequence[Any], dev: Sequence[Any], items: Sequence[Any], *, max_false: float = 0.05,
                   grounded: bool = False, resamples: int = 1000, seed: int = 0, **grid: Any) -> dict[str, Any]:
    """The whole procedure on three RAFT splits (``evaluate.load_items``): the probe trained on ``train``,
    its threshold chosen on ``dev``, applied unchanged to ``items``; each reply scored as the evaluator scores
    one (with ``grounded``, kept only when a verbatim quote holds its answer). ``features(items)`` gives
    :func:`hidden_features`, ``answer(items)`` the answering path's replies."""
    decision = fit_decision(features(train), [it.oracle_present for it in train], features(dev),
                            [it.oracle_present for it in dev], max_false=max_false, seed=seed, **grid)
    scores = decision.scores(features(items))
    result = scored_replies(scores, decision.threshold, answer, items, grounded=grounded, resamples=resamples,
                            seed=seed)
    return {"layer": decision.layer, "pooling": decision.pooling, "l2": decision.l2, "threshold": decision.threshold,
            "auc": {"train_cv": decision.cv_auc,
                    "calibration": rank_auc(decision.dev_scores, [it.oracle_present for it in dev]),
                    "items": rank_auc(scores, [it.oracle_present for it in items])}, **result}


def scored_replies(scores: Sequence[float], threshold: float, answer: Callable[[Sequence[Any]], Sequence[str]],
                   items: Sequence[Any], *, grounded: bool = False, resamples: int = 1000, seed: int = 0,
                   name: str = "probe") -> dict[str, Any]:
    """The replies to ``items`` of a probe whose scores are ``scores`` (abstain above ``threshold``, else the
    answering path's reply, with ``grounded`` kept only when a verbatim quote holds its answer), each scored as
    the evaluator scores one: ``item_scores``, ``replies`` and ``scores`` (the summary)."""
    from .evaluate import score_reply, summarize
    from .grounded import grounded_reply, is_supported

    replies = probe_replies([abstains(s, threshold) for s in scores],
                            lambda answered: answer([items[i] for i in answered]))
    if grounded:
        replies = [grounded_reply(r, it.documents) for it, r in zip(items, replies)]
    rows = [{**score_reply(it, r), "oracle_present": it.oracle_present, "supported": float(is_supported(r, it.documents))}
            for it, r in zip(items, replies)]
    return {"item_scores": list(scores), "replies": replies, "scores": summarize(name, rows, resamples=resamples,
                                                                                  seed=seed)}

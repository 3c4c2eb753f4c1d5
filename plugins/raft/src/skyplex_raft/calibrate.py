"""A calibrated abstention decision for abstain-mode models: abstain when the model's log-probability of
the abstaining answer's opening beats that of the quoted answer's opening by more than a threshold, the
threshold chosen on a development split (never on the split that is reported).

An abstain-mode target opens either with ``ABSTAIN_OPENING`` or with ``ANSWER_OPENING``; the two differ
from their second word on, so the difference of their log-probabilities after the prompt (the *abstain
margin*) is how strongly the model leans to abstaining. Greedy decoding abstains when the margin is above
0; a small fine-tune's margins can still separate the two cases while sitting on the wrong side of 0 for
many items. :func:`choose_threshold` picks the lowest threshold whose false abstention on the development
items is at most a bound, and :func:`calibrated_replies` answers held-out items by it: the abstaining
target above the threshold, otherwise the model's own answer generated after ``ANSWER_OPENING``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from skyplex.errors import InvalidInputError

from .builder import ABSTAIN_TARGET, BEGIN
from .evaluate import EvalItem

#: the opening of the abstaining target (builder.Example.target) up to where it has said it abstains
ABSTAIN_OPENING = "##Reason: None of the documents states the answer"
#: the opening of the answering target (builder.answer_target) up to the start of its quote
ANSWER_OPENING = f"##Reason: The document that answers this says {BEGIN}"


def chat_text(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The prompt text of ``messages`` as the model is prompted: its chat template, ready for the reply."""
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


def abstain_margins(backend: Any, tokenizer: Any, items: Sequence[EvalItem], *, batch: int = 4) -> list[float]:
    """Per item, log P(ABSTAIN_OPENING | prompt) - log P(ANSWER_OPENING | prompt) under ``backend`` (a model
    backend with ``score``), the prompt being the item's system and user turns in ``tokenizer``'s template."""
    from skyplex.interfaces import ScoreRequest

    margins: list[float] = []
    for start in range(0, len(items), batch):
        requests = []
        for item in items[start:start + batch]:
            context = chat_text(tokenizer, item.messages)
            requests += [ScoreRequest(context=context, continuation=ABSTAIN_OPENING),
                         ScoreRequest(context=context, continuation=ANSWER_OPENING)]
        scores = backend.score(requests)
        margins += [a.logprob - b.logprob for a, b in zip(scores[::2], scores[1::2])]
    return margins


def choose_threshold(margins: Sequence[float], oracle_present: Sequence[bool], *, max_false: float = 0.05) -> float:
    """The lowest threshold (abstain when margin > threshold) at which the share of ``oracle_present`` items
    abstained on is at most ``max_false``: the most abstention the bound on false abstention allows."""
    if len(margins) != len(oracle_present):
        raise ValueError(f"{len(margins)} margins for {len(oracle_present)} items")
    if not 0.0 <= max_false < 1.0:
        raise InvalidInputError(f"max_false={max_false} is outside [0, 1)", field="max_false")
    present = sorted((m for m, p in zip(margins, oracle_present) if p), reverse=True)
    if not present or len(present) == len(margins):
        raise InvalidInputError("choosing a threshold needs development items with the oracle and without it",
                                field="dev")
    allowed = math.floor(max_false * len(present) + 1e-9)  # false abstentions the bound allows
    return present[allowed]  # the items strictly above it are the `allowed` highest, or fewer on ties


def choose_grounded_threshold(margins: Sequence[float], supported: Sequence[bool], oracle_present: Sequence[bool], *,
                              max_false: float = 0.05) -> float:
    """The lowest threshold for the combined rule -- abstain when the margin is above it or the answer is not
    supported by a verbatim quote (``skyplex_raft.grounded``) -- at which the share of ``oracle_present``
    items abstained on is at most ``max_false``. Unsupported answers are abstained on whatever the
    threshold, so they spend the bound first: ``inf`` (the margin never abstains) when they alone exceed
    it, ``-inf`` (the margin always abstains) when every supported oracle-present item may be abstained on."""
    if not len(margins) == len(supported) == len(oracle_present):
        raise ValueError(f"{len(margins)} margins, {len(supported)} support flags for {len(oracle_present)} items")
    if not 0.0 <= max_false < 1.0:
        raise InvalidInputError(f"max_false={max_false} is outside [0, 1)", field="max_false")
    n_present = sum(oracle_present)
    if n_present == 0 or n_present == len(margins):
        raise InvalidInputError("choosing a threshold needs development items with the oracle and without it",
                                field="dev")
    kept = sorted((m for m, s, p in zip(margins, supported, oracle_present) if p and s), reverse=True)
    allowed = math.floor(max_false * n_present + 1e-9) - (n_present - len(kept))
    if allowed < 0:
        return math.inf
    if allowed >= len(kept):
        return -math.inf
    return kept[allowed]


def abstains(margin: float, threshold: float) -> bool:
    """The decision rule: abstain when the margin is above the threshold."""
    return margin > threshold


def calibrated_replies(backend: Any, tokenizer: Any, items: Sequence[EvalItem], threshold: float, *,
                       max_tokens: int, margins: Sequence[float] | None = None) -> list[str]:
    """Each item's reply under the threshold rule: the abstaining target where the margin is above
    ``threshold``, else ``ANSWER_OPENING`` and the model's greedy continuation of it."""
    from skyplex.interfaces import GenerationParams

    margins = list(margins) if margins is not None else abstain_margins(backend, tokenizer, items)
    replies: dict[int, str] = {i: ABSTAIN_TARGET for i, m in enumerate(margins) if abstains(m, threshold)}
    answering = [i for i in range(len(items)) if i not in replies]
    prompts = [chat_text(tokenizer, items[i].messages) + ANSWER_OPENING for i in answering]
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
    for start in range(0, len(prompts), 8):
        for i, completion in zip(answering[start:start + 8], backend.generate(prompts[start:start + 8], params)):
            replies[i] = ANSWER_OPENING + completion.text
    return [replies[i] for i in range(len(items))]


def roc_auc(margins: Sequence[float], oracle_present: Sequence[bool]) -> float:
    """How well the margin ranks oracle-absent items above oracle-present ones: the chance that a random
    absent item's margin beats a random present one's (ties count half); 0.5 is no better than chance."""
    absent = [m for m, p in zip(margins, oracle_present) if not p]
    present = [m for m, p in zip(margins, oracle_present) if p]
    if not absent or not present:
        return float("nan")
    wins = sum((a > b) + 0.5 * (a == b) for a in absent for b in present)
    return wins / (len(absent) * len(present))

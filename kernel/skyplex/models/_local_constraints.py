"""Grammar-constrained decoding for the local backend, with llguidance.

A request's :class:`~skyplex.interfaces.OutputConstraint` (a JSON Schema, a regex or a Lark grammar)
becomes one llguidance matcher per sequence. The decode loop calls the sequence's logits processor
before choosing each token: the processor first feeds the matcher the tokens chosen since its last
call, then masks every token the grammar does not allow next (the end-of-turn token is allowed only
where the grammar may end). Greedy or sampled, the output therefore always parses.

llguidance and torch are imported on first use only.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import InvalidInputError
from ..interfaces.model import OutputConstraint


def grammar_of(constraint: OutputConstraint) -> str:
    """The llguidance grammar for ``constraint``; a malformed one is refused naming the field."""
    from llguidance import LLMatcher

    if constraint.type == "json":
        grammar = LLMatcher.grammar_from_json_schema(constraint.json_schema or {"type": "object"})
        field = "response_format.json_schema.schema"
    elif constraint.type == "regex":
        if not constraint.pattern:
            raise InvalidInputError("a regex constraint needs a pattern", field="constraint.pattern")
        grammar = LLMatcher.grammar_from_regex(constraint.pattern)
        field = "constraint.pattern"
    else:
        if not constraint.grammar:
            raise InvalidInputError("a lark constraint needs a grammar", field="constraint.grammar")
        grammar = LLMatcher.grammar_from_lark(constraint.grammar)
        field = "constraint.grammar"
    ok, _, errors = _validate(grammar)
    if not ok:
        raise InvalidInputError(f"the output constraint cannot be used: {errors}", field=field)
    return grammar


def _validate(grammar: str) -> tuple[bool, list[str], str]:
    from llguidance import LLMatcher

    is_error, messages = LLMatcher.validate_grammar_with_warnings(grammar)
    return not is_error, list(messages or []), "; ".join(messages or []) or "invalid grammar"


class GrammarTokenizer:
    """The model's tokenizer as llguidance sees it, built once (about a second) and shared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokenizer: Any = None

    def get(self, hf_tokenizer: Any) -> Any:
        with self._lock:
            if self._tokenizer is None:
                import llguidance.hf

                self._tokenizer = llguidance.hf.from_tokenizer(hf_tokenizer)
            return self._tokenizer


class ConstrainedLogits:
    """Logits processor of one sequence: masks the tokens its grammar forbids next."""

    def __init__(self, tokenizer: Any, grammar: str) -> None:
        import llguidance
        import llguidance.torch as lt

        self._lt = lt
        self.matcher = llguidance.LLMatcher(tokenizer, grammar)
        if self.matcher.is_error():
            raise InvalidInputError(f"the output constraint cannot be used: {self.matcher.get_error()}", field="constraint")
        self.vocab = tokenizer.vocab_size
        self.mask = lt.allocate_token_bitmask(1, self.vocab)
        self.consumed = 0

    def __call__(self, seq: Any, logits: Any) -> Any:
        for token in seq.token_ids[self.consumed :]:
            if not self.matcher.consume_token(token):  # cannot happen: every chosen token was allowed
                raise RuntimeError(f"constrained decoding: token {token} rejected: {self.matcher.get_error()}")
        self.consumed = len(seq.token_ids)
        self._lt.fill_next_token_bitmask(self.matcher, self.mask, 0)
        masked = logits[: self.vocab].clone().unsqueeze(0)
        self._lt.apply_token_bitmask_inplace(masked, self.mask)
        if logits.shape[0] > self.vocab:  # padded vocabulary rows are never allowed
            import torch

            pad = logits.new_full((1, logits.shape[0] - self.vocab), float("-inf"))
            masked = torch.cat([masked, pad], dim=-1)
        return masked[0]


def attach(backend: Any, seqs: list[Any], constraint: OutputConstraint | None) -> None:
    """Give each sequence its own constrained-decoding processor (no-op without a constraint)."""
    if constraint is None:
        return
    grammar = grammar_of(constraint)
    # one llguidance tokenizer per backend, made on the first constrained request
    shared = backend.__dict__.setdefault("_grammar_tokenizer", GrammarTokenizer())
    tokenizer = shared.get(backend._tokenizer_loaded())
    for seq in seqs:
        seq.logits_processor = ConstrainedLogits(tokenizer, grammar)

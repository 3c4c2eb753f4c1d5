"""Weighting the loss on an answer's opening tokens (where an abstain-mode answer decides between quoting and
abstaining): the per-position weights searched with hypothesis, the weighted loss checked against a direct
computation, and, on the real SmolLM2, equal to the model's own loss when every weight is 1."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft.finetune import (
    LoraOptions,
    encode_example,
    fingerprint,
    lora_options_from,
    token_weights,
    weighted_loss,
)

labels_st = st.lists(st.one_of(st.just(-100), st.integers(0, 50)), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(labels=labels_st, opening=st.integers(0, 10), weight=st.floats(0.1, 50))
def test_weights_follow_the_answer_tokens(labels, opening, weight):
    weights = token_weights(labels, opening, weight)
    assert len(weights) == len(labels)
    answer = [w for w, lab in zip(weights, labels) if lab != -100]
    assert all(w == 0.0 for w, lab in zip(weights, labels) if lab == -100)
    n = min(opening, len(answer))
    assert answer[:n] == [weight] * n and answer[n:] == [1.0] * (len(answer) - n)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 3), width=st.integers(2, 12), vocab=st.integers(2, 9), opening=st.integers(0, 4),
       weight=st.floats(0.5, 20), seed=st.integers(0, 10_000))
def test_the_weighted_loss_is_the_weighted_mean_of_next_token_losses(rows, width, vocab, opening, weight, seed):
    import torch

    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, width, vocab, generator=gen)
    labels = torch.randint(0, vocab, (rows, width), generator=gen)
    labels[:, : width // 2] = -100  # the prompt
    weights = torch.tensor([token_weights(r, opening, weight) for r in labels.tolist()])
    got = float(weighted_loss(logits, labels, weights))
    total, norm = 0.0, 0.0
    for r in range(rows):
        for t in range(1, width):  # position t is predicted from the logits at t - 1
            if labels[r, t] != -100:
                logp = torch.log_softmax(logits[r, t - 1], -1)[labels[r, t]]
                total += -float(logp) * float(weights[r, t])
                norm += float(weights[r, t])
    assert got == pytest.approx(total / norm, rel=1e-5)


def test_options_are_checked_and_the_default_run_keeps_its_fingerprint(tmp_path):
    with pytest.raises(InvalidInputError, match="opening_tokens=-1"):
        lora_options_from({"opening_tokens": -1})
    with pytest.raises(InvalidInputError, match="opening_weight=0.0"):
        lora_options_from({"opening_tokens": 4, "opening_weight": 0})
    data = tmp_path / "d.jsonl"
    data.write_text("{}\n")
    assert fingerprint(data, "local", LoraOptions()) == fingerprint(data, "local", LoraOptions(opening_weight=1.0))
    assert fingerprint(data, "local", LoraOptions()) != fingerprint(data, "local", LoraOptions(opening_tokens=4,
                                                                                              opening_weight=5))


@pytest.mark.timeout(600)
def test_unit_weights_give_the_model_s_own_loss(skyplex_model_cache_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skyplex.models.local import LocalBackend

    folder = LocalBackend(data_dir=skyplex_model_cache_dir).cache_dir  # the converted model, loaded here directly
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    messages = [{"role": "user", "content": "<DOCUMENT>The Quorlo Mill was founded in 1420.</DOCUMENT>\n\n"
                                            "Question: When was the Quorlo Mill founded?"},
                {"role": "assistant", "content": "##Reason: The document says so.\n<ANSWER>: 1420"}]
    ids, labels, _ = encode_example(tokenizer, messages, 512)
    input_ids, label_t = torch.tensor([ids]), torch.tensor([labels])
    with torch.no_grad():
        out = model(input_ids=input_ids, labels=label_t)
        plain = weighted_loss(out.logits, label_t, torch.tensor([token_weights(labels, 4, 1.0)]))
        heavy = weighted_loss(out.logits, label_t, torch.tensor([token_weights(labels, 4, 10.0)]))
    assert float(plain) == pytest.approx(float(out.loss), rel=1e-4)
    assert math.isfinite(float(heavy)) and float(heavy) != pytest.approx(float(plain), rel=1e-6)

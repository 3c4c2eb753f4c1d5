"""K samples from a server that takes one seed per request (vLLM): K different samples, not K copies
(the kernel's server backends send prompt i of a seeded batch with seed + i).

Runs against the real vLLM CPU build (``.venv-vllm``) through the kernel's session fixture, which
skips with the reason where vLLM is not installed (and fails instead under SKYPLEX_REQUIRE_VLLM).
"""

from __future__ import annotations

from skyplex.interfaces.model import GenerationParams
from skyplex_voting.sampling import Query, sample_task


def test_vllm_samples_differ_and_each_has_its_own_seed(skyplex_vllm_backend, monkeypatch):
    sent: list[GenerationParams] = []
    generate = skyplex_vllm_backend.generate

    def recording(prompts, params=None):
        sent.append(params)
        return generate(prompts, params)

    monkeypatch.setattr(skyplex_vllm_backend, "generate", recording)
    query = Query(id="word", prompt="Here is a random English word:", answer="x")
    (record,) = sample_task(skyplex_vllm_backend, [query], 8, temperature=1.0, max_tokens=6, seed=40,
                            answer_kind="text")
    assert len(record["texts"]) == 8
    # one batch of eight copies with seed 40; the backend sends them with seeds 40..47
    assert [p.seed for p in sent] == [40]
    # eight temperature-1 continuations of an open prompt: one seed for all gave one text eight times
    assert len(set(record["texts"])) >= 3, record["texts"]

"""The live arena: contestants, battles (pair choice, streamed answers), votes, and stored-vote leaderboards.

A contestant is a model *configuration*: a kernel model backend plus generation settings and an
optional system prompt, so two configurations of the same local model can battle each other.
Contestants come from the settings (``plugins: {arena: {contestants: [...]}}``) or default to three
configurations of the kernel's default model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field
from skyplex.errors import InvalidInputError, NotFoundError
from skyplex.interfaces import ChatMessage, GenerationParams, Subject
from skyplex.interfaces.common import SkyplexModel
from skyplex.validation import validate

from .anomaly import flag_voters
from .battles import BattleSet, battles_from_records
from .leaderboard import Leaderboard, build_leaderboard
from .sampling import SamplingRule, choose_pair
from .store import ArenaStore
from .style import style_features

if TYPE_CHECKING:
    from skyplex import Kernel

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 8000


class Contestant(SkyplexModel):
    """One model configuration that can be sent into battle."""

    name: str = Field(min_length=1, max_length=200)
    backend: str = Field(default="local", description="Kernel model backend that answers.")
    system_prompt: str | None = None
    temperature: float = Field(default=0.0, ge=0.0, le=5.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=128, ge=1, le=32768)
    seed: int | None = None

    @classmethod
    def from_subject(cls, subject: Subject) -> Contestant:
        """A contestant from an evaluator Subject (``params`` hold the generation settings)."""
        return cls(name=subject.name, backend=subject.backend or "local", **subject.params)

    def params(self) -> GenerationParams:
        return GenerationParams(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                                seed=self.seed)

    def messages(self, prompt: str) -> list[ChatMessage]:
        msgs = [ChatMessage(role="system", content=self.system_prompt)] if self.system_prompt else []
        return [*msgs, ChatMessage(role="user", content=prompt)]


def default_contestants(backend: str = "local") -> list[Contestant]:
    """Three configurations of one backend: greedy, sampled, and told to be brief."""
    return [
        Contestant(name=f"{backend}-greedy", backend=backend, temperature=0.0),
        Contestant(name=f"{backend}-sampled", backend=backend, temperature=0.9, top_p=0.95),
        Contestant(name=f"{backend}-concise", backend=backend, temperature=0.3,
                   system_prompt="Answer in one or two short sentences."),
    ]


class ArenaService:
    """Runs battles against the kernel's model backends and keeps battles and votes in its store."""

    def __init__(self, kernel: Kernel, *, contestants: Sequence[Contestant | dict[str, Any]] | None = None,
                 sampling: SamplingRule = "active", seed: int | None = None) -> None:
        options = kernel.settings.plugins.get("arena", {})
        raw = contestants if contestants is not None else options.get("contestants")
        if raw is None:
            chosen = default_contestants(kernel.settings.default_model)
        else:
            chosen = [c if isinstance(c, Contestant) else validate(Contestant, c, where=f"plugins.arena.contestants[{i}]")
                      for i, c in enumerate(raw)]
        names = [c.name for c in chosen]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"contestant names must be unique, got {names}", field="contestants")
        if len(chosen) < 2:
            raise InvalidInputError(f"the arena needs at least two contestants, got {names}", field="contestants")
        self.kernel = kernel
        self.contestants = {c.name: c for c in chosen}
        self.sampling: SamplingRule = options.get("sampling", sampling)
        self.votes = ArenaStore(kernel.store)
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()

    # battles ----------------------------------------------------------------------------------
    def start_battle(self, prompt: str, voter: str | None = None) -> str:
        """Choose a pair (active sampling over the stored votes) and store a new battle; its id."""
        prompt = (prompt or "").strip()
        if not prompt:
            raise InvalidInputError("the prompt is empty; type something for both models to answer", field="prompt")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidInputError(f"the prompt has {len(prompt)} characters; the arena takes at most "
                                    f"{MAX_PROMPT_CHARS}", field="prompt")
        names = list(self.contestants)
        counts = self.votes.pair_counts(names)
        with self._rng_lock:
            a, b = choose_pair(names, counts, self._current_ratings(names), rule=self.sampling, rng=self._rng)
        battle_id = self.votes.create_battle(prompt, a, b, voter)
        log.info("battle %s started", battle_id)
        return battle_id

    def _current_ratings(self, names: list[str]) -> dict[str, float] | None:
        """Ratings of the contestants from the stored votes (None while there are too few to fit)."""
        records = [r for r in self.votes.votes() if r["model_a"] in self.contestants and r["model_b"] in self.contestants]
        if len(records) < 2:
            return None
        try:
            from .ratings import fit_bradley_terry

            return fit_bradley_terry(battles_from_records(records), on_degenerate="regularise").rating_of()
        except InvalidInputError:
            return None

    def stream_answer(self, battle_id: str, side: str) -> Iterator[str]:
        """Text pieces of side ``a`` or ``b``'s answer; the finished answer and its style are stored.

        A side that already answered is replayed from the store, so a reloaded page never reruns a model.
        """
        if side not in ("a", "b"):
            raise InvalidInputError(f"side must be 'a' or 'b', got {side!r}", field="side")
        battle = self.votes.battle(battle_id)
        if battle[f"answer_{side}"] is not None:
            yield battle[f"answer_{side}"]
            return
        contestant = self.contestants.get(battle[f"model_{side}"])
        if contestant is None:
            raise NotFoundError(f"battle {battle_id!r} used contestant {battle[f'model_{side}']!r}, which is no "
                                "longer configured", field="battle_id")
        backend = self.kernel.models.get(contestant.backend)
        pieces: list[str] = []
        for piece in backend.stream(contestant.messages(battle["prompt"]), contestant.params()):
            pieces.append(piece)
            yield piece
        text = "".join(pieces)
        self.votes.save_answer(battle_id, side, text, style_features(text, backend.count_tokens))

    def vote(self, battle_id: str, winner: str, voter: str | None = None) -> dict[str, Any]:
        """Store the vote and reveal the two contestants."""
        done = self.votes.vote(battle_id, winner, voter)
        return {"battle_id": battle_id, "winner": done["winner"], "model_a": done["model_a"],
                "model_b": done["model_b"], "voter": done["voter"]}

    # leaderboards over stored votes ----------------------------------------------------------------
    def stored_battles(self) -> BattleSet:
        """Every stored vote as a BattleSet (an error when there are none yet)."""
        records = self.votes.votes()
        if not records:
            raise InvalidInputError("no votes are stored yet; vote on the arena page or import a votes file",
                                    field="votes")
        return battles_from_records(records, source="stored votes")

    def leaderboard(self, *, exclude_flagged: bool = False, **options: Any) -> Leaderboard:
        """A leaderboard of the stored votes, optionally without the votes of flagged voters."""
        battles = self.stored_battles()
        excluded: list[str] = []
        if exclude_flagged and any(v is not None for v in battles.voters):
            excluded = [c.voter for c in flag_voters(battles) if c.flagged]
        return build_leaderboard(battles, exclude_voters=excluded, **options)

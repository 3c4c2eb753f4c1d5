"""The arena's tables in the kernel store: battles (prompt, hidden pair, answers) and votes.

A vote is written once and never overwritten or deleted by the arena: a second vote for the same
battle, or a vote for a battle that does not exist or has no answers yet, is refused with an error
and leaves the stored votes as they were. The same vote sent again (same winner and voter: a retry
after the first answer was lost) is answered as the first one was and stores nothing more; the
battle id is the vote's idempotency key.

Imported votes are keyed apart from the arena's own: a page vote's key is its battle id, an
imported vote's key is ``import:`` + its record id, so no import can take the key of a battle still
waiting for its vote. A record without an id is keyed by the digest of the batch it came in and its
position there, so importing the same file twice adds nothing the second time, and two different
files without ids never shadow each other's votes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import JSON, Column, Index, MetaData, String, Table, Text, func, select
from sqlalchemy.exc import IntegrityError
from skyplex.errors import InvalidInputError, NotFoundError, SkyplexError
from skyplex.store import Store, UTCDateTime, utcnow

from .battles import OUTCOMES, STYLE_FEATURES, battles_from_records, categories_of, parse_winner, style_of

log = logging.getLogger(__name__)

#: the key prefix of imported votes (page votes are keyed by their 32-hex battle id)
IMPORT_PREFIX = "import:"
#: how often an import re-reads what is stored after a concurrent import took some of its ids
IMPORT_ATTEMPTS = 5

metadata = MetaData()

battles_table = Table(
    "arena_battles",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("voter", String(200), nullable=True),
    Column("prompt", Text, nullable=False),
    Column("model_a", String(200), nullable=False),
    Column("model_b", String(200), nullable=False),
    Column("answer_a", Text, nullable=True),
    Column("answer_b", Text, nullable=True),
    Column("style_a", JSON, nullable=True),
    Column("style_b", JSON, nullable=True),
)

votes_table = Table(
    "arena_votes",
    metadata,
    Column("id", String(200), primary_key=True, doc="the battle id for page votes; the record id for imports"),
    Column("battle_id", String(32), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("voter", String(200), nullable=True),
    Column("model_a", String(200), nullable=False),
    Column("model_b", String(200), nullable=False),
    Column("winner", String(16), nullable=False),
    Column("style_a", JSON, nullable=True),
    Column("style_b", JSON, nullable=True),
    Column("category", JSON, nullable=True),
    Column("source", String(200), nullable=False, default="page"),
    Index("ix_arena_votes_created_at", "created_at"),
    Index("ix_arena_votes_voter", "voter"),
)


class ConflictError(SkyplexError):
    """The request conflicts with what is stored (a second vote on one battle, voting before the answers)."""

    status_code = 409
    error_type = "conflict_error"


class ArenaStore:
    """Battles and votes in the kernel's store (tables are created on first use)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.create_tables(metadata)

    # battles ----------------------------------------------------------------------------------
    def create_battle(self, prompt: str, model_a: str, model_b: str, voter: str | None = None) -> str:
        """Store a new battle and return its id."""
        battle_id = uuid.uuid4().hex
        with self.store.begin() as conn:
            conn.execute(battles_table.insert().values(id=battle_id, created_at=utcnow(), voter=voter, prompt=prompt,
                                                       model_a=model_a, model_b=model_b))
        return battle_id

    def battle(self, battle_id: str) -> dict[str, Any]:
        """One battle as a dict, or NotFoundError."""
        with self.store.connect() as conn:
            row = conn.execute(select(battles_table).where(battles_table.c.id == battle_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no battle {battle_id!r}; start one with POST /plugins/arena/battles", field="battle_id")
        return dict(row)

    def save_answer(self, battle_id: str, side: str, text: str, style: Mapping[str, float]) -> None:
        """Record the finished answer of side ``a`` or ``b``."""
        if side not in ("a", "b"):
            raise InvalidInputError(f"side must be 'a' or 'b', got {side!r}", field="side")
        with self.store.begin() as conn:
            conn.execute(battles_table.update().where(battles_table.c.id == battle_id)
                         .values(**{f"answer_{side}": text, f"style_{side}": dict(style)}))

    # votes ------------------------------------------------------------------------------------
    def vote(self, battle_id: str, winner: str, voter: str | None = None) -> dict[str, Any]:
        """Record the vote on ``battle_id`` and return the battle with both model names revealed.

        Refused (and nothing written) for an unknown winner label, an unknown battle, a battle whose
        answers are not both finished, or one that already has another vote; the same vote again (a
        retry) is answered like the first and writes nothing.
        """
        code = parse_winner(winner)
        battle = self.battle(battle_id)
        if battle["answer_a"] is None or battle["answer_b"] is None:
            raise ConflictError(f"battle {battle_id!r} is still answering; vote once both answers have finished",
                                field="battle_id")
        values = dict(id=battle_id, battle_id=battle_id, created_at=utcnow(), voter=voter or battle["voter"],
                      model_a=battle["model_a"], model_b=battle["model_b"], winner=OUTCOMES[code],
                      style_a=battle["style_a"], style_b=battle["style_b"], category=None, source="page")
        try:
            with self.store.begin() as conn:
                conn.execute(votes_table.insert().values(**values))
        except IntegrityError:
            stored = self._page_vote(battle_id)
            if stored is not None and (stored["winner"], stored["voter"]) == (values["winner"], values["voter"]):
                # the same vote sent again (a retry after a lost answer): it is already stored, once;
                # say so as the first time did, so a client that retries never thinks its vote was lost
                return {**battle, "winner": stored["winner"], "voter": stored["voter"]}
            raise ConflictError(f"battle {battle_id!r} already has a vote; each battle takes one vote, and the "
                                "first one stands", field="battle_id") from None
        return {**battle, "winner": OUTCOMES[code], "voter": values["voter"]}

    def _page_vote(self, battle_id: str) -> dict[str, Any] | None:
        """The stored vote of a battle (winner, voter), or None."""
        with self.store.connect() as conn:
            row = conn.execute(select(votes_table.c.winner, votes_table.c.voter)
                               .where(votes_table.c.battle_id == battle_id)).mappings().first()
        return None if row is None else dict(row)

    def import_records(self, records: Iterable[Mapping[str, Any]], *, source: str = "import") -> dict[str, int]:
        """Store battle records (common format) as votes; validates all first, then writes in one transaction.

        Records whose id is already stored are skipped (counted in ``duplicates``), so a re-import is harmless.
        """
        records = list(records)
        source = str(source)[:200]
        battles_from_records(records, source=source)  # raises on bad labels, missing models, empty input
        batch = _batch_digest(records)
        rows, seen, plain_ids = [], set(), {}
        self_battles = repeated = 0
        for n, rec in enumerate(records, start=1):
            if rec.get("model_a") == rec.get("model_b"):
                self_battles += 1
                continue
            own = rec.get("id")
            record_id = str(own) if own not in (None, "") else f"{batch}#{n}"
            _check_lengths(rec, record_id, n, source)
            vote_id = IMPORT_PREFIX + record_id
            if vote_id in seen:
                repeated += 1
                continue
            seen.add(vote_id)
            plain_ids[vote_id] = record_id
            sa, sb = style_of(rec, "a"), style_of(rec, "b")
            voter = rec.get("voter", rec.get("voter_id", rec.get("judge")))
            rows.append(dict(
                id=vote_id, battle_id=None, created_at=utcnow(), voter=None if voter is None else str(voter),
                model_a=rec["model_a"], model_b=rec["model_b"], winner=OUTCOMES[parse_winner(rec["winner"])],
                style_a=dict(zip(STYLE_FEATURES, sa)) if sa and sb else None,
                style_b=dict(zip(STYLE_FEATURES, sb)) if sa and sb else None,
                category=list(categories_of(rec)) or None, source=source,
            ))
        for attempt in range(IMPORT_ATTEMPTS):
            try:
                fresh = self._insert_fresh(rows, plain_ids)
                break
            except IntegrityError:
                # another import stored some of these votes between our read and our insert (PostgreSQL
                # does not order the two transactions; SQLite's write lock does): read again, insert the rest
                if attempt == IMPORT_ATTEMPTS - 1:
                    raise
        log.info("imported %d vote(s) from %s (%d already stored)", len(fresh), source, len(rows) - len(fresh))
        return {"imported": len(fresh), "duplicates": len(rows) - len(fresh) + repeated, "self_battles": self_battles}

    def _insert_fresh(self, rows: list[dict[str, Any]], plain_ids: dict[str, str]) -> list[dict[str, Any]]:
        """Insert the rows not yet stored, in one transaction; the rows inserted."""
        with self.store.begin() as conn:
            # already stored: under its import key, or under its bare id (a page vote exported from this
            # store and imported back, whose id is its battle id; or a vote imported before keys had prefixes)
            existing = set()
            keys = [r["id"] for r in rows] + [plain_ids[r["id"]] for r in rows]
            for k in range(0, len(keys), 500):
                existing |= set(conn.execute(select(votes_table.c.id).where(votes_table.c.id.in_(keys[k:k + 500])))
                                .scalars())
            fresh = [r for r in rows if r["id"] not in existing and plain_ids[r["id"]] not in existing]
            if fresh:
                conn.execute(votes_table.insert(), fresh)
        return fresh

    def votes(self, *, limit: int | None = None, voter: str | None = None) -> list[dict[str, Any]]:
        """Stored votes in the common battle format, oldest first (``limit``: the newest ``limit``)."""
        q = select(votes_table)
        if voter is not None:
            q = q.where(votes_table.c.voter == voter)
        if limit is not None:
            q = q.order_by(votes_table.c.created_at.desc(), votes_table.c.id.desc()).limit(limit)
        else:
            q = q.order_by(votes_table.c.created_at, votes_table.c.id)
        with self.store.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        if limit is not None:
            rows.reverse()
        out = []
        for r in rows:
            rec = {"id": r["id"].removeprefix(IMPORT_PREFIX), "model_a": r["model_a"], "model_b": r["model_b"], "winner": r["winner"],
                   "voter": r["voter"], "tstamp": r["created_at"].isoformat(), "source": r["source"]}
            if r["battle_id"]:
                rec["battle_id"] = r["battle_id"]
            if r["category"]:
                rec["category"] = r["category"]
            if r["style_a"] and r["style_b"]:
                rec["style_a"], rec["style_b"] = r["style_a"], r["style_b"]
            out.append(rec)
        return out

    def count(self) -> int:
        """How many votes are stored."""
        with self.store.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(votes_table)).scalar_one())

    def pair_counts(self, models: Iterable[str]) -> dict[tuple[str, str], int]:
        """Votes so far per sorted pair among ``models`` (for active sampling)."""
        wanted = set(models)
        q = select(votes_table.c.model_a, votes_table.c.model_b, func.count()).group_by(
            votes_table.c.model_a, votes_table.c.model_b)
        out: dict[tuple[str, str], int] = {}
        with self.store.connect() as conn:
            for a, b, n in conn.execute(q):
                if a in wanted and b in wanted:
                    key = (min(a, b), max(a, b))
                    out[key] = out.get(key, 0) + int(n)
        return out


#: longest record id, model name and voter a vote can carry (the columns hold 200 characters)
MAX_ID_CHARS = 200 - len(IMPORT_PREFIX)
MAX_NAME_CHARS = 200


def _check_lengths(rec: Mapping[str, Any], record_id: str, n: int, source: str) -> None:
    """Refuse fields longer than their columns (PostgreSQL would reject the whole batch mid-write)."""
    if len(record_id) > MAX_ID_CHARS:
        raise InvalidInputError(f"{source}: battle #{n} has an id of {len(record_id)} characters; ids take at most "
                                f"{MAX_ID_CHARS}", field="id")
    voter = rec.get("voter", rec.get("voter_id", rec.get("judge")))
    for name, value in (("model_a", rec.get("model_a")), ("model_b", rec.get("model_b")), ("voter", voter)):
        if value is not None and len(str(value)) > MAX_NAME_CHARS:
            raise InvalidInputError(f"{source}: battle #{n} has a {name} of {len(str(value))} characters; at most "
                                    f"{MAX_NAME_CHARS}", field=name)


def _batch_digest(records: list[Mapping[str, Any]]) -> str:
    """A short digest of a batch of records (the key of its id-less votes, with their positions)."""
    text = json.dumps(records, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()[:16]

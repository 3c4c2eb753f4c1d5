"""The undo journal: every action's current state plus an append-only, hash-chained event log.

Each state change appends an event whose hash covers the previous event's hash, so editing, deleting
or reordering past events breaks the chain (``verify``). Intent is written before anything happens
(``run-started``, ``commit-intent`` with the pre-images, ``undo-intent``) and the outcome after, so a
restart can tell exactly which actions were interrupted and how far they got.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skyplex.store import Store, UTCDateTime, utcnow
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, Text, desc, select, text

metadata = MetaData()

actions = Table(
    "goex_actions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    # finer than status: what was in flight when the process died (running, committing, undoing)
    Column("phase", String(16), nullable=False, default="idle"),
    Column("classification", String(16), nullable=False),
    Column("approved", Boolean, nullable=False, default=False),
    Column("action", JSON, nullable=False),
    Column("preview", JSON, nullable=True),
    Column("undo_data", JSON, nullable=True),
    Column("outcome", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("seq", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

events = Table(
    "goex_journal",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("action_id", String(32), nullable=False, index=True),
    Column("event", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON, exactly as hashed
    Column("at", String(40), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x60E7_0001


def canonical(data: Any) -> str:
    """The one JSON text of ``data`` that is hashed (sorted keys, no spaces, no NaN)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def event_hash(prev_hash: str, seq: int, action_id: str, event: str, status: str, data: str, at: str) -> str:
    body = canonical([seq, action_id, event, status, data, at])
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass
class JournalProblem:
    seq: int
    problem: str


class UndoJournal:
    """Actions and their hash-chained events, in the kernel's store (SQLite WAL or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.create_tables(metadata)

    # writing --------------------------------------------------------------------------------------
    def create(self, row: dict[str, Any], data: dict[str, Any]) -> None:
        """Insert a new action and its first event in one transaction."""
        with self.store.begin() as conn:
            seq = self._append(conn, row["id"], "proposed", row["status"], data)
            conn.execute(actions.insert().values(**row, seq=seq))

    def transition(self, action_id: str, event: str, data: dict[str, Any] | None = None, **fields: Any) -> None:
        """Update the action's row and append the event describing why, atomically."""
        with self.store.begin() as conn:
            status = fields.get("status")
            if status is None:
                status = conn.execute(select(actions.c.status).where(actions.c.id == action_id)).scalar_one()
            seq = self._append(conn, action_id, event, status, data or {})
            conn.execute(actions.update().where(actions.c.id == action_id).values(**fields, seq=seq, updated_at=utcnow()))

    def _append(self, conn, action_id: str, event: str, status: str, data: dict[str, Any]) -> int:
        if self.store.dialect == "postgresql":  # SQLite is already serialised by BEGIN IMMEDIATE
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        last = conn.execute(select(events.c.seq, events.c.hash).order_by(desc(events.c.seq)).limit(1)).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        body = canonical(data)
        at = utcnow().isoformat()
        conn.execute(events.insert().values(
            seq=seq, action_id=action_id, event=event, status=status, data=body, at=at, prev_hash=prev,
            hash=event_hash(prev, seq, action_id, event, status, body, at)))
        return seq

    # reading --------------------------------------------------------------------------------------
    def get(self, action_id: str) -> dict[str, Any] | None:
        with self.store.connect() as conn:
            row = conn.execute(select(actions).where(actions.c.id == action_id)).mappings().first()
        return dict(row) if row else None

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.store.connect() as conn:
            rows = conn.execute(select(actions).order_by(desc(actions.c.created_at), desc(actions.c.seq))
                                .limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def in_phase(self, *phases: str) -> list[dict[str, Any]]:
        with self.store.connect() as conn:
            rows = conn.execute(select(actions).where(actions.c.phase.in_(phases)).order_by(actions.c.seq)).mappings()
            return [dict(r) for r in rows]

    def committed_after(self, created_at: datetime, kind: str) -> list[dict[str, Any]]:
        """Committed (not undone) actions of ``kind`` proposed after ``created_at``, newest first."""
        with self.store.connect() as conn:
            rows = conn.execute(select(actions).where(
                actions.c.kind == kind, actions.c.status == "committed", actions.c.created_at > created_at,
            ).order_by(desc(actions.c.created_at))).mappings()
            return [dict(r) for r in rows]

    def events(self, action_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Events in order (of one action, or all), data decoded."""
        q = select(events).order_by(events.c.seq)
        if action_id is not None:
            q = q.where(events.c.action_id == action_id)
        with self.store.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        if limit is not None:
            rows = rows[-limit:]
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows

    def verify(self) -> list[JournalProblem]:
        """Every break in the chain and every action whose row disagrees with its last event; [] when intact."""
        problems: list[JournalProblem] = []
        prev = GENESIS
        last_status: dict[str, tuple[int, str]] = {}
        with self.store.connect() as conn:
            rows = conn.execute(select(events).order_by(events.c.seq)).mappings().all()
            states = {r.id: (r.seq, r.status) for r in conn.execute(select(actions.c.id, actions.c.seq, actions.c.status))}
        expected_seq = 1
        for r in rows:
            if r["seq"] != expected_seq:
                problems.append(JournalProblem(r["seq"], f"event {expected_seq} is missing"))
            expected_seq = r["seq"] + 1
            if r["prev_hash"] != prev:
                problems.append(JournalProblem(r["seq"], "previous-hash link broken (an earlier event was altered or removed)"))
            h = event_hash(r["prev_hash"], r["seq"], r["action_id"], r["event"], r["status"], r["data"], r["at"])
            if h != r["hash"]:
                problems.append(JournalProblem(r["seq"], "event content does not match its hash (it was altered)"))
            prev = r["hash"]
            last_status[r["action_id"]] = (r["seq"], r["status"])
        for action_id, (seq, status) in states.items():
            if last_status.get(action_id) != (seq, status):
                problems.append(JournalProblem(seq, f"action {action_id}: stored state {status!r} is not what its journal says"))
        return problems

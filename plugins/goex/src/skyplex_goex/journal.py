"""The undo journal: every action's current state plus an append-only, hash-chained event log.

Each state change appends an event whose hash covers the previous event's hash, so editing, deleting
or reordering past events breaks the chain (``verify``). Intent is written before anything happens
(``run-started``, ``commit-intent`` with the pre-images, ``undo-intent``) and the outcome after, so a
restart can tell exactly which actions were interrupted and how far they got.

Every event also carries ``row``: the digest of every field of the action's row that run, commit, undo
and recovery read (kind, status, phase, classification, approval, action, preview, undo data,
outcome). A row is only acted on (:meth:`UndoJournal.get_verified`) or moved on (``transition``) when
it matches the digest in its last event and that event matches its hash; so an edited preview, root
or undo data is refused, never acted on. The chain's head (last sequence number and hash) is also
kept in a file outside the database (``head_path``), so removing events from the end, even together
with rolling the row back, is detected.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skyplex.errors import SkyplexError
from skyplex.store import Store, UTCDateTime, utcnow

from .faults import NO_FAULTS, FaultPoints
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


#: the row fields an action's steps read; their digest goes into every event
ACTED_ON = ("kind", "status", "phase", "classification", "approved", "action", "preview", "undo_data", "outcome")


def row_digest(row: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of the fields of an action row that its steps act on."""
    return hashlib.sha256(canonical([row.get(k) for k in ACTED_ON]).encode()).hexdigest()


class JournalTampered(SkyplexError):
    """An action's stored state does not match its journal; it is not acted on."""

    status_code = 409
    error_type = "journal_tampered"


@dataclass
class JournalProblem:
    seq: int
    problem: str


class UndoJournal:
    """Actions and their hash-chained events, in the kernel's store (SQLite WAL or PostgreSQL)."""

    def __init__(self, store: Store, head_path: Path | None = None, faults: FaultPoints = NO_FAULTS) -> None:
        self.store = store
        self.head_path = head_path
        self.faults = faults
        store.create_tables(metadata)

    # writing --------------------------------------------------------------------------------------
    def create(self, row: dict[str, Any], data: dict[str, Any]) -> None:
        """Insert a new action and its first event in one transaction."""
        self.faults.reached("journal:proposed")
        with self.store.begin() as conn:
            seq, h = self._append(conn, row["id"], "proposed", row["status"], {**data, "row": row_digest(row)})
            conn.execute(actions.insert().values(**row, seq=seq))
            self._announce_head(seq, h)
        self._advance_head(seq, h)

    def transition(self, action_id: str, event: str, data: dict[str, Any] | None = None, **fields: Any) -> None:
        """Update the action's row and append the event describing why, atomically."""
        self.faults.reached(f"journal:{event}")
        with self.store.begin() as conn:
            current = conn.execute(select(actions).where(actions.c.id == action_id)).mappings().one()
            self._check_row(conn, dict(current))  # never carry a tampered row forward under a new hash
            new = {**dict(current), **fields}
            seq, h = self._append(conn, action_id, event, new["status"], {**(data or {}), "row": row_digest(new)})
            conn.execute(actions.update().where(actions.c.id == action_id).values(**fields, seq=seq, updated_at=utcnow()))
            self._announce_head(seq, h)
        self._advance_head(seq, h)

    def _append(self, conn, action_id: str, event: str, status: str, data: dict[str, Any]) -> int:
        if self.store.dialect == "postgresql":  # SQLite is already serialised by BEGIN IMMEDIATE
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        last = conn.execute(select(events.c.seq, events.c.hash).order_by(desc(events.c.seq)).limit(1)).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        body = canonical(data)
        at = utcnow().isoformat()
        h = event_hash(prev, seq, action_id, event, status, body, at)
        conn.execute(events.insert().values(
            seq=seq, action_id=action_id, event=event, status=status, data=body, at=at, prev_hash=prev, hash=h))
        return seq, h

    # the head outside the database ----------------------------------------------------------------------
    # The head file holds "seq hash" of the last event, and while a transaction is committing also
    # "pending_seq pending_hash" of the event it is about to commit (written before the database
    # COMMIT, while the journal's write lock is held). So after a crash between the COMMIT and the head
    # update the database may be one event ahead, but only by exactly the announced event: an event
    # appended by anyone else (the chain needs no key, so anyone who can write the database can chain
    # one correctly) does not match and is reported.
    def _announce_head(self, seq: int, h: str) -> None:
        """Record (seq, hash) as the event about to be committed (inside the writing transaction)."""
        if self.head_path is None:
            return
        self.faults.reached("journal:head-pending")
        with open(self.head_path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cur = self._read_head_file()
            base = cur[:2] if cur is not None else [0, GENESIS]
            if int(base[0]) >= seq:
                return
            self._write_head(f"{base[0]} {base[1]} {seq} {h}")

    def _advance_head(self, seq: int, h: str) -> None:
        """Record (seq, hash) as the head unless a later one is there (several writers share it)."""
        if self.head_path is None:
            return
        self.faults.reached("journal:head")
        with open(self.head_path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cur = self.read_head()
            if cur is not None and cur[0] >= seq:
                return
            self._write_head(f"{seq} {h}")

    def _write_head(self, line: str) -> None:
        tmp = self.head_path.with_name(f".{self.head_path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)

    def _read_head_file(self) -> list[str] | None:
        if self.head_path is None or not self.head_path.exists():
            return None
        return self.head_path.read_text().split()

    def read_head(self) -> tuple[int, str] | None:
        """The (seq, hash) last recorded in the head file, or None when there is none."""
        parts = self._read_head_file()
        if parts is None:
            return None
        return (int(parts[0]), parts[1]) if len(parts) in (2, 4) and parts[0].isdigit() else (0, "unreadable")

    def _pending_head(self) -> tuple[int, str] | None:
        parts = self._read_head_file() or []
        return (int(parts[2]), parts[3]) if len(parts) == 4 and parts[2].isdigit() else None

    def _head_problem(self, conn) -> str | None:
        head = self.read_head()
        if head is None:
            return None
        last = conn.execute(select(events.c.seq, events.c.hash).order_by(desc(events.c.seq)).limit(1)).first()
        if last is None or last.seq < head[0]:
            return (f"the journal ends at event {last.seq if last else 0} but event {head[0]} was written: "
                    "events were removed from its end")
        if last.seq == head[0] and last.hash != head[1]:
            return f"event {head[0]} is not the one that was written (its hash differs from the recorded head)"
        if last.seq > head[0] and (last.seq, last.hash) != self._pending_head():
            # the one event allowed ahead of the head is the one announced before its COMMIT
            return (f"events {head[0] + 1}..{last.seq} were not written by the journal (the head outside the "
                    "database does not announce them)")
        return None

    # checking one action before acting on it ------------------------------------------------------------
    def _check_row(self, conn, row: dict[str, Any]) -> None:
        ev = conn.execute(select(events).where(events.c.seq == row["seq"])).mappings().first()
        why = None
        if ev is None or ev["action_id"] != row["id"]:
            why = "its last event is missing"
        elif event_hash(ev["prev_hash"], ev["seq"], ev["action_id"], ev["event"], ev["status"], ev["data"],
                        ev["at"]) != ev["hash"]:
            why = "its last event was altered"
        else:
            recorded = json.loads(ev["data"]).get("row")
            if recorded is not None and recorded != row_digest(row):
                why = "its stored preview, payload, undo data or state differ from what the journal recorded"
        why = why or self._head_problem(conn)
        if why:
            raise JournalTampered(f"action {row['id']} is not acted on: {why}. Check `skyplex goex log --verify`")

    def get_verified(self, action_id: str) -> dict[str, Any] | None:
        """The action's row, only if it matches its journal (else JournalTampered); None if absent."""
        with self.store.connect() as conn:
            row = conn.execute(select(actions).where(actions.c.id == action_id)).mappings().first()
            if row is None:
                return None
            self._check_row(conn, dict(row))
        return dict(row)

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
        """Every break in the chain, a chain shorter than its recorded head, and every action whose row
        disagrees with its last event; [] when intact."""
        problems: list[JournalProblem] = []
        prev = GENESIS
        last_status: dict[str, tuple[int, str]] = {}
        with self.store.connect() as conn:
            rows = conn.execute(select(events).order_by(events.c.seq)).mappings().all()
            full = [dict(r) for r in conn.execute(select(actions)).mappings()]
            states = {r["id"]: (r["seq"], r["status"]) for r in full}
            head = self._head_problem(conn)
        if head:
            problems.append(JournalProblem(rows[-1]["seq"] if rows else 0, head))
        digests = {r["id"]: row_digest(r) for r in full}
        last_row: dict[str, str | None] = {}
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
            try:
                last_row[r["action_id"]] = json.loads(r["data"]).get("row")
            except ValueError:
                last_row[r["action_id"]] = "undecodable"
        for action_id, (seq, status) in states.items():
            if last_status.get(action_id) != (seq, status):
                problems.append(JournalProblem(seq, f"action {action_id}: stored state {status!r} is not what its journal says"))
            elif last_row.get(action_id) not in (None, digests[action_id]):
                problems.append(JournalProblem(seq, f"action {action_id}: its stored fields (preview, payload, undo "
                                                    "data, outcome) differ from what its journal recorded"))
        return problems

"""PostgreSQL actions: SQL in one transaction (DDL included: PostgreSQL's DDL is transactional), held
for review with PREPARE TRANSACTION, then COMMIT PREPARED or ROLLBACK PREPARED.

A prepared transaction survives restarts of both the executor and the server, so review can take as
long as it needs. The server must allow it (``max_prepared_transactions`` > 0). Once committed the
change is not undone automatically (classified irreversible, so committing needs approval).
"""

from __future__ import annotations

from typing import Any

from skyplex.errors import InvalidInputError

from .handlers import ActionContext, ActionFailed, ActionHandler, Classification, ConflictError
from .sqlite_actions import encode
from .sqlsplit import READ_ONLY_KEYWORDS, leading_words, split_postgres

PREVIEW_ROWS = 50


#: statements that end, begin or hand over the transaction: the run's transaction must stay open until
#: it is prepared for review, or its changes would be made permanent before anyone saw them
_TRANSACTION_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT"}


def _checked_statements(sql: str) -> list[str]:
    """The statements of ``sql``; ActionFailed for transaction control or a statement we cannot name."""
    statements = split_postgres(sql)
    if not statements:
        raise ActionFailed("the action's SQL holds no statements")
    for stmt in statements:
        words = leading_words(stmt)
        if not words:
            raise ActionFailed(f"cannot tell what kind of statement this is, so it is not run: {stmt[:200]}")
        if words[0] in _TRANSACTION_CONTROL and words[:2] != ["ROLLBACK", "TO"] \
                or words == ["PREPARE", "TRANSACTION"]:
            raise ActionFailed(f"{' '.join(words)} is not allowed in an action: goex owns the transaction, which "
                               "stays open until it is prepared for review (use SAVEPOINT / ROLLBACK TO inside it)")
        if words[0] == "COPY":
            # COPY ... PROGRAM runs a shell command on the server and COPY ... TO 'file' writes a server file
            # at once, outside the transaction that review holds back
            raise ActionFailed("COPY is not allowed in an action: with PROGRAM or a server file its effect happens "
                               "outside the transaction held for review; use INSERT ... SELECT")
    return statements


def _connect(url: str):
    try:
        import psycopg
    except ImportError:
        raise ActionFailed("PostgreSQL actions need psycopg: pip install 'skyplex-goex[postgres]'") from None
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=False, connect_timeout=10)


class PostgresHandler(ActionHandler):
    """``{"url": "postgresql://...", "sql": "statements"}``; the server parses the statements itself."""

    kind = "postgres"

    def validate(self, payload: dict[str, Any]) -> dict[str, Any]:
        url, sql = payload.get("url"), payload.get("sql")
        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise InvalidInputError(f"postgres action needs 'url' (postgresql://...); got {url!r}", field="payload.url")
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidInputError("postgres action needs 'sql'", field="payload.sql")
        return {"url": url, "sql": sql}

    def classify(self, payload: dict[str, Any]) -> Classification:
        # the server splits statements; a cheap, conservative check: a single leading read keyword
        kw = payload["sql"].lstrip().split(None, 1)[0].upper().rstrip(";")
        return "read-only" if kw in READ_ONLY_KEYWORDS and ";" not in payload["sql"].strip().rstrip(";") else "irreversible"

    def resources(self, payload: dict[str, Any]) -> set[str]:
        return {f"postgres:{payload['url']}"}

    @staticmethod
    def gid(action_id: str) -> str:
        return f"goex-{action_id}"

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        statements = _checked_statements(ctx.payload["sql"])
        conn = _connect(ctx.payload["url"])
        results = []
        try:
            with conn.cursor() as cur:
                for stmt in statements:
                    try:
                        # a prepared statement (the extended protocol) holds exactly one command:
                        # a piece the splitter got wrong is refused by the server, never run unchecked
                        cur.execute(stmt, prepare=True)
                    except Exception as exc:
                        conn.rollback()
                        raise ActionFailed(f"SQL failed: {str(exc).strip()}; statement: {stmt[:300]}") from None
                    rows = cur.fetchmany(PREVIEW_ROWS) if cur.description else []
                    results.append({"status": cur.statusmessage, "rowcount": cur.rowcount,
                                    "columns": [d.name for d in cur.description or []],
                                    "rows": [[encode(v) if isinstance(v, (bytes, float)) else v if isinstance(v, (int, str, type(None))) else str(v)
                                              for v in r] for r in rows]})
            conn.execute(f"PREPARE TRANSACTION '{self.gid(ctx.id)}'")
        except Exception as exc:
            if "prepared transactions are disabled" in str(exc):
                raise ActionFailed("the PostgreSQL server has max_prepared_transactions = 0, so actions cannot be held "
                                   "for review; set it above 0 in postgresql.conf and restart the server") from None
            raise
        finally:
            conn.close()
        return {"statements": results, "prepared_transaction": self.gid(ctx.id),
                "summary": {"statements": len(results), "rows": sum(max(r["rowcount"], 0) for r in results)}}

    def _finish(self, url: str, verb: str, action_id: str) -> bool:
        conn = _connect(url)
        conn.autocommit = True
        try:
            present = conn.execute("SELECT 1 FROM pg_prepared_xacts WHERE gid = %s", (self.gid(action_id),)).fetchone()
            if present:
                conn.execute(f"{verb} PREPARED '{self.gid(action_id)}'")
            return bool(present)
        finally:
            conn.close()

    def prepare_commit(self, ctx: ActionContext) -> dict[str, Any]:
        return {"gid": self.gid(ctx.id)}

    def apply(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any]:
        if not self._finish(ctx.payload["url"], "COMMIT", ctx.id):
            raise ConflictError(f"the prepared transaction {self.gid(ctx.id)} is gone (rolled back on the server?); run again")
        return {"committed": self.gid(ctx.id)}

    def recover_commit(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any] | None:
        # COMMIT PREPARED is atomic; if the transaction is still prepared, finishing the commit is safe
        self._finish(ctx.payload["url"], "COMMIT", ctx.id)
        return {"recovered": "commit completed"}

    def rollback(self, ctx: ActionContext, undo_data: dict[str, Any]) -> None:
        self._finish(ctx.payload["url"], "ROLLBACK", ctx.id)

    def discard(self, ctx: ActionContext) -> None:
        try:
            self._finish(ctx.payload["url"], "ROLLBACK", ctx.id)
        except Exception:  # the server may be gone; a leftover prepared transaction is visible in pg_prepared_xacts
            pass

    def undo(self, ctx: ActionContext, undo_data: dict[str, Any], outcome: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
        raise ConflictError(f"PostgreSQL action {ctx.id} was committed; committed PostgreSQL actions are irreversible "
                            "here (review happens before commit, while the transaction is prepared)")

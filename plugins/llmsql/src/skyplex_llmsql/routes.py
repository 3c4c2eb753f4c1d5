"""``POST /plugins/llmsql/query`` on the skyplex gateway.

The query runs on an in-memory DuckDB database holding the request's inline ``tables``, plus,
when the plugin settings name one (``plugins.llmsql.db`` in the skyplex config), that DuckDB file
attached read-only as schema ``db``. Clients never name server files. Planning per call site is
the generic scheduler route's job (``/v1/schedulers/llmsql/plan``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from fastapi import APIRouter
    from skyplex import Kernel

#: inline tables are for small data; larger tables belong in the configured database
MAX_INLINE_ROWS = 100_000


class QueryRequest(BaseModel):
    sql: str = Field(description="One SQL statement; SELECT/WHERE may call llm('template', col, ...).")
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict, description="Inline tables: name -> rows.")
    model: str = Field(default="local", description="Kernel model backend to call.")
    max_tokens: int = Field(default=32, ge=1, le=4096)
    algorithm: Literal["original", "sort", "stats", "ggr", "ophr"] = "ggr"
    on_error: Literal["fail", "null"] = "fail"
    prefix_reuse: bool = True
    chat_template: bool = Field(default=True, description="Send each prompt as one chat message (False: raw text).")


class CallSummary(BaseModel):
    template: str
    rows: int
    null_rows: int
    distinct_prompts: int
    batches: int
    prompt_tokens: int
    cached_prompt_tokens: int
    token_hit_rate: float
    plan_metrics: dict[str, float]
    solver_time_s: float
    model_time_s: float
    errors: list[dict[str, Any]]
    server_cache: dict[str, float]


class QueryResponse(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    calls: list[CallSummary]


def register(router: APIRouter, kernel: Kernel) -> None:
    """Add the plugin's routes to ``router`` (mounted at ``/plugins/llmsql``)."""
    from skyplex.errors import InvalidInputError

    @router.post("/query", response_model=QueryResponse, summary="Run an LLM-SQL query")
    def query(body: QueryRequest) -> QueryResponse:
        import duckdb
        from skyplex.encoding import to_jsonable
        from skyplex.interfaces.model import GenerationParams

        from .duckdb_engine import connect
        from .execution import ExecutionOptions

        if sum(len(rows) for rows in body.tables.values()) > MAX_INLINE_ROWS:
            raise InvalidInputError(f"inline tables hold more than {MAX_INLINE_ROWS} rows; put large tables in the "
                                    "configured DuckDB database (plugins.llmsql.db)", field="tables")
        for name, rows in body.tables.items():
            if not rows:
                raise InvalidInputError(f"inline table {name!r} has no rows", field=f"tables.{name}")
        con = duckdb.connect(":memory:")
        db_file = (kernel.settings.plugins.get("llmsql") or {}).get("db")
        if db_file:
            con.execute("ATTACH ? AS db (READ_ONLY)", [str(db_file)])
        # clients never name server files: no read_csv('/etc/...'), COPY TO, ATTACH or extension
        # loads from the query, and the query cannot switch that back on
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        options = ExecutionOptions(algorithm=body.algorithm, on_error=body.on_error, prefix_reuse=body.prefix_reuse,
                                   chat=body.chat_template)
        with connect(con, tables=body.tables, model=kernel.models.get(body.model),
                     params=GenerationParams(max_tokens=body.max_tokens), options=options) as db:
            try:
                result = db.query(body.sql)
            finally:
                con.close()
        return QueryResponse(columns=result.columns, rows=to_jsonable([list(r) for r in result.rows]),
                             calls=[CallSummary(**c.to_dict()) for c in result.calls])

"""LLM-SQL for skyplex: LLM calls inside SQL, reordered and deduplicated for prefix-cache reuse.

Public API (imports are lazy so ``skyplex`` start-up stays fast)::

    from skyplex_llmsql import connect
    with connect("shop.duckdb", model=kernel.models.get("local")) as db:
        db.query("SELECT llm('Is this review positive? Answer yes or no.', review) FROM reviews")

See docs/plugins/llmsql.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLMSQL", "QueryResult", "connect", "ExecutionOptions", "LLMRowErrors", "LLMSQLScheduler",
           "plan_table", "PromptTemplate", "llm_column"]

_WHERE = {
    "LLMSQL": "duckdb_engine", "QueryResult": "duckdb_engine", "connect": "duckdb_engine",
    "ExecutionOptions": "execution", "LLMRowErrors": "execution", "LLMSQLScheduler": "scheduler",
    "plan_table": "plan", "PromptTemplate": "prompts", "llm_column": "spark",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

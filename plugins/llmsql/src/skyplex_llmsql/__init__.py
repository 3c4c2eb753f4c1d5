"""LLM-SQL for skyplex: LLM calls inside SQL, reordered and deduplicated for prefix-cache reuse.

Importing the package does no work; the API lives in its modules::

    from skyplex_llmsql.duckdb_engine import connect
    with connect("shop.duckdb", model=kernel.models.get("local")) as db:
        db.query("SELECT llm('Is this review positive? Answer yes or no.', review) FROM reviews")

See docs/plugins/llmsql.md.
"""

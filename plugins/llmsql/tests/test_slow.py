"""Integration: a Spark local-mode job, and a real query on the local SmolLM2 model."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_spark_llm_column_matches_rows_whatever_the_partitioning(beer, shuffled, monkeypatch, echo_backend):
    import sys

    pytest.importorskip("pyspark")
    # workers must run this interpreter, where skyplex_llmsql is installed
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    from skyplex_llmsql.spark import llm_column
    from pyspark import cloudpickle

    # the echo model is defined beside the tests, which workers cannot import: send it by value
    cloudpickle.register_pickle_by_value(sys.modules[echo_backend.__module__])

    spark = (SparkSession.builder.master("local[1]").appName("llmsql-test")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        rows = shuffled(beer[:60], 3) + [{**beer[0], "beer_style": None}]
        df = spark.createDataFrame(rows)
        out = llm_column(df, "answer", "Describe the beer", ["beer_name", "beer_style"], echo_backend,
                         partition_by="beer_name", partitions=2).collect()
    finally:
        spark.stop()
    assert len(out) == len(rows)
    for row in out:
        if row["beer_style"] is None:
            assert row["answer"] is None
        else:
            assert row["answer"] == f"{row['beer_name']}|{row['beer_style']}"


@pytest.mark.slow
def test_real_local_model_query_reuses_prefixes(local_backend, beer):
    import pandas as pd
    from skyplex.interfaces.model import GenerationParams
    from skyplex_llmsql.duckdb_engine import connect

    rows = beer[:6]
    with connect(tables={"beer": pd.DataFrame(rows)}, model=local_backend,
                 params=GenerationParams(max_tokens=3)) as db:
        result = db.query("SELECT beer_name, review_profileName, llm('Answer yes or no: is this beer an IPA?', "
                          "beer_name, beer_style, review_profileName) AS ipa FROM beer")
    call = result.calls[0]
    assert len(result.rows) == 6 and all(isinstance(r[2], str) for r in result.rows)
    assert call.cached_prompt_tokens > 0 and call.prompt_tokens > call.cached_prompt_tokens
    # rows that differ only in the reviewer keep their own answers, keyed by their own arguments
    assert {(r[0], r[1]) for r in result.rows} == {(r["beer_name"], r["review_profileName"]) for r in rows}

"""llm() inside DuckDB SQL: filter, projection, multi-LLM, aggregation, RAG-style, and bad input."""

from __future__ import annotations

import pandas as pd
import pytest
from skyplex.errors import InvalidInputError
from skyplex_llmsql.duckdb_engine import connect
from skyplex_llmsql.execution import ExecutionOptions, LLMRowErrors


def _db(rows, backend, **kw):
    return connect(tables={"beer": pd.DataFrame(rows)}, model=backend, **kw)


def test_projection_results_stay_with_their_rows_whatever_the_input_order(echo_backend, beer, shuffled):
    query = "SELECT beer_name, beer_style, review_profileName, llm('Describe', beer_name, beer_style, review_profileName) AS d FROM beer"
    for seed in (0, 1):
        with _db(shuffled(beer, seed), echo_backend()) as db:
            result = db.query(query)
        assert len(result.rows) == len(beer)
        for name, style, who, d in result.rows:
            # the echo model answers the values sorted by field name: any misalignment shows
            assert d == f"{name}|{style}|{who}"
        if seed == 0:
            first = sorted(result.rows)
        else:
            assert sorted(result.rows) == first


def test_filter_then_projection_only_sends_kept_rows(echo_backend, beer):
    backend = echo_backend(rule=lambda p: "yes" if "IPA" in p.split("\n\n", 1)[-1] else "no")
    with _db(beer, backend) as db:
        result = db.query("SELECT beer_name, llm('Rate', beer_name) AS r FROM beer "
                          "WHERE llm('Is this style an IPA?', beer_style) = 'yes'")
    styles = {r["beer_name"]: r["beer_style"] for r in beer}
    assert result.rows and all("IPA" in styles[name] for name, _ in result.rows)
    calls = {c.template: c for c in result.calls}
    where_call, select_call = calls['Is this style an IPA?'], calls['Rate']
    assert where_call.distinct_prompts == len({r["beer_style"] for r in beer})
    # the projection saw only the names of IPA rows, each once
    assert select_call.distinct_prompts == len({n for n, _ in result.rows})


def test_aggregation_and_grouping_by_an_llm_result(echo_backend, beer):
    with _db(beer, echo_backend(rule=lambda p: str(len(p.split("\n\n", 1)[-1]) % 3))) as db:
        grouped = db.query("SELECT llm('Bucket', beer_style) AS b, count(*) AS n FROM beer GROUP BY b ORDER BY b")
        summary = db.query("SELECT beer_style, llm('Summarise these beers', string_agg(beer_name, ', ' ORDER BY beer_name)) "
                           "AS s FROM beer GROUP BY beer_style")
    assert sum(n for _, n in grouped.rows) == len(beer)
    assert len(summary.rows) == len({r["beer_style"] for r in beer})
    assert summary.calls[0].distinct_prompts == len(summary.rows)


def test_rag_style_join_of_context_documents(echo_backend):
    questions = pd.DataFrame({"qid": [1, 2], "question": ["Which beer is dark?", "Which is sour?"]})
    docs = pd.DataFrame({"qid": [1, 1, 2], "doc": ["Stout is dark.", "Porter is dark.", "Gose is sour."]})
    with connect(tables={"q": questions, "d": docs}, model=echo_backend()) as db:
        result = db.query("SELECT q.qid, llm('Answer from the context', q.question, string_agg(d.doc, ' ' ORDER BY d.doc)) AS a "
                          "FROM q JOIN d USING (qid) GROUP BY q.qid, q.question ORDER BY q.qid")
    assert set(result.rows[0][1].split("|")) == {"Which beer is dark?", "Porter is dark. Stout is dark."}
    assert set(result.rows[1][1].split("|")) == {"Which is sour?", "Gose is sour."}


def test_nulls_give_null_without_a_call(echo_backend):
    rows = [{"a": "x", "b": None}, {"a": "y", "b": "z"}]
    backend = echo_backend()
    with _db(rows, backend) as db:
        result = db.query("SELECT a, llm('Join', a, b) AS j FROM beer ORDER BY a")
    assert result.rows == [("x", None), ("y", "y|z")]
    assert result.calls[0].null_rows == 1 and sum(len(b) for b in backend.batches) == 1


def test_one_failing_row_fails_the_query_atomically_or_gives_null(echo_backend):
    rows = [{"a": "fine"}, {"a": "BAD row"}, {"a": "also fine"}]
    with _db(rows, echo_backend(fail_on="BAD")) as db:
        with pytest.raises(LLMRowErrors) as info:
            db.query("SELECT a, llm('Echo', a) FROM beer")
        assert info.value.errors[0]["arguments"] == {"a": "BAD row"}
        result = db.query("SELECT a, llm('Echo', a) AS e FROM beer ORDER BY a",
                          options=ExecutionOptions(on_error="null"))
    assert result.rows == [("BAD row", None), ("also fine", "also fine"), ("fine", "fine")]
    assert len(result.calls[0].errors) == 1 and "refused" in result.calls[0].errors[0]["error"]


def test_prompts_over_the_context_limit_are_reported_per_row(echo_backend):
    rows = [{"a": "short"}, {"a": "word " * 50}]
    with _db(rows, echo_backend(context_length=20)) as db:
        with pytest.raises(LLMRowErrors, match="context"):
            db.query("SELECT llm('Echo', a) FROM beer")
        result = db.query("SELECT a, llm('Echo', a) AS e FROM beer", options=ExecutionOptions(on_error="null"))
    assert sorted(e is None for _, e in result.rows) == [False, True]


@pytest.mark.parametrize("sql, message", [
    ("SELECT llm('q', nope) FROM beer", "nope"),
    ("SELECT FROM WHERE (", "cannot parse the query at line 1"),
    ("SELECT llm(a, 'x') FROM beer", "string literal prompt template"),
    ("SELECT llm('q', [1, 2]) FROM beer", "INTEGER\\[\\]"),
    ("SELECT llm('q', 'x'::BLOB) FROM beer", "BLOB"),
    ("SELECT llm('q {3}', a) FROM beer", "placeholder"),
    ("SELECT 1; SELECT 2", "exactly one"),
    (";--", "exactly one"),
    ("SELECT * FROM nowhere", "nowhere"),
])
def test_bad_queries_get_clear_errors(echo_backend, sql, message):
    with _db([{"a": "x"}], echo_backend()) as db:
        with pytest.raises(InvalidInputError, match=message):
            db.query(sql)


def test_template_placeholders_fix_the_field_order(echo_backend):
    backend = echo_backend(rule=lambda p: p)
    with _db([{"a": "1", "b": "2"}], backend) as db:
        result = db.query("""SELECT llm('b={b} then a={0}, as JSON {"x": {other}}', a, b) AS p FROM beer""")
    # only argument names and positions are placeholders: other braces stay as written
    assert result.rows == [('b=2 then a=1, as JSON {"x": {other}}',)]


def test_instruction_prompts_share_prefixes_in_batches(echo_backend, beer):
    backend = echo_backend()
    with _db(beer, backend) as db:
        result = db.query("SELECT llm('Summarise the review', beer_name, beer_style, review_overall, review_profileName) FROM beer")
    call = result.calls[0]
    assert call.plan_metrics["char_hit_rate"] > call.plan_metrics["char_hit_rate_original"]
    assert sum(len(b) for b in backend.batches) == call.distinct_prompts
    assert all(p.startswith("Summarise the review\n\n") for b in backend.batches for p in b)

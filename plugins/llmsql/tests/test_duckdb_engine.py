"""The documented Python ways in: CSV tables on a DuckDB file, prompts as chat messages or raw text,
literal braces in templates."""

from __future__ import annotations

import duckdb
import pytest

IPA_QUERY = ("SELECT beer_name, llm('Answer yes or no: is this beer an IPA?', beer_name, beer_style) AS ipa "
             "FROM beer")


def test_connect_with_csv_tables_leaves_the_database_file_unchanged(tmp_path, beer_csv, echo_backend):
    from skyplex_llmsql.duckdb_engine import connect

    odd = tmp_path / "it's here.csv"  # a quote in the path must not break (or inject into) the view
    odd.write_text(beer_csv.read_text())
    db_file = tmp_path / "mine.duckdb"
    with connect(str(db_file), tables={"beer": beer_csv, "again": odd}, model=echo_backend()) as db:
        result = db.query("SELECT count(*) FROM beer JOIN again USING (review_time, review_profileName)")
        assert result.rows[0][0] >= 40
    con = duckdb.connect(str(db_file))
    try:  # the views were TEMP: the user's file holds nothing we registered
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0] == 0
    finally:
        con.close()


def test_prompts_are_sent_as_one_user_message_unless_asked_raw(beer):
    import pandas as pd
    from skyplex.interfaces.model import ChatMessage
    from skyplex.testing.fakes import FakeModelBackend
    from skyplex_llmsql.duckdb_engine import connect
    from skyplex_llmsql.execution import ExecutionOptions

    for chat in (True, False):
        model = FakeModelBackend()  # records every prompt exactly as it was sent
        with connect(tables={"beer": pd.DataFrame(beer[:5])}, model=model,
                     options=ExecutionOptions(chat=chat)) as db:
            db.query(IPA_QUERY)
        sent = [p for prompts, _ in model.calls for p in prompts]
        assert sent
        if chat:
            assert all(isinstance(p, list) and len(p) == 1 and isinstance(p[0], ChatMessage)
                       and p[0].role == "user" and p[0].content.startswith("Answer yes or no") for p in sent)
        else:
            assert all(isinstance(p, str) and p.startswith("Answer yes or no") for p in sent)


def test_doubled_braces_send_a_literal_placeholder():
    from skyplex_llmsql.prompts import PromptTemplate

    t = PromptTemplate("Fill {{slot}} for {name}; JSON {\"a\": 1}", ("name",))
    assert t.render({"name": "{{x}}"}) == "Fill {slot} for {{x}}; JSON {\"a\": 1}"
    assert PromptTemplate("Keep {{slot}} literal", ("v",)).render({"v": "1"}) == "Keep {slot} literal\n\nv: 1"
    with pytest.raises(Exception, match="no arguments"):
        PromptTemplate("Say {0}", ())

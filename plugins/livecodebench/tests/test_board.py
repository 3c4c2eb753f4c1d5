"""Leaderboard and pass@1-by-month plot: from the CLI and through the gateway (runs, leaderboard, plots,
the board page, generate as a job with progress)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from skyplex import InvalidInputError
from skyplex_livecodebench.board import by_month, leaderboard, load_run, month_plot, run_from_records

DATA = Path(__file__).resolve().parent / "data"
GRADED = DATA / "o1_mini_graded.json"
H = {"Authorization": "Bearer k"}
URL = "/plugins/livecodebench"


def cli(kernel, args):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli as main

    return CliRunner().invoke(main, ["livecodebench", *args], obj=CliState(kernel_factory=lambda *a, **k: kernel))


def test_by_month_matches_a_direct_count():
    run = load_run(GRADED)
    records = json.loads(GRADED.read_text())
    months = by_month(run)
    assert sum(n for _, _, n in months) == len(records)
    for month, value, n in months:
        mine = [r for r in records if r["contest_date"][:7] == month]
        assert n == len(mine) and value == pytest.approx(sum(all(r["graded_list"]) for r in mine) / n)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.dates(), st.lists(st.booleans(), min_size=1, max_size=4)), min_size=1, max_size=30))
def test_month_means_average_to_the_overall_pass_at_1(rows):
    records = [{"question_id": f"q{i}", "contest_date": d.isoformat(), "graded_list": g} for i, (d, g) in enumerate(rows)]
    run = run_from_records("r", records)
    months = by_month(run)
    overall = leaderboard([run])[0]["pass@1"]
    assert sum(v * n for _, v, n in months) / len(rows) == pytest.approx(overall)
    assert [m for m, _, _ in months] == sorted({d.isoformat()[:7] for d, _ in rows})


def test_leaderboard_splits_at_the_cutoff():
    a = run_from_records("a", [{"question_id": "x", "contest_date": "2023-01-05", "graded_list": [True]},
                               {"question_id": "y", "contest_date": "2023-06-05", "graded_list": [False, True]}])
    b = run_from_records("b", [{"question_id": "x", "contest_date": "2023-01-05", "graded_list": [False]}])
    rows = leaderboard([b, a], cutoff="2023-03-01")
    assert [r["run"] for r in rows] == ["a", "b"]
    assert rows[0]["pass@1"] == pytest.approx(0.75) and rows[0]["before_cutoff"] == 1.0 and rows[0]["after_cutoff"] == 0.5
    assert rows[1]["after_cutoff"] is None
    with pytest.raises(InvalidInputError, match="window"):
        leaderboard([a], start="2024-01-01")


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_plot_formats(fmt, magic):
    data = month_plot([load_run(GRADED, "O1-Mini")], fmt=fmt, cutoff="2023-10-01")
    assert magic in data[:400]
    if fmt == "svg":
        assert b"O1-Mini" in data and b"cutoff" in data


def test_cli_plot_and_leaderboard(lcb_kernel, tmp_path):
    out = tmp_path / "months.svg"
    res = cli(lcb_kernel, ["plot", str(GRADED), "--name", "O1-Mini", "--cutoff", "2023-10-01", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().lstrip().startswith(b"<?xml") and b"O1-Mini" in out.read_bytes()
    res = cli(lcb_kernel, ["leaderboard", str(GRADED), "--cutoff", "2023-10-01", "--json"])
    assert res.exit_code == 0, res.output
    [row] = json.loads(res.output)["rows"]
    assert row["run"] == "o1_mini_graded" and row["problems"] == 25 and row["pass@1"] == pytest.approx(20 / 25)


@pytest.mark.parametrize("args,needle", [
    (["plot", str(GRADED), "--out", "x.gif"], "must end in .png or .svg"),
    (["plot", str(GRADED), "--out", "x.png", "--start", "2030-01-01"], "nothing to plot"),
    (["plot", str(GRADED), "--out", "x.png", "--name", "a", "--name", "b"], "one --name per file"),
    (["leaderboard", str(DATA / "problems.jsonl")], "not valid JSON"),
    (["leaderboard", str(GRADED), "--cutoff", "someday"], "ISO date"),
])
def test_cli_bad_input(lcb_kernel, args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli(lcb_kernel, args)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


# --- gateway -----------------------------------------------------------------------------------------------

@pytest.fixture
def client(lcb_kernel):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from skyplex import gateway

    with TestClient(gateway.create_app(lcb_kernel, api_key="k", auth=True)) as c:
        yield c


def test_runs_leaderboard_plots_and_page(client):
    records = json.loads(GRADED.read_text())
    r = client.post(URL + "/runs", json={"name": "O1-Mini", "records": records}, headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["pass@1"] == pytest.approx(0.8)
    worse = [{**rec, "graded_list": [False]} for rec in records]
    assert client.post(URL + "/runs", json={"name": "nothing-right", "records": worse}, headers=H).status_code == 200
    r = client.get(URL + "/leaderboard", params={"cutoff": "2023-10-01"}, headers=H)
    assert r.status_code == 200, r.text
    assert [row["run"] for row in r.json()["rows"]] == ["O1-Mini", "nothing-right"]
    png = client.get(URL + "/plot.png", params={"runs": "O1-Mini"}, headers=H)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    svg = client.get(URL + "/plot.svg", headers=H)
    assert svg.status_code == 200 and b"nothing-right" in svg.content
    page = client.get(URL + "/board")             # the page is public; its data needs the key
    assert page.status_code == 200 and "LiveCodeBench leaderboard" in page.text and "/leaderboard?" in page.text
    assert client.get(URL + "/leaderboard").status_code == 401


@pytest.mark.parametrize("method,path,body,needle", [
    ("post", "/runs", {"name": "../x", "records": [{"question_id": "a", "graded_list": [True], "contest_date": "2024-01-01"}]},
     "run name"),
    ("post", "/runs", {"name": "a", "records": [{"question_id": "a", "graded_list": []}]}, "no graded samples"),
    ("post", "/runs", {"name": "a", "records": [{"question_id": "a", "graded_list": [True], "contest_date": "x"}]},
     "ISO date"),
    ("get", "/leaderboard?scenario=codeexecution", None, "no stored codeexecution runs"),
    ("get", "/plot.svg?runs=ghost", None, "no stored codegeneration runs named ghost"),
    ("get", "/plot.png?runs=../../etc", None, "run name"),
    ("post", "/generate", {"name": "g", "problems": [{"question_id": "x"}]}, "lacks"),
    ("post", "/generate", {"name": "g", "scenario": "codegeneration", "problems": [{}], "graded": []}, "graded is for"),
    ("post", "/generate", {"name": "g", "problems": [{}], "backend": "solver", "n": 0}, "n"),
])
def test_bad_requests_are_4xx(client, method, path, body, needle):
    r = getattr(client, method)(URL + path, headers=H, **({"json": body} if body is not None else {}))
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.text


@pytest.mark.usefixtures("sandbox_ok")
def test_generate_route_is_a_job_with_progress_that_feeds_the_leaderboard(client, lcb_kernel, problems_path):
    records = [json.loads(line) for line in problems_path.read_text().splitlines()]
    r = client.post(URL + "/generate", json={"name": "solver-run", "problems": records, "backend": "solver",
                                            "start": "2023-05-13", "end": "2023-05-13"}, headers=H)
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]
    done = lcb_kernel.jobs.wait(job_id)
    assert done.status == "succeeded", done.error
    job = client.get(f"/v1/jobs/{job_id}", headers=H).json()
    assert job["status"] == "succeeded" and job["progress"] == pytest.approx(1.0)
    board = client.get(URL + "/leaderboard", headers=H).json()["rows"]
    assert [row["run"] for row in board] == ["solver-run"] and board[0]["problems"] == done.result["problems"]

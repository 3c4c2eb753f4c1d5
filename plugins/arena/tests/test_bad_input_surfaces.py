"""Bad input of every kind through the arena's CLI and routes: one line naming the problem, CLI exit
status 2, HTTP 4xx; never a traceback, a 500 or an unexplained exit code. A table of cases, then
hypothesis over imported records."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")

AUTH = {"Authorization": "Bearer k"}
GOOD = [{"id": f"g{k}", "model_a": "m1", "model_b": "m2", "winner": ["model_a", "model_b", "tie"][k % 3]}
        for k in range(6)]
UNEXPECTED = re.compile(r"unexpected \w+(Error|Exception)|Traceback")


@pytest.fixture
def client(arena_kernel):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app

    with TestClient(create_app(arena_kernel, api_key="k", auth=True), raise_server_exceptions=False,
                    base_url="http://testserver/plugins/arena") as c:
        yield c


def _check_4xx(res, status=None, says=None):
    assert 400 <= res.status_code < 500 and (status is None or res.status_code == status), (res.status_code, res.text)
    message = res.json()["error"]["message"]
    assert "\n" not in message and not UNEXPECTED.search(message), message
    if says:
        assert says.lower() in message.lower(), message


BEFORE_ANY_VOTE = [
    ("GET", "/leaderboard", None, 400, "no votes"),
    ("GET", "/leaderboard.png", None, 400, "no votes"),
    ("GET", "/heatmap.png", None, 400, "no votes"),
    ("GET", "/matrices", None, 400, "no votes"),
    ("GET", "/voters", None, 400, "no votes"),
]

BAD_REQUESTS = [
    ("POST", "/battles", {}, 400, "prompt"),
    ("POST", "/battles", {"prompt": 5}, 400, "prompt"),
    ("POST", "/battles", {"prompt": "   "}, 400, "empty"),
    ("POST", "/battles", {"prompt": "x" * 9000}, 400, "8000"),
    ("POST", "/battles", {"prompt": "hi", "voter": "v" * 201}, 400, "voter"),
    ("GET", "/battles/nope/answers/a", None, 404, "nope"),
    ("GET", "/battles/nope/answers/c", None, 400, "side"),
    ("POST", "/battles/nope/vote", {"winner": "tie"}, 404, "nope"),
    ("POST", "/battles/nope/vote", {}, 400, "winner"),
    ("POST", "/battles/nope/vote", {"winner": 5}, 400, "winner"),
    ("POST", "/battles/" + "x" * 5000 + "/vote", {"winner": "tie"}, 404, None),
    ("GET", "/votes?limit=0", None, 400, "limit"),
    ("GET", "/votes?limit=many", None, 400, "limit"),
    ("POST", "/votes/import", {"battles": []}, 400, "no battles"),
    ("POST", "/votes/import", {"battles": "x"}, 400, "battles"),
    ("POST", "/votes/import", {"battles": [1]}, 400, "battles"),
    ("POST", "/votes/import", {"battles": [{"model_a": "a"}]}, 400, "model_a/model_b"),
    ("POST", "/votes/import", {"battles": [{"model_a": "a", "model_b": "b", "winner": "left"}]}, 400, "left"),
    ("POST", "/votes/import", {"battles": [{"model_a": {"n": 1}, "model_b": "b", "winner": "tie"}]}, 400, "model_a"),
    ("POST", "/votes/import", {"battles": [{"id": "i" * 300, "model_a": "a", "model_b": "b", "winner": "tie"}]},
     400, "characters"),
    ("POST", "/votes/import", {"battles": [{"model_a": "a", "model_b": "b", "winner": "tie",
                                            "style_a": {"length": "long"}, "style_b": {"length": 1}}]}, 400, "style"),
    ("POST", "/votes/import", {"battles": GOOD, "source": "s" * 300}, 400, "source"),
    ("GET", "/leaderboard?ci=jackknife", None, 400, "ci"),
    ("GET", "/leaderboard?category=poetry", None, 400, "poetry"),
    ("GET", "/leaderboard?rounds=1", None, 400, "rounds"),
    ("GET", "/leaderboard?format=xml", None, 400, "format"),
    ("GET", "/leaderboard?style_control=true", None, 400, "style"),
    ("GET", "/heatmap.png?category=poetry", None, 400, "poetry"),
    ("GET", "/voters?alpha=0", None, 400, "alpha"),
    ("GET", "/voters?alpha=abc", None, 400, "alpha"),
    ("GET", "/voters", None, 400, "voter"),
]


@pytest.mark.parametrize("method, path, body, status, says", BEFORE_ANY_VOTE, ids=[c[1] for c in BEFORE_ANY_VOTE])
def test_routes_before_any_vote_say_so(client, method, path, body, status, says):
    _check_4xx(client.request(method, path, json=body, headers=AUTH), status, says)


@pytest.mark.parametrize("method, path, body, status, says", BAD_REQUESTS,
                         ids=[f"{c[0]} {c[1][:40]} {json.dumps(c[2])[:40]}" for c in BAD_REQUESTS])
def test_routes_answer_bad_input_with_a_4xx(client, method, path, body, status, says):
    assert client.post("/votes/import", json={"battles": GOOD}, headers=AUTH).status_code == 200
    _check_4xx(client.request(method, path, json=body, headers=AUTH), status, says)
    assert client.get("/votes", headers=AUTH).json()["count"] == len(GOOD)  # nothing was written


record_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                          st.text(max_size=8), st.sampled_from(["model_a", "model_b", "tie", "both_bad", "m1", "m2"]),
                          st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                              max_size=2))
records = st.lists(st.dictionaries(st.sampled_from(["id", "model_a", "model_b", "winner", "voter", "category",
                                                    "style_a", "style_b", "category_tag"]), record_values),
                   max_size=4)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(battles=st.one_of(records, record_values))
def test_import_route_never_answers_any_records_with_a_500(client, battles):
    res = client.post("/votes/import", json={"battles": battles}, headers=AUTH)
    assert res.status_code in (200, 400), (battles, res.status_code, res.text)
    if res.status_code == 400:
        _check_4xx(res)
    else:  # whatever was stored can be rated or is refused in one line
        board = client.get("/leaderboard", headers=AUTH)
        assert board.status_code in (200, 400), board.text


def test_nan_and_infinite_style_values_are_refused(client):
    """Python's JSON reader accepts NaN and Infinity literals; a vote's style must be a finite number."""
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = ('{"battles": [{"model_a": "m1", "model_b": "m2", "winner": "tie", '
                f'"style_a": {{"length": {literal}}}, "style_b": {{"length": 1}}}}]}}')
        res = client.post("/votes/import", content=body, headers={**AUTH, "Content-Type": "application/json"})
        _check_4xx(res, 400, "style")
    assert client.get("/votes", headers=AUTH).json()["count"] == 0


# --- CLI ---------------------------------------------------------------------------------------------
@pytest.fixture
def cli(arena_kernel):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli as root

    def run(*args):
        return CliRunner().invoke(root, ["arena", *map(str, args)],
                                  obj=CliState(kernel_factory=lambda settings: arena_kernel))

    return run


@pytest.fixture
def files(tmp_path):
    out = {}
    out["good"] = tmp_path / "good.jsonl"
    out["good"].write_text("".join(json.dumps(r) + "\n" for r in GOOD))
    out["empty"] = tmp_path / "empty.jsonl"
    out["empty"].write_text("")
    out["notjson"] = tmp_path / "bad.jsonl"
    out["notjson"].write_text('{"model_a": "m1"\n')
    out["corrupt_gz"] = tmp_path / "votes.jsonl.gz"
    out["corrupt_gz"].write_bytes(gzip.compress(out["good"].read_bytes())[:-12])
    out["binary"] = tmp_path / "votes.bin"
    out["binary"].write_bytes(bytes(range(256)) * 4)
    out["folder"] = tmp_path / "folder"
    out["folder"].mkdir()
    out["missing"] = tmp_path / "missing.jsonl"
    return out


BAD_ARGS = [
    (["leaderboard", "{missing}"], "missing.jsonl"),
    (["leaderboard", "{empty}"], "empty"),
    (["leaderboard", "{notjson}"], "not valid JSON"),
    (["leaderboard", "{corrupt_gz}"], "votes.jsonl.gz"),
    (["leaderboard", "{binary}"], "votes.bin"),
    (["leaderboard", "{folder}"], "folder"),
    (["leaderboard", "{good}", "--rounds", "1", "--ci", "bootstrap"], "rounds"),
    (["leaderboard", "{good}", "--level", "2"], "level"),
    (["leaderboard", "{good}", "--level", "0"], "level"),
    (["leaderboard", "{good}", "--category", "poetry"], "poetry"),
    (["leaderboard", "{good}", "--style-control"], "style"),
    (["leaderboard", "{good}", "--plot", "{folder}"], "folder"),
    (["leaderboard", "{good}", "--heatmap", "/proc/nope/heat.png"], "heat.png"),
    (["leaderboard"], "no votes"),
    (["categories", "{corrupt_gz}"], "votes.jsonl.gz"),
    (["import", "{missing}"], "missing.jsonl"),
    (["import", "{notjson}"], "not valid JSON"),
    (["import", "{corrupt_gz}"], "votes.jsonl.gz"),
    (["votes", "--limit", "0"], "limit"),
    (["votes", "--out", "{folder}"], "folder"),
    (["voters", "{good}"], "voter"),
    (["voters", "{good}", "--alpha", "5"], "alpha"),
]


@pytest.mark.parametrize("args, says", BAD_ARGS, ids=[" ".join(a[0]) + " " + a[1] for a in BAD_ARGS])
def test_cli_bad_input_is_one_line_and_exit_2(cli, files, args, says):
    res = cli(*(a.format(**files) for a in args))
    lines = [line for line in res.stderr.splitlines() if line.strip() and not line.startswith("WARNING ")]
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert len(lines) == 1 and not UNEXPECTED.search(res.output), res.output
    assert says.lower() in lines[0].lower(), lines[0]

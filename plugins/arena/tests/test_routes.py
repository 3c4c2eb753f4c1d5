"""The arena through the gateway: battles against the real local model (two configurations of SmolLM2),
votes, leaderboards and plots over HTTP, and the battle page driven in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
API_KEY = "arena-test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, arena_test_data_dir):
    """The gateway (auth on) with a fresh store, served by uvicorn on a free loopback port."""
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel

    contestants = [
        {"name": "smollm2-greedy", "backend": "local", "temperature": 0.0, "max_tokens": 6},
        {"name": "smollm2-terse", "backend": "local", "temperature": 0.7, "seed": 1, "max_tokens": 6,
         "system_prompt": "Answer in three words."},
    ]
    settings = Settings(data_dir=tmp_path_factory.mktemp("arena-gw"),
                        models={"local": {"data_dir": str(arena_test_data_dir), "threads": 2}},
                        plugins={"arena": {"contestants": contestants}})
    kernel = Kernel(settings=settings)
    if "local" not in kernel.models:
        kernel.close()
        pytest.skip("the kernel's local model backend is not registered here")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(kernel, api_key=API_KEY, auth=True), host="127.0.0.1",
                                        port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "gateway did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    kernel.close()


@pytest.fixture
def client(gateway):
    with httpx.Client(base_url=gateway + "/plugins/arena", headers={"Authorization": f"Bearer {API_KEY}"},
                      timeout=120) as c:
        yield c


def test_battle_vote_and_leaderboard_over_http(client):
    res = client.post("/battles", json={"prompt": "Name a colour.", "voter": "http-tester"})
    assert res.status_code == 200, res.text
    battle = res.json()
    bid = battle["battle_id"]
    assert client.post(f"/battles/{bid}/vote", json={"winner": "model_a"}).status_code == 409  # still answering
    answers = {side: client.get(f"/battles/{bid}/answers/{side}").text for side in ("a", "b")}
    assert all(answers.values()), answers
    assert client.get(f"/battles/{bid}/answers/a").text == answers["a"]  # replayed, not regenerated
    res = client.post(f"/battles/{bid}/vote", json={"winner": "model_b", "voter": "http-tester"})
    assert res.status_code == 200, res.text
    reveal = res.json()
    assert {reveal["model_a"], reveal["model_b"]} == {"smollm2-greedy", "smollm2-terse"}
    again = client.post(f"/battles/{bid}/vote", json={"winner": "model_a"})
    assert again.status_code == 409 and "already has a vote" in again.json()["error"]["message"]
    bad = client.post(f"/battles/{bid}/vote", json={"winner": "left"})
    assert bad.status_code == 400 and "unknown winner label" in bad.json()["error"]["message"]
    assert client.post("/battles/nope/vote", json={"winner": "tie"}).status_code == 404
    assert client.post("/battles", json={"prompt": "   "}).status_code == 400

    stored = client.get("/votes").json()
    mine = [v for v in stored["votes"] if v.get("battle_id") == bid]
    assert len(mine) == 1 and mine[0]["winner"] == "model_b" and mine[0]["voter"] == "http-tester"
    assert set(mine[0]["style_a"]) == {"length", "headers", "lists", "bold"}

    imported = client.post("/votes/import", json={"battles": [
        {"id": f"imp{k}", "model_a": "smollm2-greedy", "model_b": "smollm2-terse",
         "winner": ["model_a", "model_b", "tie"][k % 3], "voter": "importer"} for k in range(12)]})
    assert imported.json() == {"imported": 12, "duplicates": 0, "self_battles": 0}
    board = client.get("/leaderboard").json()
    assert {r["model"] for r in board["rows"]} == {"smollm2-greedy", "smollm2-terse"}
    assert all(r["ci_low"] <= r["rating"] <= r["ci_high"] for r in board["rows"])
    csv = client.get("/leaderboard", params={"format": "csv", "ci": "bootstrap", "rounds": 10})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("rank,model,rating")
    for png in ("/leaderboard.png", "/heatmap.png"):
        img = client.get(png)
        assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    assert client.get("/voters").status_code == 200
    assert client.get("/leaderboard", params={"category": "nope"}).status_code == 400


def test_both_pages_share_one_key_form():
    """The key form and its script are written once (static/key_form.*) and served in each page."""
    from importlib import resources

    from skyplex_arena import routes

    static = resources.files("skyplex_arena").joinpath("static")
    assert all("skyplex_api_key" not in static.joinpath(n).read_text() for n in ("arena.html", "board.html"))
    script = static.joinpath("key_form.js").read_text()
    for name in ("arena.html", "board.html"):
        page = routes._page(name)
        assert page.count('<form id="key-form" hidden>') == 1 and page.count(script) == 1
        assert routes.KEY_FORM_MARKER not in page and routes.KEY_SCRIPT_MARKER not in page
        assert page.index("</form>") < page.index(script) < page.index("</script>")  # inside the page's script


def test_a_page_without_its_marker_is_refused(monkeypatch):
    from skyplex_arena import routes

    real = routes._static
    monkeypatch.setattr(routes, "_static", lambda name: real(name).replace(routes.KEY_SCRIPT_MARKER, "")
                        if name == "board.html" else real(name))
    with pytest.raises(RuntimeError, match="board.html must hold"):
        routes._page("board.html")


def test_pages_open_without_the_key_and_data_still_needs_it(gateway):
    """A browser sends no Authorization header when it opens a page: the pages are public (they hold
    no data and ask for the key); every request for battles, votes and ratings still needs the key."""
    for page in ("/plugins/arena/", "/plugins/arena/board"):
        res = httpx.get(gateway + page)
        assert res.status_code == 200 and 'id="key-form"' in res.text, res.text[:200]
        assert res.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in res.headers["content-security-policy"]
    assert httpx.get(gateway + "/plugins/arena/leaderboard").status_code == 401
    assert httpx.get(gateway + "/plugins/arena/votes").status_code == 401
    assert httpx.post(gateway + "/plugins/arena/battles", json={"prompt": "hi"}).status_code == 401
    assert httpx.post(gateway + "/plugins/arena/", json={}).status_code in (401, 405)
    wrong = httpx.get(gateway + "/plugins/arena/votes", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


@pytest.mark.slow
def test_votes_cast_in_a_real_browser_are_stored(gateway, client):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api")
    before = client.get("/votes").json()["count"]
    cast = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # as a person would: open the address, get asked for the key, type it (no header tricks)
            context = browser.new_context()
            page = context.new_page()
            page.goto(gateway + "/plugins/arena/")
            page.wait_for_selector("#key-form:not([hidden])", timeout=10_000)
            page.fill("#api-key", "not-the-key")
            page.click("#save-key")
            page.fill("#prompt", "Say hi.")
            page.click("#send")  # a wrong key is refused and asked for again
            page.wait_for_selector("#key-form:not([hidden])", timeout=10_000)
            assert "refused the API key" in page.text_content("#error")
            page.fill("#api-key", API_KEY)
            page.click("#save-key")
            page.fill("#voter", "browser-voter")
            page.dispatch_event("#voter", "change")
            for button, winner in (("#vote-a", "model_a"), ("#vote-both-bad", "both_bad")):
                if not page.is_hidden("#new"):
                    page.click("#new")
                page.fill("#prompt", "Say hi.")
                page.click("#send")
                page.wait_for_selector(f"{button}:not([disabled])", timeout=240_000)  # two SmolLM2 answers on a busy CPU
                assert page.text_content("#answer-a") and page.text_content("#answer-b")
                assert "smollm2" not in page.text_content("#name-a")  # anonymous until the vote
                battle_id = page.get_attribute("body", "data-battle")
                page.click(button)
                page.wait_for_selector("#reveal:has-text('You voted')", timeout=30_000)
                assert "smollm2" in page.text_content("#name-a") and "smollm2" in page.text_content("#name-b")
                cast.append((battle_id, winner))
            assert page.text_content("#error") == ""
            board = context.new_page()  # same browser: the key typed above is remembered
            board.goto(gateway + "/plugins/arena/board")
            board.wait_for_selector("#board tbody tr", timeout=30_000)
            assert "smollm2" in board.text_content("#board")
        finally:
            browser.close()
    votes = client.get("/votes").json()
    assert votes["count"] == before + 2
    by_battle = {v.get("battle_id"): v for v in votes["votes"]}
    for battle_id, winner in cast:
        assert by_battle[battle_id]["winner"] == winner and by_battle[battle_id]["voter"] == "browser-voter"


# --- bad input through the routes: one line naming the problem, a 4xx, never a 500 -----------------
AUTH = {"Authorization": "Bearer k"}
GOOD = [{"id": f"g{k}", "model_a": "m1", "model_b": "m2", "winner": ["model_a", "model_b", "tie"][k % 3]}
        for k in range(6)]
UNEXPECTED = re.compile(r"unexpected \w+(Error|Exception)|Traceback")


@pytest.fixture
def app_client(arena_kernel):
    """The gateway in-process (no server), as curl meets it: server exceptions become responses."""
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
def test_routes_before_any_vote_say_so(app_client, method, path, body, status, says):
    _check_4xx(app_client.request(method, path, json=body, headers=AUTH), status, says)


@pytest.mark.parametrize("method, path, body, status, says", BAD_REQUESTS,
                         ids=[f"{c[0]} {c[1][:40]} {json.dumps(c[2])[:40]}" for c in BAD_REQUESTS])
def test_routes_answer_bad_input_with_a_4xx(app_client, method, path, body, status, says):
    assert app_client.post("/votes/import", json={"battles": GOOD}, headers=AUTH).status_code == 200
    _check_4xx(app_client.request(method, path, json=body, headers=AUTH), status, says)
    assert app_client.get("/votes", headers=AUTH).json()["count"] == len(GOOD)  # nothing was written


record_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                          st.text(max_size=8), st.sampled_from(["model_a", "model_b", "tie", "both_bad", "m1", "m2"]),
                          st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                              max_size=2))
records = st.lists(st.dictionaries(st.sampled_from(["id", "model_a", "model_b", "winner", "voter", "category",
                                                    "style_a", "style_b", "category_tag"]), record_values),
                   max_size=4)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(battles=st.one_of(records, record_values))
def test_import_route_never_answers_any_records_with_a_500(app_client, battles):
    res = app_client.post("/votes/import", json={"battles": battles}, headers=AUTH)
    assert res.status_code in (200, 400), (battles, res.status_code, res.text)
    if res.status_code == 400:
        _check_4xx(res)
    else:  # whatever was stored can be rated or is refused in one line
        board = app_client.get("/leaderboard", headers=AUTH)
        assert board.status_code in (200, 400), board.text


def test_nan_and_infinite_style_values_are_refused(app_client):
    """Python's JSON reader accepts NaN and Infinity literals; a vote's style must be a finite number."""
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = ('{"battles": [{"model_a": "m1", "model_b": "m2", "winner": "tie", '
                f'"style_a": {{"length": {literal}}}, "style_b": {{"length": 1}}}}]}}')
        res = app_client.post("/votes/import", content=body, headers={**AUTH, "Content-Type": "application/json"})
        _check_4xx(res, 400, "style")
    assert app_client.get("/votes", headers=AUTH).json()["count"] == 0

"""Gateway routes under ``/plugins/arena``: the battle page, battles, votes, leaderboards and plots.

FastAPI is imported here only, and this module only when the gateway asks for routes, so the plugin
imports without the gateway extra. The service (store tables, contestants) is built on first request.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from skyplex.gateway import PUBLIC_PAGE

from .leaderboard import Leaderboard, matrices

if TYPE_CHECKING:
    from skyplex import Kernel

    from .service import ArenaService


class BattleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key ("voterr") is an error, not a lost field

    prompt: str = Field(description="What both anonymous models answer.")
    voter: str | None = Field(default=None, max_length=200, description="Who is voting (kept with the vote).")


class BattleCreated(BaseModel):
    battle_id: str
    answers: dict[str, str] = Field(description="Where to stream each side's answer from (text/plain).")


class VoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key ("voterr") is an error, not a lost field

    winner: str = Field(description="model_a, model_b, tie or both_bad.")
    voter: str | None = Field(default=None, max_length=200)


class VoteResult(BaseModel):
    battle_id: str
    winner: str
    model_a: str = Field(description="Revealed after the vote.")
    model_b: str
    voter: str | None = None


class VotesResponse(BaseModel):
    count: int
    votes: list[dict[str, Any]]


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key ("voterr") is an error, not a lost field

    battles: list[dict[str, Any]] = Field(description="Battle records: model_a, model_b, winner (+ id, voter, ...).")
    source: str = Field(default="gateway-import", max_length=200)


class ImportResult(BaseModel):
    imported: int
    duplicates: int
    self_battles: int


#: the pages keep the API key in the browser: no framing by other sites, no referrer, no caching
PAGE_HEADERS = {"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                           "img-src 'self' blob:; frame-ancestors 'none'"}


#: where a page takes the shared API-key form (key_form.html) and its script (key_form.js)
KEY_FORM_MARKER = "<!--#key-form-->"
KEY_SCRIPT_MARKER = "//#key-form-script"


def _static(name: str) -> str:
    return resources.files("skyplex_arena").joinpath("static", name).read_text(encoding="utf-8")


def _page(name: str) -> str:
    """A static page with the key form both pages share put in place of its markers (once each)."""
    page = _static(name)
    for marker, part in ((KEY_FORM_MARKER, "key_form.html"), (KEY_SCRIPT_MARKER, "key_form.js")):
        if page.count(marker) != 1:  # a page edited without its marker would lose the key form
            raise RuntimeError(f"static/{name} must hold {marker!r} exactly once")
        page = page.replace(marker, _static(part).rstrip("\n"))
    return page


def register(router: APIRouter, kernel: Kernel) -> None:
    """Add the arena's routes to ``router`` (mounted at ``/plugins/arena``)."""
    lock = threading.Lock()
    holder: dict[str, ArenaService] = {}

    def service() -> ArenaService:
        with lock:
            if "service" not in holder:
                from .service import ArenaService

                holder["service"] = ArenaService(kernel)
            return holder["service"]

    # the two pages hold no data, so a browser opens them without the key; they ask their user for it
    # and send it with every request for battles, votes and ratings (which all still need it)
    @router.get("/", response_class=HTMLResponse, summary="The battle page (public; asks for the API key)",
                openapi_extra=PUBLIC_PAGE)
    def battle_page() -> HTMLResponse:
        return HTMLResponse(_page("arena.html"), headers=PAGE_HEADERS)

    @router.get("/board", response_class=HTMLResponse, summary="The leaderboard page (public; asks for the API key)",
                openapi_extra=PUBLIC_PAGE)
    def board_page() -> HTMLResponse:
        return HTMLResponse(_page("board.html"), headers=PAGE_HEADERS)

    @router.get("/contestants", summary="The model configurations in the pool (not who is in which battle)")
    def contestants() -> dict[str, list[str]]:
        return {"contestants": list(service().contestants)}

    @router.post("/battles", response_model=BattleCreated, summary="Start a battle: two anonymous models")
    def start_battle(body: BattleRequest) -> BattleCreated:
        battle_id = service().start_battle(body.prompt, body.voter)
        base = f"/plugins/arena/battles/{battle_id}/answers"
        return BattleCreated(battle_id=battle_id, answers={"a": f"{base}/a", "b": f"{base}/b"})

    @router.get("/battles/{battle_id}/answers/{side}", summary="Stream one side's answer (text/plain)")
    def answer(battle_id: str, side: Literal["a", "b"]) -> StreamingResponse:
        svc = service()
        svc.votes.battle(battle_id)  # 404 before the stream starts, not halfway through it
        return StreamingResponse(svc.stream_answer(battle_id, side), media_type="text/plain; charset=utf-8",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @router.post("/battles/{battle_id}/vote", response_model=VoteResult, summary="Vote, and see who was who")
    def vote(battle_id: str, body: VoteRequest) -> VoteResult:
        return VoteResult(**service().vote(battle_id, body.winner, body.voter))

    @router.get("/votes", response_model=VotesResponse, summary="Stored votes (common battle format)")
    def votes(limit: int | None = Query(default=None, ge=1, le=100_000), voter: str | None = None) -> VotesResponse:
        svc = service()
        return VotesResponse(count=svc.votes.count(), votes=svc.votes.votes(limit=limit, voter=voter))

    @router.post("/votes/import", response_model=ImportResult, summary="Import votes (model_a, model_b, winner)")
    def import_votes(body: ImportRequest) -> ImportResult:
        return ImportResult(**service().votes.import_records(body.battles, source=body.source))

    def board(ci: str, category: str | None, exclude_flagged: bool, style_control: bool, rounds: int,
              seed: int) -> Leaderboard:
        return service().leaderboard(ci=ci, category=category, exclude_flagged=exclude_flagged,
                                     style_control=style_control, rounds=rounds, seed=seed)

    ci_q = Query(default="sandwich", pattern="^(sandwich|bootstrap|none)$")

    @router.get("/leaderboard", response_model=Leaderboard, summary="Leaderboard of the stored votes (JSON or CSV)")
    def leaderboard(ci: str = ci_q, category: str | None = None, exclude_flagged: bool = False,
                    style_control: bool = False, rounds: int = Query(default=100, ge=2, le=2000), seed: int = 0,
                    format: Literal["json", "csv"] = "json") -> Any:
        result = board(ci, category, exclude_flagged, style_control, rounds, seed)
        if format == "csv":
            return PlainTextResponse(result.to_csv(), media_type="text/csv",
                                     headers={"Content-Disposition": 'attachment; filename="arena-leaderboard.csv"'})
        return result

    @router.get("/leaderboard.png", summary="Ratings with intervals (PNG)")
    def leaderboard_png(ci: str = ci_q, category: str | None = None, exclude_flagged: bool = False) -> Response:
        from .plot import ratings_png

        return Response(ratings_png(board(ci, category, exclude_flagged, False, 100, 0)), media_type="image/png")

    @router.get("/heatmap.png", summary="Observed win-rate heatmap (PNG)")
    def heatmap_png(category: str | None = None) -> Response:
        from .plot import heatmap_png as render

        battles = service().stored_battles()
        mats = matrices(battles, category=category)
        order = [r.model for r in board("none", category, False, False, 100, 0).rows]
        return Response(render(mats["models"], mats["win_rate"], order=order), media_type="image/png")

    @router.get("/matrices", summary="Battle-count and win-rate matrices")
    def win_matrices(category: str | None = None) -> dict[str, Any]:
        return matrices(service().stored_battles(), category=category)

    @router.get("/voters", summary="Anomalous-voter checks over the stored votes")
    def voters(alpha: float = Query(default=0.01, gt=0, lt=1)) -> dict[str, Any]:
        from .anomaly import flag_voters

        checks = flag_voters(service().stored_battles(), alpha=alpha)
        return {"flagged": [c.voter for c in checks if c.flagged], "voters": [c.model_dump() for c in checks]}

"""The plugin's gateway routes under /plugins/goex, as a client calls them, beside the kernel's generic
executor routes."""

from __future__ import annotations

import pytest


def test_gateway_routes(goex_kernel, action_model, db, db_state):
    gateway = pytest.importorskip("skyplex.gateway")
    from fastapi.testclient import TestClient

    kernel = goex_kernel(action_model({"kind": "sqlite", "payload": {"sql": "INSERT INTO items(name) VALUES ('a;b')"}}))
    before = db_state(db)
    app = gateway.create_app(kernel, api_key="k", auth=True)
    h = {"Authorization": "Bearer k"}
    with TestClient(app) as client:
        r = client.post("/plugins/goex/requests", json={"request": "add an item", "model": "scripted",
                                                        "database": str(db)}, headers=h)
        assert r.status_code == 200, r.text
        action_id = r.json()["id"]
        assert r.json()["status"] == "ran"
        r = client.post(f"/v1/executors/goex/actions/{action_id}/commit", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "committed"
        r = client.post(f"/plugins/goex/actions/{action_id}/undo", headers=h)
        assert r.json()["status"] == "undone" and db_state(db) == before
        events = client.get(f"/plugins/goex/actions/{action_id}/events", headers=h).json()
        assert [e["event"] for e in events][-1] == "undone"
        assert client.get("/plugins/goex/journal/verify", headers=h).json() == {"intact": True, "problems": []}
        assert client.get("/plugins/goex/actions/nope/events", headers=h).status_code == 404

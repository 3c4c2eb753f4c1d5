"""REST actions against a real service on loopback, through the credential proxy."""

from __future__ import annotations

import json

import httpx
import pytest
from skyplex.errors import InvalidInputError
from skyplex.interfaces.executor import Action
from skyplex_goex.executor import ApprovalRequired

SECRET = "tok-ABC-123-secret"


def rest(method, path, body=None, service="todo"):
    return Action(kind="rest", payload={"service": service, "method": method, "path": path, "json": body})


def test_post_is_compensated_by_delete(rest_executor, todo_service):
    ex = rest_executor
    rec = ex.propose(rest("POST", "/items", {"title": "buy milk"}))
    assert rec.outcome["classification"] == "compensatable"
    rec = ex.run(rec.id)
    assert todo_service.items == {}  # preview sends nothing that writes
    assert rec.preview["request"]["headers"]["Authorization"] == "Bearer {{secret:todo_token}}"
    rec = ex.commit(rec.id)
    assert list(todo_service.items.values()) == [{"id": 1, "title": "buy milk"}]
    assert rec.outcome["compensation"]["method"] == "DELETE" and rec.outcome["compensation"]["path"] == "/items/1"
    rec = ex.undo(rec.id)
    assert todo_service.items == {} and rec.outcome["undo"]["restored_exactly"] is True


def test_put_patch_and_delete_restore_the_pre_image(rest_executor, todo_service):
    todo_service.items[7] = {"id": 7, "title": "original", "done": False}
    for action in (rest("PUT", "/items/7", {"title": "replaced"}), rest("PATCH", "/items/7", {"done": True})):
        rec = rest_executor.commit(rest_executor.run(rest_executor.propose(action).id).id)
        assert todo_service.items[7] != {"id": 7, "title": "original", "done": False}
        rest_executor.undo(rec.id)
        assert todo_service.items[7] == {"id": 7, "title": "original", "done": False}
    rec = rest_executor.commit(rest_executor.run(rest_executor.propose(rest("DELETE", "/items/7")).id).id)
    assert 7 not in todo_service.items
    assert rest_executor.undo(rec.id).outcome["undo"]["restored_exactly"] is True
    assert todo_service.items[7] == {"id": 7, "title": "original", "done": False}


def test_secrets_never_reach_journal_or_preview(rest_executor, todo_service):
    todo_service.items[1] = {"id": 1, "title": f"echo {SECRET}"}  # a service that echoes the token back
    rec = rest_executor.commit(rest_executor.run(rest_executor.propose(rest("PUT", "/items/1", {"t": 1})).id).id)
    rest_executor.undo(rec.id)
    dumped = json.dumps(rest_executor.events()) + rest_executor.get(rec.id).model_dump_json()
    assert SECRET not in dumped and "{{secret:todo_token}}" in dumped
    assert all(h == f"Bearer {SECRET}" for h in todo_service.auth_headers)  # but the service got the real one
    assert SECRET not in (rest_executor.data_dir / "vault.enc").read_text()


def test_allow_list_is_enforced(rest_executor, todo_service):
    with pytest.raises(InvalidInputError, match="allow-list"):
        rest_executor.propose(rest("POST", "/admin/shutdown"))
    with pytest.raises(InvalidInputError, match="unknown REST service"):
        rest_executor.propose(rest("GET", "/", service="evil"))
    proxy = rest_executor.handlers["rest"].proxy
    r = httpx.post(f"{proxy.url}/todo/admin", headers={"Authorization": "Bearer {{secret:todo_token}}"})
    assert r.status_code == 403 and "allow-list" in r.text
    rest_executor.vault.set("other", "OTHER-SECRET")
    r = httpx.get(f"{proxy.url}/todo/items", headers={"Authorization": "Bearer {{secret:other}}"})
    assert r.status_code == 403 and "not allowed" in r.text
    assert not any("admin" in c for c in todo_service.calls)


def test_irreversible_needs_approval(rest_executor, todo_service):
    rest_executor.services["todo"]["allow"].insert(0, {"method": "DELETE", "path": "/items/9"})  # no restore rule
    todo_service.items[9] = {"id": 9}
    rec = rest_executor.run(rest_executor.propose(rest("DELETE", "/items/9")).id)
    assert rec.outcome["classification"] == "irreversible"
    with pytest.raises(ApprovalRequired):
        rest_executor.commit(rec.id)
    assert 9 in todo_service.items
    rest_executor.approve(rec.id)
    rest_executor.commit(rec.id)
    assert 9 not in todo_service.items


def test_idempotency_key_makes_a_retry_harmless(rest_executor, todo_service):
    rec = rest_executor.run(rest_executor.propose(rest("POST", "/items", {"title": "once"})).id)
    rest_executor.commit(rec.id)
    handler = rest_executor.handlers["rest"]
    row = rest_executor.journal_db.get(rec.id)
    again = handler.recover_commit(rest_executor._ctx(row), row["undo_data"])  # what crash recovery does
    assert again["response"]["json"]["id"] == 1 and len(todo_service.items) == 1


def test_read_only_get_runs_in_preview(rest_executor, todo_service):
    todo_service.items[1] = {"id": 1, "title": "a"}
    rec = rest_executor.run(rest_executor.propose(rest("GET", "/items")).id)
    assert rec.outcome["classification"] == "read-only"
    assert rec.preview["response"]["json"] == [{"id": 1, "title": "a"}]

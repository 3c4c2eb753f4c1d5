"""REST actions: one HTTP call through the credential proxy, with an idempotency key and a derived compensation.

run      show the exact request (placeholders, never secrets); GET the resource's current state for
         PUT/PATCH/DELETE (the pre-image); read-only calls are simply made
commit   send with ``Idempotency-Key: goex-<action id>``, record the (redacted) response, derive the
         compensating call from it: DELETE what a POST created (Location header or ``id`` in the body),
         PUT back the pre-image after PUT/PATCH, re-create after DELETE when the rule says how
undo     send the compensating call, then check the resource is back as it was

When nothing can be derived the action is irreversible once committed. Undo may then fall back to a
reverse call a model proposes from the forward request and its recorded response (placeholders only);
it is journalled as pending and sent only after the user approves it, through the same proxy and
allow-list as every other call.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from skyplex.errors import InvalidInputError

from .handlers import ActionContext, ActionFailed, ActionHandler, ApprovalRequired, Classification, ConflictError
from .proxy import CredentialProxy, find_rule
from .vault import PLACEHOLDER

if TYPE_CHECKING:
    from .handlers import ServiceAccess

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class RestHandler(ActionHandler):
    """``{"service": "todo", "method": "POST", "path": "/items", "headers": {...}, "json": {...}}``."""

    kind = "rest"

    def __init__(self, executor: ServiceAccess) -> None:
        self.executor = executor
        self._proxy: CredentialProxy | None = None
        self._lock = threading.Lock()

    @property
    def proxy(self) -> CredentialProxy:
        with self._lock:
            if self._proxy is None:
                self._proxy = CredentialProxy(self.executor)
            return self._proxy

    def validate(self, payload: dict[str, Any]) -> dict[str, Any]:
        service = payload.get("service")
        if service not in self.executor.services:
            raise InvalidInputError(f"unknown REST service {service!r}; configured: {sorted(self.executor.services)}",
                                    field="payload.service")
        method = str(payload.get("method", "GET")).upper()
        path = payload.get("path")
        if method not in READ_METHODS | WRITE_METHODS or not isinstance(path, str) or not path.startswith("/"):
            raise InvalidInputError(f"REST action needs a method ({sorted(READ_METHODS | WRITE_METHODS)}) and a "
                                    f"path starting with '/'; got {method} {path!r}", field="payload.path")
        if find_rule(self.executor.services[service], method, path) is None:
            raise InvalidInputError(f"{method} {path} is not on service {service!r}'s allow-list", field="payload.path")
        headers = payload.get("headers") or {}
        for v in headers.values():
            if not isinstance(v, str):
                raise InvalidInputError("REST headers must be strings", field="payload.headers")
        return {"service": service, "method": method, "path": path, "headers": headers, "json": payload.get("json")}

    def classify(self, payload: dict[str, Any]) -> Classification:
        method = payload["method"]
        if method in READ_METHODS:
            return "read-only"
        rule = find_rule(self.executor.services[payload["service"]], method, payload["path"]) or {}
        if rule.get("class"):
            return rule["class"]
        if method == "DELETE" and not rule.get("restore"):
            return "irreversible"
        return "compensatable"

    def classify_outcome(self, payload: dict[str, Any], outcome: dict[str, Any], current: Classification) -> Classification:
        # e.g. a POST whose response carried neither a Location nor an id: nothing to DELETE later
        if payload["method"] in WRITE_METHODS and outcome.get("compensation") is None:
            return "irreversible"
        return current

    def needs_reverse(self, payload: dict[str, Any], outcome: dict[str, Any]) -> bool:
        return payload["method"] in WRITE_METHODS and outcome.get("compensation") is None

    def resources(self, payload: dict[str, Any]) -> set[str]:
        return {f"rest:{payload['service']}{payload['path']}"}

    # calls through the proxy -------------------------------------------------------------------------------
    def call(self, service: str, method: str, path: str, *, headers: dict[str, str] | None = None,
             body: Any = None) -> httpx.Response:
        content = json.dumps(body).encode() if body is not None else None
        hdrs = dict(headers or {})
        if content is not None:
            hdrs.setdefault("Content-Type", "application/json")
        with httpx.Client(timeout=30.0) as client:
            return client.request(method, f"{self.proxy.url}/{service}{path}", headers=hdrs, content=content)

    def _auth_headers(self, payload: dict[str, Any]) -> dict[str, str]:
        svc = self.executor.services[payload["service"]]
        return {**svc.get("headers", {}), **payload.get("headers", {})}

    def _pre_image(self, payload: dict[str, Any]) -> Any:
        if payload["method"] not in ("PUT", "PATCH", "DELETE"):
            return None
        if find_rule(self.executor.services[payload["service"]], "GET", payload["path"]) is None:
            return None
        r = self.call(payload["service"], "GET", payload["path"], headers=self._auth_headers(payload))
        return {"status": r.status_code, "json": _json(r)}

    # lifecycle ------------------------------------------------------------------------------------------------
    def run(self, ctx: ActionContext) -> dict[str, Any]:
        p = ctx.payload
        preview: dict[str, Any] = {"request": {"method": p["method"], "url": f"{p['service']}{p['path']}",
                                               "headers": self._auth_headers(p), "json": p["json"]}}
        if p["method"] in READ_METHODS:
            r = self.call(p["service"], p["method"], p["path"], headers=self._auth_headers(p))
            preview["response"] = {"status": r.status_code, "json": _json(r)}
        else:
            preview["current"] = self._pre_image(p)
            preview["compensation"] = _planned_compensation(p, self.executor.services[p["service"]])
        preview["summary"] = {"request": f"{p['method']} {p['service']}{p['path']}"}
        return preview

    def prepare_commit(self, ctx: ActionContext) -> dict[str, Any]:
        return {"idempotency_key": f"goex-{ctx.id}", "pre_image": self._pre_image(ctx.payload)}

    def _send(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any]:
        p = ctx.payload
        headers = {**self._auth_headers(p), "Idempotency-Key": undo_data["idempotency_key"]}
        r = self.call(p["service"], p["method"], p["path"], headers=headers, body=p["json"])
        if r.status_code >= 400:
            raise ActionFailed(f"{p['method']} {p['service']}{p['path']} answered {r.status_code}: {r.text[:500]}")
        response = {"status": r.status_code, "json": _json(r), "location": r.headers.get("location")}
        return {"response": response, "compensation": self._derive(p, response, undo_data.get("pre_image"))}

    def apply(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any]:
        if ctx.payload["method"] in READ_METHODS:
            return {"response": ctx.preview.get("response")}
        return self._send(ctx, undo_data)

    def recover_commit(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any] | None:
        # the same idempotency key makes a repeat harmless: the service answers with the first result
        if ctx.payload["method"] in READ_METHODS or "idempotency_key" not in undo_data:
            return None
        return {**self._send(ctx, undo_data), "recovered": "completed with the same idempotency key"}

    def rollback(self, ctx: ActionContext, undo_data: dict[str, Any]) -> None:
        return None  # nothing was sent (recover_commit completes the call when its intent was journalled)

    def _derive(self, p: dict[str, Any], response: dict[str, Any], pre: Any) -> dict[str, Any] | None:
        rule = find_rule(self.executor.services[p["service"]], p["method"], p["path"]) or {}
        if p["method"] == "POST":
            loc = response.get("location")
            body = response.get("json")
            if loc:
                target = urlsplit(loc).path
            elif isinstance(body, dict) and "id" in body:
                target = p["path"].rstrip("/") + f"/{body['id']}"
            else:
                return None
            return {"method": "DELETE", "path": target, "json": None, "expect_after": {"status": 404}}
        if p["method"] in ("PUT", "PATCH") and pre and pre["status"] == 200:
            return {"method": "PUT", "path": p["path"], "json": pre["json"], "expect_after": pre}
        if p["method"] == "DELETE" and pre and pre["status"] == 200 and rule.get("restore"):
            return {"method": rule["restore"].upper(), "path": p["path"], "json": pre["json"], "expect_after": pre}
        return None

    # the model-proposed fallback ----------------------------------------------------------------------------
    def reverse_facts(self, payload: dict[str, Any], outcome: dict[str, Any], undo_data: dict[str, Any] | None) -> str:
        """What the model is told about a committed call: request, recorded response, earlier state.

        Everything here is already placeholder-only (payloads and service headers hold ``{{secret:...}}``,
        responses were redacted by the proxy); the vault redaction at the end guards against any secret
        value that reached the record some other way.
        """
        resp = outcome.get("response") or {}
        lines = [f"Forward call (already made): {payload['method']} {payload['path']}",
                 f"Request headers: {_clip(self._auth_headers(payload))}",
                 f"Request body: {_clip(payload.get('json'))}",
                 f"Recorded response: status {resp.get('status')}, Location {resp.get('location')}, "
                 f"body {_clip(resp.get('json'))}"]
        pre = (undo_data or {}).get("pre_image")
        if pre:
            lines.append(f"State of {payload['path']} before the call (GET): status {pre.get('status')}, "
                         f"body {_clip(pre.get('json'))}")
        return self.executor.vault.redact("\n".join(lines))

    def check_reverse(self, payload: dict[str, Any], proposed: dict[str, Any], undo_data: dict[str, Any] | None) -> dict[str, Any]:
        """A model's proposed reverse as a compensating call, or InvalidInputError saying why it is refused.

        The same allow-list as forward calls applies. Headers the model wrote are dropped (the service's
        configured headers are used, as for every call), and a body naming a secret is refused: a reverse
        never needs to send a credential as data, and doing so could store it at the service.
        """
        service = proposed.get("service") or payload["service"]
        if service != payload["service"]:
            raise InvalidInputError(f"the proposed reverse calls service {service!r}; it may only call {payload['service']!r}, "
                                    "the service the action used", field="reverse.service")
        method = str(proposed.get("method", "")).upper()
        path = proposed.get("path")
        if method not in WRITE_METHODS or not isinstance(path, str) or not path.startswith("/"):
            raise InvalidInputError(f"the proposed reverse must be a write ({', '.join(sorted(WRITE_METHODS))}) to a path "
                                    f"starting with '/'; got {method or '?'} {path!r}", field="reverse.method")
        if find_rule(self.executor.services[service], method, path) is None:
            raise InvalidInputError(f"the proposed reverse {method} {path} is not on service {service!r}'s allow-list; "
                                    "it was rejected", field="reverse.path")
        body = proposed.get("json")
        if PLACEHOLDER.search(json.dumps(body)):
            raise InvalidInputError("the proposed reverse puts a {{secret:...}} placeholder in its body; refused",
                                    field="reverse.json")
        # what a GET should show once the reverse has worked, where the record tells us
        pre = (undo_data or {}).get("pre_image")
        expect_after = None
        if path == payload["path"] and pre and pre.get("status") in (200, 404):
            expect_after = pre
        elif payload["method"] == "POST" and method == "DELETE":
            expect_after = {"status": 404}
        return {"method": method, "path": path, "json": body, "expect_after": expect_after, "source": "model"}

    def undo(self, ctx: ActionContext, undo_data: dict[str, Any], outcome: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
        p = ctx.payload
        if p["method"] in READ_METHODS:
            return {"compensation": None, "restored_exactly": True}
        comp = outcome.get("compensation")
        if comp is None:
            reverse = outcome.get("reverse")
            if reverse is None:
                raise ConflictError(f"no compensating call could be derived for action {ctx.id} ({p['method']} {p['path']}); "
                                    "it cannot be undone automatically")
            # the executor checks this first; repeated here so no path can send an unapproved model call
            if not reverse.get("approved"):
                raise ApprovalRequired(f"the model-proposed reverse of action {ctx.id} has not been approved")
            comp = reverse["call"]
            if find_rule(self.executor.services[p["service"]], comp["method"], comp["path"]) is None:
                raise ActionFailed(f"the approved reverse {comp['method']} {comp['path']} is no longer on service "
                                   f"{p['service']!r}'s allow-list; nothing was sent")
        headers = {**self._auth_headers(p), "Idempotency-Key": f"goex-{ctx.id}-undo"}
        r = self.call(p["service"], comp["method"], comp["path"], headers=headers, body=comp["json"])
        if r.status_code >= 400 and not (comp["method"] == "DELETE" and r.status_code == 404):
            raise ActionFailed(f"compensating {comp['method']} {comp['path']} answered {r.status_code}: {r.text[:300]}")
        exact = None
        want = comp.get("expect_after")
        if want is not None and find_rule(self.executor.services[p["service"]], "GET", comp["path"]) is not None:
            g = self.call(p["service"], "GET", comp["path"], headers=self._auth_headers(p))
            exact = g.status_code == want["status"] and ("json" not in want or _json(g) == want["json"])
        return {"compensation": comp, "status": r.status_code, "restored_exactly": exact}

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None


def _planned_compensation(p: dict[str, Any], service: dict[str, Any]) -> str:
    if p["method"] == "POST":
        return "DELETE the created resource (from the Location header or the id in the response)"
    if p["method"] in ("PUT", "PATCH"):
        return "PUT back the current state shown above"
    rule = find_rule(service, p["method"], p["path"]) or {}
    return f"{rule['restore'].upper()} the current state back" if rule.get("restore") else "none: irreversible"


def _clip(value: Any, limit: int = 2000) -> str:
    """``value`` as JSON, cut to ``limit`` characters: a prompt must stay bounded whatever a service returned."""
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "...(cut)"


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text[:4000] or None

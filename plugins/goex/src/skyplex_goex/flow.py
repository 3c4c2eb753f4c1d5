"""The post-facto flow: a natural-language request -> a model proposes one action -> it runs staged.

The model sees what kinds of action exist and the targets the user opened to it (a folder, a database,
REST services by name); it never sees secrets (only ``{{secret:NAME}}`` placeholders) and cannot pick
other targets: the caller's target replaces whatever path the model wrote.

The same prompt and parser serve undo's fallback (:func:`propose_reverse`): when no compensating call can
be derived from a REST action's recorded response, a model proposes one, which the user must approve.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from skyplex.errors import InvalidInputError
from skyplex.interfaces.executor import Action, ActionRecord
from skyplex.interfaces.model import ChatMessage, GenerationParams, ModelBackend, OutputConstraint


class ProposingExecutor(Protocol):
    """What the request flow needs of an executor (goex's, or any with REST services)."""

    @property
    def services(self) -> dict[str, Any]: ...

    def propose(self, action: Action) -> ActionRecord: ...

    def run(self, action_id: str) -> ActionRecord: ...


SYSTEM = """You turn a user's request into exactly one action, answered as one JSON object and nothing else.
Action kinds:
- {"kind": "fs", "payload": {"command": "<POSIX shell script run in the folder>"}}
- {"kind": "sqlite", "payload": {"sql": "<SQLite statements>"}}
- {"kind": "postgres", "payload": {"sql": "<PostgreSQL statements>"}}
- {"kind": "rest", "payload": {"service": "<name>", "method": "GET|POST|PUT|PATCH|DELETE", "path": "/...", "json": {}}}
Add "description": "<one line>". Credentials are never needed: the runtime adds them."""


def build_prompt(request: str, targets: dict[str, Any], services: dict[str, Any]) -> list[ChatMessage]:
    lines = [f"Request: {request}"]
    if targets.get("root"):
        lines.append("A folder is open (use kind fs).")
    if targets.get("database"):
        lines.append("A SQLite database is open (use kind sqlite).")
    if targets.get("url"):
        lines.append("A PostgreSQL database is open (use kind postgres).")
    if services:
        desc = "; ".join(f"{n}: " + ", ".join(f"{r['method']} {r['path']}" for r in s.get("allow", []))
                         for n, s in services.items())
        lines.append(f"REST services (use kind rest): {desc}")
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content="\n".join(lines))]


def parse_action(text: str, targets: dict[str, Any]) -> Action:
    """The first JSON object in the model's answer as an Action, pinned to the caller's targets."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch != "{":
            continue
        try:
            obj, _ = decoder.raw_decode(text[i:])
        except ValueError:
            continue
        if isinstance(obj, dict) and "kind" in obj and isinstance(obj.get("payload"), dict):
            payload = dict(obj["payload"])
            for key in ("root", "database", "url"):
                payload.pop(key, None)
                if targets.get(key):
                    payload[key] = targets[key]
            return Action(kind=str(obj["kind"]), payload=payload, description=str(obj.get("description", ""))[:500])
    raise InvalidInputError(f"the model did not answer with an action as JSON; it said: {text[:300]!r}", field="request")


REVERSE_REQUEST = """Undo a REST call that was already made: answer with the one REST action on service {service!r}
that puts the service back as it was before the call. Use what the response and the earlier state show
(ids, bodies). Only the calls listed below are allowed.
{facts}"""


_PAYLOADS: dict[str, dict[str, Any]] = {
    "fs": {"command": {"type": "string", "maxLength": 240}},
    "sqlite": {"sql": {"type": "string", "maxLength": 400}},
    "postgres": {"sql": {"type": "string", "maxLength": 400}},
}
_TARGET_KINDS = (("root", "fs"), ("database", "sqlite"), ("url", "postgres"))


def action_schema(targets: dict[str, Any], services: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of the one action the model may answer with, given what is open.

    Only the kinds whose target is open (or a listed REST service) are offered; with nothing open,
    every kind is. Strings are bounded so a rambling model still closes its JSON within max_tokens.
    """
    kinds = [kind for key, kind in _TARGET_KINDS if targets.get(key)]
    if services:
        kinds.append("rest")
    variants = []
    for kind in kinds or [kind for _, kind in _TARGET_KINDS] + ["rest"]:
        if kind == "rest":
            payload = {
                "service": {"type": "string", **({"enum": sorted(services)} if services else {})},
                "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                "path": {"type": "string", "maxLength": 200},
                "json": {"type": "object"},
            }
            required = ["service", "method", "path"]
        else:
            payload, required = _PAYLOADS[kind], list(_PAYLOADS[kind])
        variants.append({
            "type": "object",
            "properties": {
                "kind": {"const": kind},
                "payload": {"type": "object", "properties": payload, "required": required,
                            "additionalProperties": False},
                "description": {"type": "string", "maxLength": 120},
            },
            "required": ["kind", "payload", "description"],
            "additionalProperties": False,
        })
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def _generate(model: ModelBackend, messages: list[ChatMessage], max_tokens: int,
              schema: dict[str, Any] | None = None) -> str:
    # greedy decoding: a proposal someone is asked to approve should not change when asked twice
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
    if schema is not None and model.info().supports_constraints:
        # grammar-constrained decoding: even a small model answers with a well-formed action
        params = params.model_copy(update={"constraint": OutputConstraint(type="json", json_schema=schema)})
    (completion,) = model.generate([messages], params)
    return completion.text


def propose_reverse(model: ModelBackend, service_name: str, service: dict[str, Any], facts: str, *,
                    max_tokens: int = 256) -> tuple[dict[str, Any], list[ChatMessage]]:
    """Ask ``model`` for a call reversing a committed REST action; returns (its payload, the prompt sent).

    ``facts`` describes the forward call and its recorded response and must already be redacted (the
    REST handler builds it with placeholders only). Only the service's allow rules are passed on, never
    its headers or base URL. The payload is *not* checked here: the caller applies the allow-list.
    """
    request = REVERSE_REQUEST.format(service=service_name, facts=facts)
    allowed = {service_name: {"allow": service.get("allow", [])}}
    messages = build_prompt(request, {}, allowed)
    text = _generate(model, messages, max_tokens, action_schema({}, allowed))
    action = parse_action(text, {})
    if action.kind != "rest":
        raise InvalidInputError(f"the model proposed a {action.kind!r} action as the reverse of a REST call; "
                                f"only a REST call can reverse one. It said: {text[:300]!r}", field="model")
    return action.payload, messages


def propose_from_request(executor: ProposingExecutor, model: ModelBackend, request: str, targets: dict[str, Any], *,
                         run: bool = True, max_tokens: int = 512) -> ActionRecord:
    """Ask ``model`` for an action fulfilling ``request``, journal it and (by default) run it staged."""
    messages = build_prompt(request, targets, executor.services)
    schema = action_schema(targets, executor.services)
    action = parse_action(_generate(model, messages, max_tokens, schema), targets)
    record = executor.propose(action.model_copy(update={"description": action.description or request[:200]}))
    return executor.run(record.id) if run else record

"""Tool calls and JSON output for the chat route, built on grammar-constrained decoding.

The model is told about the tools in a system message and asked to answer with one JSON object
``{"name": ..., "arguments": {...}}``. With ``tool_choice`` ``required`` (or a named function) the
output is constrained to exactly that JSON, valid against the chosen tools' parameter schemas, so
even a small model produces a call that parses. With ``auto`` the output is either free text or
``<tool_call>`` + that JSON + ``</tool_call>`` (a grammar with both branches); the model picks.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..errors import InvalidInputError
from ..interfaces import ChatMessage, OutputConstraint
from .openai_schemas import FunctionCall, NamedToolChoice, Tool, ToolCall

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


def call_schema(tools: list[Tool]) -> dict[str, Any]:
    """JSON Schema of one call to any of ``tools``."""
    options = [
        {
            "type": "object",
            "properties": {"name": {"const": t.function.name}, "arguments": _closed(t.function.parameters)},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def _closed(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters schema with no properties beyond those declared (unless it says otherwise):
    a function takes the arguments it names, and a small model left free keeps inventing more."""
    schema = dict(parameters or {"type": "object"})
    if schema.get("type") == "object" and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    return schema


def _system_text(tools: list[Tool], mode: str) -> str:
    lines = ["You can call these functions:"]
    for t in tools:
        spec = {"name": t.function.name, "description": t.function.description or "", "parameters": t.function.parameters}
        lines.append(json.dumps(spec))
    if mode == "auto":
        lines.append(
            f'To call one, answer only {CALL_OPEN}{{"name": <function name>, "arguments": {{...}}}}{CALL_CLOSE}; '
            "otherwise answer in plain text."
        )
    else:
        lines.append('Answer only with {"name": <function name>, "arguments": {...}} for the call to make.')
    return "\n".join(lines)


def plan_tools(
    messages: list[ChatMessage], tools: list[Tool] | None, choice: str | NamedToolChoice | None
) -> tuple[list[ChatMessage], OutputConstraint | None, str]:
    """The messages to send, the output constraint, and the mode ('none', 'auto' or 'required')."""
    if not tools:
        if choice not in (None, "none"):
            raise InvalidInputError("tool_choice needs tools; send the functions in 'tools'", field="tool_choice")
        return messages, None, "none"
    mode = "auto" if choice is None else choice
    chosen = tools
    if isinstance(mode, NamedToolChoice):
        chosen = [t for t in tools if t.function.name == mode.function.name]
        if not chosen:
            names = ", ".join(t.function.name for t in tools)
            raise InvalidInputError(
                f"tool_choice names function {mode.function.name!r}, which is not in tools ({names})",
                field="tool_choice.function.name",
            )
        mode = "required"
    if mode == "none":
        return messages, None, "none"
    system = ChatMessage(role="system", content=_system_text(chosen, mode))
    # the tool list goes first; an existing system message keeps its place after it
    sent = [system, *messages]
    schema = call_schema(chosen)
    if mode == "required":
        return sent, OutputConstraint(type="json", json_schema=schema), "required"
    grammar = "\n".join(
        [
            "start: call | text",
            f'call: "{CALL_OPEN}" args "{CALL_CLOSE}"',
            f"args: %json {json.dumps(schema)}",
            # free text that does not open a tool call
            r"text: /[^<][\s\S]*/ | /<[^t][\s\S]*/",
        ]
    )
    return sent, OutputConstraint(type="lark", grammar=grammar), "auto"


def parse_calls(text: str, mode: str) -> list[ToolCall] | None:
    """The tool calls in a constrained answer, or None when the model answered in text."""
    body = text.strip()
    if mode == "auto":
        if not body.startswith(CALL_OPEN):
            return None
        body = body[len(CALL_OPEN) :]
        body = body[: body.rfind(CALL_CLOSE)] if CALL_CLOSE in body else body
    elif mode != "required":
        return None
    try:
        call = json.loads(body)
    except ValueError:
        return None  # cut short by max_tokens: the text goes back as it is
    if not isinstance(call, dict) or "name" not in call:
        return None
    return [
        ToolCall(
            id=f"call_{uuid.uuid4().hex[:24]}",
            function=FunctionCall(name=str(call["name"]), arguments=json.dumps(call.get("arguments", {}))),
        )
    ]

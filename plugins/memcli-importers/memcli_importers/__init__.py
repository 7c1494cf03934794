"""Importers for chat exports people actually have. Each message keeps its id, role and timestamp.

Shapes followed (fixtures in tests/fixtures mirror them):
- chatgpt: ChatGPT's data export `conversations.json`: a list of conversations, each with `title`, `mapping`
  {node id: {"message": {"id", "author": {"role"}, "create_time" (epoch seconds or null),
  "content": {"content_type": "text", "parts": [str, ...]}} or null, "parent", "children"}} and `current_node`.
  The branch ending at `current_node` is followed from the root (edited-away branches are skipped);
  system and empty messages are dropped.
- claude: Claude.ai's export `conversations.json`: a list of {"uuid", "name", "created_at",
  "chat_messages": [{"uuid", "sender": "human"|"assistant", "created_at" (ISO), "text",
  "content": [{"type": "text", "text"}, ...]}]}.
- claude-code: Claude Code session logs (`~/.claude/projects/<project>/<session>.jsonl`), one JSON object per
  line: {"type": "user"|"assistant"|..., "uuid", "sessionId", "timestamp" (ISO), "message": {"role",
  "content": str | [{"type": "text", "text"}, {"type": "tool_use"|"tool_result", ...}]}}. Only text parts are
  kept; lines of other types (summaries, tool-only turns) are skipped.
"""

from __future__ import annotations

import functools
import json

from memcli.errors import InputError
from memcli.ingest.parse import Message, json_lines
from memcli.plugins import hookimpl
from memcli.timeparse import iso_or_none


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _load(text: str, origin: str):
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{origin}: invalid JSON: {exc}") from None


def _time(value, origin: str, where: str):
    try:
        return iso_or_none(value)
    except (ValueError, OverflowError, OSError):
        raise InputError(f"{origin}: {where}: bad timestamp {value!r}") from None


def _shape_checked(parse):
    """Exports are JSON of someone else's design: a field of an unexpected type is the file's fault, reported in
    one line naming the file, not an AttributeError traceback."""

    @functools.wraps(parse)
    def checked(text: str, origin: str) -> list[Message]:
        try:
            return parse(text, origin)
        except (AttributeError, TypeError, KeyError) as exc:
            raise InputError(f"{origin}: not a {parse.__name__.removeprefix('parse_')} export of the expected "
                             f"shape ({exc.__class__.__name__}: {exc})") from None

    return checked


@_shape_checked
def parse_chatgpt(text: str, origin: str) -> list[Message]:
    data = _load(text, origin)
    if not isinstance(data, list):
        raise InputError(f"{origin}: expected a list of ChatGPT conversations")
    messages = []
    for ci, conv in enumerate(data):
        mapping = conv.get("mapping") if isinstance(conv, dict) else None
        if not isinstance(mapping, dict):
            raise InputError(f"{origin}: conversation {ci} has no 'mapping'")
        node_id = conv.get("current_node")
        if node_id not in mapping:  # no current node: take the last leaf in file order
            leaves = [k for k, v in mapping.items() if not v.get("children")]
            node_id = leaves[-1] if leaves else None
        chain, seen = [], set()
        while node_id is not None and node_id in mapping:
            if node_id in seen:  # a damaged export whose parent links loop would otherwise never end
                raise InputError(f"{origin}: conversation {ci}: its messages' parent links form a loop at {node_id!r}")
            seen.add(node_id)
            chain.append(mapping[node_id])
            node_id = mapping[node_id].get("parent")
        for node in reversed(chain):
            msg = node.get("message")
            if not msg:
                continue
            role = (msg.get("author") or {}).get("role")
            content = msg.get("content") or {}
            parts = [p for p in content.get("parts") or [] if isinstance(p, str)]
            body = "\n".join(parts).strip()
            if role == "system" or not body:
                continue
            messages.append(Message(text=body, speaker=role, role=role, external_id=msg.get("id"),
                                    occurred_at=_time(msg.get("create_time"), origin, f"message {msg.get('id')}")))
    return messages


@_shape_checked
def parse_claude(text: str, origin: str) -> list[Message]:
    data = _load(text, origin)
    if not isinstance(data, list):
        raise InputError(f"{origin}: expected a list of Claude conversations")
    messages = []
    for ci, conv in enumerate(data):
        if not isinstance(conv, dict) or not isinstance(conv.get("chat_messages"), list):
            raise InputError(f"{origin}: conversation {ci} has no 'chat_messages'")
        for msg in conv["chat_messages"]:
            parts = [c.get("text", "") for c in msg.get("content") or [] if isinstance(c, dict) and c.get("type") == "text"]
            body = ("\n".join(p for p in parts if p) or msg.get("text") or "").strip()
            if not body:
                continue
            sender = msg.get("sender")
            role = {"human": "user", "assistant": "assistant"}.get(sender, sender)
            messages.append(Message(text=body, speaker=role, role=role, external_id=msg.get("uuid"),
                                    occurred_at=_time(msg.get("created_at"), origin, f"message {msg.get('uuid')}")))
    return messages


@_shape_checked
def parse_claude_code(text: str, origin: str) -> list[Message]:
    messages = []
    for lineno, obj in json_lines(text.split("\n"), origin):  # JSON strings may hold U+2028: not splitlines()
        if not isinstance(obj, dict) or obj.get("type") not in ("user", "assistant"):
            continue
        inner = obj.get("message") or {}
        content = inner.get("content")
        if isinstance(content, str):
            body = content
        else:
            body = "\n".join(c.get("text", "") for c in content or []
                             if isinstance(c, dict) and c.get("type") == "text")
        if not body.strip():
            continue
        role = inner.get("role") or obj["type"]
        messages.append(Message(text=body.strip(), speaker=role, role=role, external_id=obj.get("uuid"),
                                occurred_at=_time(obj.get("timestamp"), origin, f"line {lineno}")))
    return messages


@hookimpl
def register_importers(register):
    register("chatgpt", parse_chatgpt)
    register("claude", parse_claude)
    register("claude-code", parse_claude_code)

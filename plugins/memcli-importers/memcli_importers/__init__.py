"""Importers for chat exports people actually have. Each message keeps its id, role and timestamp.

`--format auto` picks them by shape (each parse function carries a `detect(head)`; memcli.ingest.parse.export_kind
holds the rules), and a `.zip` data export is read through its conversations.json (memcli.ingest.stream.unzip).

Tags each message gets (the decisions, documented in README and docs/agents.md):
- chatgpt, claude: `chat:<title>`, the conversation's title slugged (lower case, runs of other characters -> '-',
  at most 60 characters); no tag for an untitled conversation.
- claude-code: `session:<first 8 characters of sessionId>`, `project:<basename of cwd>`, `branch:<gitBranch>`.

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
  line: {"type": "user"|"assistant"|"summary"|"system"|..., "uuid", "parentUuid", "sessionId", "timestamp" (ISO),
  "cwd", "gitBranch", "isSidechain", "isMeta", "message": {"role", "content": str | [{"type": "text", "text"},
  {"type": "thinking"|"tool_use"|"tool_result"|"image", ...}]}}. Only the text of user and assistant turns is
  kept. Skipped as noise: thinking, tool_use and tool_result parts (so tool-only turns), lines of other types
  (summary, system, file-history-snapshot...), sidechain lines (subagents), meta lines (isMeta: the caveat
  before local commands), slash commands and their output (<command-name>, <local-command-stdout>...),
  interruption notices, compaction summaries (isCompactSummary, or "This session is being continued from a
  previous conversation..."), and <system-reminder> blocks inside a text.
"""

from __future__ import annotations

import functools
import posixpath
import re

from memcli.errors import InputError
from memcli.ingest.parse import Message, export_kind, json_lines
from memcli.plugins import hookimpl
from memcli.timeparse import iso_or_none


def _load(text: str, origin: str):
    from memcli.files import loads

    try:
        return loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{origin}: invalid JSON: {exc}") from None


def _time(value, origin: str, where: str):
    try:
        return iso_or_none(value)
    except (ValueError, OverflowError, OSError):
        raise InputError(f"{origin}: {where}: bad timestamp {value!r}") from None


def slug(text, limit: int = 60) -> str:
    """'Trip planning: Kyoto!' -> 'trip-planning-kyoto'; letters of any script are kept."""
    if not isinstance(text, str):
        return ""
    return re.sub(r"[\W_]+", "-", text.lower()).strip("-")[:limit].strip("-")


def _title_tags(title) -> tuple[str, ...]:
    name = slug(title)
    return (f"chat:{name}",) if name else ()


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
        tags = _title_tags(conv.get("title"))
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
            hidden = (msg.get("metadata") or {}).get("is_visually_hidden_from_conversation")
            if role in ("system", "tool") or hidden or not body:  # tool output (browsing, code runs) is not a turn
                continue
            messages.append(Message(text=body, speaker=role, role=role, external_id=msg.get("id"), tags=tags,
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
        tags = _title_tags(conv.get("name"))
        for msg in conv["chat_messages"]:
            parts = [c.get("text", "") for c in msg.get("content") or [] if isinstance(c, dict) and c.get("type") == "text"]
            body = ("\n".join(p for p in parts if p) or msg.get("text") or "").strip()
            if not body:
                continue
            sender = msg.get("sender")
            role = {"human": "user", "assistant": "assistant"}.get(sender, sender)
            messages.append(Message(text=body, speaker=role, role=role, external_id=msg.get("uuid"), tags=tags,
                                    occurred_at=_time(msg.get("created_at"), origin, f"message {msg.get('uuid')}")))
    return messages


# Text of a user turn that Claude Code wrote, not the person: slash commands and their output, the caveat before
# them, interruption notices, and the summary a compacted session starts with.
_NOISE_PREFIXES = ("<command-name>", "<command-message>", "<command-args>", "<local-command-stdout>",
                   "<local-command-stderr>", "Caveat: The messages below were generated by the user while running "
                   "local commands", "[Request interrupted by user", "This session is being continued from a "
                   "previous conversation")
_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)


def claude_code_tags(obj: dict) -> tuple[str, ...]:
    """`session:<id8>`, `project:<basename of cwd>`, `branch:<name>` from one session-log line (those it has)."""
    tags = []
    if isinstance(obj.get("sessionId"), str) and obj["sessionId"].strip():
        tags.append(f"session:{obj['sessionId'].strip()[:8]}")
    cwd = obj.get("cwd")
    if isinstance(cwd, str) and cwd.strip():
        name = posixpath.basename(cwd.replace("\\", "/").rstrip("/"))
        if name:
            tags.append(f"project:{name[:100]}")
    branch = obj.get("gitBranch")
    if isinstance(branch, str) and branch.strip():
        tags.append(f"branch:{branch.strip()[:100]}")
    return tuple(t for t in tags if t.isprintable())


def claude_code_text(obj) -> tuple[str, str] | None:
    """(role, text) of a session-log line that is a person's or the assistant's own words; None for noise."""
    if not isinstance(obj, dict) or obj.get("type") not in ("user", "assistant"):
        return None
    if obj.get("isSidechain") or obj.get("isMeta") or obj.get("isCompactSummary") or obj.get("isApiErrorMessage"):
        return None
    inner = obj.get("message") or {}
    content = inner.get("content")
    if isinstance(content, str):
        body = content
    else:
        body = "\n".join(c.get("text", "") for c in content or []
                         if isinstance(c, dict) and c.get("type") == "text")
    body = _REMINDER.sub("", body).strip()
    if not body or body.startswith(_NOISE_PREFIXES):
        return None
    return inner.get("role") or obj["type"], body


@_shape_checked
def parse_claude_code(text: str, origin: str) -> list[Message]:
    messages = []
    for lineno, obj in json_lines(text.split("\n"), origin):  # JSON strings may hold U+2028: not splitlines()
        turn = claude_code_text(obj)
        if turn is None:
            continue
        role, body = turn
        messages.append(Message(text=body, speaker=role, role=role, external_id=obj.get("uuid"),
                                tags=claude_code_tags(obj),
                                occurred_at=_time(obj.get("timestamp"), origin, f"line {lineno}")))
    return messages


def _detector(kind: str):
    def detect(head: str) -> bool:
        return export_kind(head) == kind

    return detect


for _parse, _kind in ((parse_chatgpt, "chatgpt"), (parse_claude, "claude"), (parse_claude_code, "claude-code")):
    setattr(_parse, "detect", _detector(_kind))  # `--format auto` asks it (memcli.ingest.parse.detect)


@hookimpl
def register_importers(register):
    register("chatgpt", parse_chatgpt)
    register("claude", parse_claude)
    register("claude-code", parse_claude_code)

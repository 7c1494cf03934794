"""Input formats. Every error names the origin and, where there is one, the line, and nothing is written.

Formats:
  text   plain text; paragraphs (blank-line separated) become separate messages
  chat   lines 'Speaker: text', optionally '[timestamp] Speaker: text'; other lines continue the previous message
  jsonl  one object per line: id, speaker|role|name, text|content, timestamp
  json   a list of OpenAI-style messages ({role, content, name?}), or {"messages": [...]}
  auto   decided from the content (see detect_format)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import InputError
from ..timeparse import iso_or_none

MAX_NESTING = 64

_CHAT_LINE = re.compile(
    r"^\s*(?:\[(?P<ts>[^\]\n]{1,64})\]\s*)?(?P<speaker>[^\s:\[\]{}\"][^:\n]{0,63}?):[ \t]+(?P<text>\S.*)$"
)
_ID_KEYS = ("id", "message_id", "uuid", "dia_id")
_SPEAKER_KEYS = ("speaker", "name", "role", "author", "sender")
_TEXT_KEYS = ("text", "content", "message", "clean_text", "body")
_TIME_KEYS = ("timestamp", "time", "created_at", "date", "datetime", "date_time", "ts", "create_time")


@dataclass
class Message:
    text: str
    speaker: str | None = None
    role: str | None = None
    occurred_at: str | None = None  # ISO-8601 UTC, only when the input said when
    external_id: str | None = None


def decode(data: bytes, origin: str) -> str:
    """Strict UTF-8; binary and empty input are refused rather than stored as mojibake."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"{origin}: input looks binary (NUL byte at offset {nul}); nothing stored")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{origin}: input is not valid UTF-8 (byte offset {exc.start}); nothing stored") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InputError(f"{origin}: input is empty; nothing to remember")
    return text


def detect_format(text: str) -> str:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            json.loads(stripped)
            return "json"
        except ValueError:
            pass  # maybe chat lines starting with [timestamp]
    if stripped.startswith("{"):
        first = stripped.splitlines()[0].strip()
        try:
            json.loads(first)
            return "jsonl"
        except ValueError:
            try:
                json.loads(stripped)
                return "json"
            except ValueError:
                return "jsonl"  # let the jsonl parser report the line
    lines = [ln for ln in text.splitlines() if ln.strip()]
    matches = sum(1 for ln in lines if _CHAT_LINE.match(ln))
    if matches >= 2 and matches >= 0.6 * len(lines):
        return "chat"
    return "text"


def parse(text: str, fmt: str, origin: str, importers: dict | None = None) -> tuple[str, list[Message]]:
    """(resolved format, messages). `importers` maps format names to parse functions (built-ins and plugins);
    'auto' chooses among the built-in ones. Raises InputError naming origin and line."""
    importers = importers or {"text": parse_text, "chat": parse_chat, "jsonl": parse_jsonl, "json": parse_json}
    if fmt != "auto" and fmt not in importers:
        raise InputError(f"unknown format {fmt!r}; choose one of auto, {', '.join(sorted(importers))}")
    if fmt == "auto":
        fmt = detect_format(text)
    messages = [m for m in importers[fmt](text, origin) if m.text.strip()]
    if not messages:
        raise InputError(f"{origin}: no message with text found ({fmt}); nothing stored")
    return fmt, messages


def parse_text(text: str, origin: str) -> list[Message]:
    paragraphs = re.split(r"\n[ \t]*\n", text.strip())
    return [Message(text=p.strip()) for p in paragraphs if p.strip()]


def _time(value, origin: str, where: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return iso_or_none(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise InputError(f"{origin}:{where}: bad timestamp {value!r}: {exc}") from None


def parse_chat(text: str, origin: str) -> list[Message]:
    messages: list[Message] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _CHAT_LINE.match(line)
        if m:
            messages.append(Message(
                text=m.group("text").strip(),
                speaker=m.group("speaker").strip(),
                occurred_at=_time(m.group("ts"), origin, str(lineno)),
            ))
        elif line.strip():
            if not messages:
                raise InputError(f"{origin}:{lineno}: expected 'Speaker: text' (chat format)")
            messages[-1].text += "\n" + line.strip()
    return messages


def _depth(value, limit: int = MAX_NESTING) -> int:
    """Nesting depth, iteratively, so hostile input cannot blow the stack."""
    stack, deepest = [(value, 1)], 0
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, d + 1) for v in item)
    return deepest


def _content_text(content) -> str:
    """OpenAI content is a string or a list of parts; keep the text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    if isinstance(content, (int, float)):
        return str(content)
    raise ValueError(f"unsupported content of type {type(content).__name__}")


def _record(obj, origin: str, where: str) -> Message:
    if isinstance(obj, str):
        return Message(text=obj)
    if not isinstance(obj, dict):
        raise InputError(f"{origin}:{where}: expected a JSON object, got {type(obj).__name__}")
    if _depth(obj) > MAX_NESTING:
        raise InputError(f"{origin}:{where}: JSON nested deeper than {MAX_NESTING} levels")
    text_key = next((k for k in _TEXT_KEYS if k in obj), None)
    if text_key is None:
        raise InputError(f"{origin}:{where}: record has no text field (one of {', '.join(_TEXT_KEYS)})")
    try:
        text = _content_text(obj[text_key])
    except ValueError as exc:
        raise InputError(f"{origin}:{where}: {exc}") from None
    role = obj.get("role") if isinstance(obj.get("role"), str) else None
    speaker = None
    for key in _SPEAKER_KEYS:
        value = obj.get(key)
        if isinstance(value, dict):
            value = value.get("name") or value.get("role")
        if isinstance(value, str) and value.strip():
            speaker = value.strip()
            break
    ext = next((obj[k] for k in _ID_KEYS if obj.get(k) not in (None, "")), None)
    when = next((obj[k] for k in _TIME_KEYS if obj.get(k) not in (None, "")), None)
    return Message(
        text=text.strip(),
        speaker=speaker,
        role=role,
        occurred_at=_time(when, origin, where),
        external_id=None if ext is None else str(ext),
    )


def json_lines(lines, origin: str):
    """(line number, decoded value) for each non-blank line; a bad line is an InputError naming it."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise InputError(f"{origin}:{lineno}: invalid JSON: {exc}") from None


def parse_jsonl(text: str, origin: str) -> list[Message]:
    return [_record(obj, origin, str(lineno)) for lineno, obj in json_lines(text.splitlines(), origin)]


def parse_json(text: str, origin: str) -> list[Message]:
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError(f"{origin}: JSON nested too deeply") from None
    except ValueError as exc:
        raise InputError(f"{origin}:{getattr(exc, 'lineno', '?')}: invalid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    if not isinstance(data, list):
        raise InputError(f"{origin}: expected a JSON list of messages or {{\"messages\": [...]}}")
    return [_record(item, origin, f"item {i}") for i, item in enumerate(data)]

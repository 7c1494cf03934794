"""Input formats. Every error names the origin and, where there is one, the line, and nothing is written.

Formats:
  text   plain text; paragraphs (blank-line separated) become separate messages
  chat   lines 'Speaker: text', optionally '[timestamp] Speaker: text'; other lines continue the previous message
  jsonl  one object per line: id, speaker|role|name, text|content, timestamp
  json   a list of OpenAI-style messages ({role, content, name?}), or {"messages": [...]}
  auto   decided from the content (see detect): a plugin importer's detector first, then detect_format

A zip archive (a ChatGPT or Claude.ai data export) is read as the text of its conversations.json or its .jsonl
files (stream.unzip). Exports of known chat apps are recognised even without their importer (export_kind), so
`--format auto` can name the plugin that reads them instead of failing on the first record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import InputError, UsageError
from ..timeparse import iso_or_none

MAX_NESTING = 64
MAX_MESSAGE_CHARS = 32_000  # longer messages are stored as consecutive pieces (split_long)
HEAD_CHARS = 64 * 1024  # what a format detector sees: the input's beginning (a large input is not read whole)
ZIP_MAGIC = b"PK\x03\x04"

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
    tags: tuple[str, ...] = ()  # added to the memory's tags (an importer's conversation title, session, project)


def decode(data: bytes, origin: str) -> str:
    """Strict UTF-8; binary and empty input are refused rather than stored as mojibake. A zip archive is read as
    the text of the files in it that hold conversations (stream.unzip)."""
    if data[:4] == ZIP_MAGIC:
        from .stream import unzip_bytes

        data = unzip_bytes(data, origin)
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


def require_utf8(text: str, what: str) -> str:
    """Command-line text can hold bytes that are not UTF-8 (Python keeps them as lone surrogates): refuse them here
    rather than fail later in hashing, SQLite or the tokenizer."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} is not valid UTF-8 (character {exc.start}); nothing done") from None
    return text


def detect_format(text: str, complete: bool = True) -> str:
    """`complete=False`: `text` is only the head of a large input, so a JSON document cannot be parsed whole."""
    stripped = text.lstrip()
    first = stripped.split("\n", 1)[0].strip()
    if stripped.startswith("["):
        if not complete and not _CHAT_LINE.match(first):
            return "json"
        try:
            json.loads(stripped)
            return "json"
        except ValueError:
            pass  # maybe chat lines starting with [timestamp]
    if stripped.startswith("{"):
        try:
            json.loads(first)
            return "jsonl"
        except ValueError:
            if not complete:
                # a first line longer than the head is cut, not invalid: JSON Lines with a long first message
                # (a JSON document this large would be pretty-printed or an array)
                return "jsonl" if "\n" not in stripped else "json"
            try:
                json.loads(stripped)
                return "json"
            except ValueError:
                return "jsonl"  # let the jsonl parser report the line
    lines = [ln for ln in text.splitlines() if ln.strip()]
    matches = sum(1 for ln in lines if _looks_like_a_turn(ln))
    if matches >= 2 and matches >= 0.6 * len(lines):
        return "chat"
    return "text"


def _looks_like_a_turn(line: str) -> bool:
    """A 'Speaker: text' line whose speaker reads as a name or role: one word ('Ana', 'user'), or up to three
    capitalised ones ('Mary Ann', 'Dr. Smith'). Notes are full of 'My plan for Monday: gym at 7' and 'The dentist
    said: floss': read as chat, their opening words became speakers. (--format chat takes any speaker.)"""
    m = _CHAT_LINE.match(line)
    if not m:
        return False
    words = m.group("speaker").split()
    return len(words) == 1 or (len(words) <= 3 and all(w[:1].isupper() for w in words))


# Chat-app exports memcli knows by shape, for `--format auto`: name -> (what it is, the plugin that reads it).
KNOWN_EXPORTS = {
    "chatgpt": ("a ChatGPT export", "memcli-importers"),
    "claude": ("a Claude.ai export", "memcli-importers"),
    "claude-code": ("a Claude Code session log", "memcli-importers"),
}
_ARRAY_OF_OBJECTS = re.compile(r"\A\s*\[\s*\{")
_CLAUDE_CODE_TURN = ("user", "assistant")


def export_kind(head: str) -> str | None:
    """Which known export (KNOWN_EXPORTS) `head` begins, judged from its shape alone: `head` may be cut anywhere,
    so no JSON document is parsed whole. ChatGPT: a list of conversations with a `mapping` of nodes whose
    messages have an `author`. Claude.ai: a list of conversations with `chat_messages`. Claude Code: JSON Lines
    whose complete lines are all objects with a `type`, at least one a user or assistant turn with a `sessionId`
    and a `message` object."""
    head = head[:HEAD_CHARS].lstrip("\ufeff \t\r\n")
    if _ARRAY_OF_OBJECTS.match(head):
        if re.search(r'"mapping"\s*:\s*\{', head) and re.search(r'"(author|current_node)"\s*:', head):
            return "chatgpt"
        if re.search(r'"chat_messages"\s*:\s*\[', head):
            return "claude"
        return None
    if not head.startswith("{"):
        return None
    turn = False
    for line in head.split("\n"):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue  # the last line of a cut head, or one longer than the head
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            return None
        turn = turn or (obj["type"] in _CLAUDE_CODE_TURN and isinstance(obj.get("sessionId"), str)
                        and isinstance(obj.get("message"), dict))
    if not turn:  # the first turn may be a line longer than the head: its fields, unparsed, still tell
        turn = bool(re.search(r'"sessionId"\s*:\s*"', head) and re.search(r'"type"\s*:\s*"(user|assistant)"', head)
                    and re.search(r'"message"\s*:\s*\{', head))
    return "claude-code" if turn else None


def detect(text: str, origin: str, importers: dict | None = None, complete: bool = True) -> str:
    """The format `--format auto` reads `text` as. First the importers' own detectors, in registration order: a
    parse function may carry `parse.detect(head: str) -> bool`, given the input's first HEAD_CHARS characters
    (possibly cut mid-document). Then, for a known export whose importer is not loaded, an InputError naming the
    plugin to install, rather than a confusing failure on its first record. Then the built-in rules."""
    importers = importers or {}
    head = text[:HEAD_CHARS]
    for name, fn in importers.items():
        detector = getattr(fn, "detect", None)
        if detector is None:
            continue
        try:
            hit = detector(head)
        except Exception as exc:  # a plugin's bug must not break every `remember`
            import warnings

            from ..plugins import PluginWarning

            warnings.warn(PluginWarning(f"the detector of format {name!r} failed ({exc.__class__.__name__}: "
                                        f"{exc}); ignored"), stacklevel=2)
            continue
        if hit:
            return name
    kind = export_kind(head)
    if kind is not None and kind not in importers:
        what, plugin = KNOWN_EXPORTS[kind]
        raise InputError(f"{origin}: looks like {what} (format {kind!r}), which the {plugin} plugin reads; it is "
                         f"not loaded (pip install ./plugins/{plugin} from memcli's source, or check $MEMCLI_PLUGINS)")
    return detect_format(text, complete)


def parse(text: str, fmt: str, origin: str, importers: dict | None = None) -> tuple[str, list[Message]]:
    """(resolved format, messages). `importers` maps format names to parse functions (built-ins and plugins);
    'auto' asks their detectors, then the built-in rules (detect). Raises InputError naming origin and line."""
    importers = importers or {"text": parse_text, "chat": parse_chat, "jsonl": parse_jsonl, "json": parse_json}
    if fmt != "auto" and fmt not in importers:
        raise UsageError(f"unknown format {fmt!r}; choose one of auto, {', '.join(sorted(importers))}")
    if fmt == "auto":
        fmt = detect(text, origin, importers)
    messages = [piece for m in importers[fmt](text, origin) if m.text.strip() for piece in split_long(m)]
    if not messages:
        raise InputError(f"{origin}: no message with text found ({fmt}); nothing stored")
    return fmt, messages


def split_long(msg: Message, limit: int = MAX_MESSAGE_CHARS) -> list[Message]:
    """A message longer than `limit` characters becomes consecutive pieces (cut at whitespace where possible),
    each its own memory with the same speaker, time and message id. One 50 MB line would otherwise be one
    memory that no recall could show and that takes hours to embed as a unit."""
    if len(msg.text) <= limit:
        return [msg]
    pieces, text = [], msg.text
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit)
        cut = limit if cut < 0 else cut
        pieces.append(text[:cut])
        text = text[cut:].lstrip()
    if text.strip():
        pieces.append(text)
    return [Message(text=p.strip(), speaker=msg.speaker, role=msg.role, occurred_at=msg.occurred_at,
                    external_id=msg.external_id, tags=msg.tags) for p in pieces if p.strip()]


def numbered(text: str) -> Iterator[tuple[int, int, str]]:
    """(line number, offset, line) for a whole text, as the streaming reader gives them for a file."""
    offset = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        yield lineno, offset, line.removesuffix("\r")
        offset += len(line) + 1


def iter_text(lines: Iterable[tuple[int, int, str]], origin: str) -> Iterator[tuple[int, Message]]:
    """Paragraphs (blank-line separated) as (start offset, message). A paragraph that grows past
    MAX_MESSAGE_CHARS is cut at a line boundary, so memory stays bounded on a log with no blank lines."""
    buf: list[str] = []
    start = size = 0
    for _lineno, offset, line in lines:
        if not line.strip(" \t\r\f\v"):
            if buf:
                yield start, Message(text="\n".join(buf).strip())
                buf, size = [], 0
            continue
        if not buf:
            start = offset
        buf.append(line)
        size += len(line) + 1
        if size > MAX_MESSAGE_CHARS:
            yield start, Message(text="\n".join(buf).strip())
            buf, size = [], 0
    if buf:
        yield start, Message(text="\n".join(buf).strip())


def parse_text(text: str, origin: str) -> list[Message]:
    return [m for _, m in iter_text(numbered(text), origin) if m.text]


def _time(value, origin: str, where: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return iso_or_none(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise InputError(f"{origin}:{where}: bad timestamp {value!r}: {exc}") from None


def iter_chat(lines: Iterable[tuple[int, int, str]], origin: str) -> Iterator[tuple[int, Message]]:
    """'Speaker: text' lines as (start offset, message); other lines continue the previous message."""
    current: Message | None = None
    start = 0
    prev_lineno, cut_at_space = None, False
    for lineno, offset, line in lines:
        if current is not None and lineno == prev_lineno:
            # the next piece of a line too long to read whole (stream.py): never a new 'Speaker:' line, and joined
            # as it was cut, after a space
            current.text += (" " if cut_at_space else "") + line.strip()
            cut_at_space = line[-1:].isspace()
            continue
        prev_lineno, cut_at_space = lineno, line[-1:].isspace()
        m = _CHAT_LINE.match(line)
        if m:
            if current is not None:
                yield start, current
            start = offset
            current = Message(text=m.group("text").strip(), speaker=m.group("speaker").strip(),
                              occurred_at=_time(m.group("ts"), origin, str(lineno)))
        elif line.strip():
            if current is None:
                raise InputError(f"{origin}:{lineno}: expected 'Speaker: text' (chat format)")
            current.text = f"{current.text}\n{line.strip()}" if current.text else line.strip()
            if len(current.text) > MAX_MESSAGE_CHARS:  # bounded memory: go on in a new message, same speaker
                yield start, current
                start = offset
                current = Message(text="", speaker=current.speaker, occurred_at=current.occurred_at)
    if current is not None:
        yield start, current


def parse_chat(text: str, origin: str) -> list[Message]:
    return [m for _, m in iter_chat(numbered(text), origin)]


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
    raise ValueError(f"text must be a string (or a list of text parts), not {_json_type(content)}")


def _json_type(value) -> str:
    return {bool: "true/false", int: "a number", float: "a number", dict: "an object", list: "a list"}.get(
        type(value), type(value).__name__)


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
    if obj.get("role") is not None and not isinstance(obj.get("role"), str):
        raise InputError(f"{origin}:{where}: field 'role' must be a string, not {_json_type(obj['role'])}")
    role = obj.get("role")
    speaker = None
    for key in _SPEAKER_KEYS:
        value = obj.get(key)
        if isinstance(value, dict):
            value = value.get("name") or value.get("role")
        if value is not None and not isinstance(value, str):
            raise InputError(f"{origin}:{where}: field {key!r} must be a string, not {_json_type(value)}")
        if isinstance(value, str) and value.strip():
            speaker = " ".join(value.split())[:200]  # a name is one line: it is shown inside one-line listings
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


def _json_line(line: str, origin: str, lineno: int):
    from ..files import loads

    try:
        return loads(line)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{origin}:{lineno}: invalid JSON: {exc}") from None


def json_lines(lines, origin: str):
    """(line number, decoded value) for each non-blank line; a bad line is an InputError naming it."""
    for lineno, line in enumerate(lines, 1):
        if line.strip():
            yield lineno, _json_line(line, origin, lineno)


def iter_jsonl(lines: Iterable[tuple[int, int, str]], origin: str) -> Iterator[tuple[int, Message]]:
    for lineno, offset, line in lines:
        if line.strip():
            yield offset, _record(_json_line(line, origin, lineno), origin, str(lineno))


def parse_jsonl(text: str, origin: str) -> list[Message]:
    return [m for _, m in iter_jsonl(numbered(text), origin)]


# Whole-text parser -> its line-by-line form. A format registered with one of these parsers can be streamed; a
# plugin's parser (even one registered under a built-in name) is given the whole text.
STREAMING = {parse_text: iter_text, parse_chat: iter_chat, parse_jsonl: iter_jsonl}


def parse_json(text: str, origin: str) -> list[Message]:
    from ..files import loads

    try:
        data = loads(text)
    except RecursionError:
        raise InputError(f"{origin}: JSON nested too deeply") from None
    except ValueError as exc:
        raise InputError(f"{origin}:{getattr(exc, 'lineno', '?')}: invalid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    if not isinstance(data, list):
        raise InputError(f"{origin}: expected a JSON list of messages or {{\"messages\": [...]}}")
    return [_record(item, origin, f"item {i}") for i, item in enumerate(data)]

"""remember: parse input, build each message's keys, embed, and write it all in one change.

Parse everything first, embed with no lock held, then write under the write lock: all of an input or none of it.
A large input (a Spool, see stream.py) is checked in full first, then written in parts of one change each.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..changes import Op
from ..errors import InputError, UsageError
from ..timeparse import future_time, parse_time, to_iso
from ..types import DEFAULT_SCOPE, KINDS, NewMemory, RawInput, RememberResult
from .keys import build_keys
from .parse import Message, decode, parse, require_utf8

if TYPE_CHECKING:
    from ..context import Context

Progress = Callable[[int, int], None] | None


def content_hash(kind: str, scope: str, msg: Message, stated_time: str | None = None) -> str:
    """Identity of a memory: same text, speaker, stated time and id in the same scope is the same memory.

    The stated time is the record's own, the one it inherits from an earlier line of its transcript, or --at
    ('Bob: yes' told on two dated days is two memories); the implicit 'now' is left out so that remembering the
    same note twice does not store it twice.
    """
    when = msg.occurred_at or stated_time or ""
    payload = json.dumps([kind, scope, msg.speaker or "", msg.text, when, msg.external_id or ""])
    return hashlib.sha256(payload.encode()).hexdigest()


def clean_label(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InputError(f"empty {what}")
    if len(value) > 200 or any(ord(c) < 32 for c in value):
        raise InputError(f"invalid {what} {value[:40]!r}: at most 200 printable characters")
    return require_utf8(value, f"the {what}")


@dataclass(frozen=True)
class _Batch:
    """What every part of one remember call shares."""

    scope: str
    tags: list[str]
    kind: str
    default_time: str
    stated_at: str
    strength: float
    created_at: str
    expires_at: str | None = None


def remember(ctx: "Context", inputs: Sequence[RawInput], *, fmt: str = "auto", scope: str = DEFAULT_SCOPE,
             tags: Iterable[str] = (), at: str | None = None, kind: str = "episodic", progress: Progress = None,
             importance: float = 0.0, expires: str | None = None) -> RememberResult:
    """`importance` (0..1) raises the starting strength (1 + 4 × importance), so important memories decay slower.
    `expires` ('7d', an ISO time): from then on recall no longer returns the memories, and consolidate erases them."""
    if not 0.0 <= importance <= 1.0:
        raise InputError("--importance must be between 0 and 1")
    if not inputs:
        raise InputError("nothing to remember: give text, '-' for stdin, or --file")
    scope = clean_label(scope, "scope")
    tag_list = sorted({clean_label(t, "tag") for t in tags})
    now = ctx.now()
    try:
        default_time = to_iso(parse_time(at, now=now, local=True)) if at else to_iso(now)
    except ValueError as exc:
        raise InputError(f"--at: {exc}") from None
    stated_at = default_time if at else ""
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    try:
        expires_at = to_iso(future_time(expires, now=now)) if expires else None
    except ValueError as exc:
        raise InputError(f"--expires: {exc}") from None

    from ..plugins import collect
    from .stream import Spool

    importers = collect(ctx.plugins, "register_importers")
    batch = _Batch(scope, tag_list, kind, default_time, stated_at, 1.0 + 4.0 * importance, to_iso(now), expires_at)
    parsed, streams = [], []
    for item in inputs:
        if isinstance(item.data, Spool):
            streams.append(_plan_stream(ctx, item.data, fmt, importers))
            continue
        text = (decode(item.data, item.origin) if isinstance(item.data, bytes)
                else require_utf8(item.data, item.origin))
        if not text.strip():
            raise InputError(f"{item.origin}: input is empty; nothing to remember")
        item_fmt, messages = parse(text, fmt, item.origin, importers)
        parsed.append((item.origin, text, item_fmt, messages))

    result = RememberResult()
    if parsed:
        _store_parsed(ctx, parsed, batch, result, progress)
    for plan in streams:  # validated in full above: nothing below fails on the input itself
        plan(batch, result, progress)
    from ..plugins import notify

    notify(ctx, "after_remember", result=result)
    return result


def _plan_stream(ctx: "Context", spool: Any, fmt: str, importers: dict) -> Callable:
    """Check a large input in full (every line parsed) and return the function that stores it in parts."""
    from .parse import STREAMING, iter_jsonl
    from .stream import iter_parts, stream_format

    item_fmt = stream_format(spool, fmt, importers)
    if item_fmt not in importers:
        raise UsageError(f"unknown format {item_fmt!r}; choose one of auto, {', '.join(sorted(importers))}")
    line_parser = STREAMING.get(importers[item_fmt])
    if line_parser is None:
        text = decode(spool.read_all(), spool.origin)
        whole = parse(text, item_fmt, spool.origin, importers)
        return lambda batch, result, progress: _store_parsed(
            ctx, [(spool.origin, text, *whole)], batch, result, progress)
    fragment = line_parser is not iter_jsonl  # a JSON line must be read whole; prose lines may come in pieces

    def parts():
        return iter_parts(spool, line_parser, fragment)

    sizes = [len(msgs) for _, _, msgs in parts()]  # the full parse: errors surface here
    total, n_parts = sum(sizes), len(sizes)
    if not total:
        raise InputError(f"{spool.origin}: no message with text found ({item_fmt}); nothing stored")

    def store(batch: _Batch, result: RememberResult, progress: Progress) -> None:
        done, lead_time = 0, None
        for k, (start, end, msgs) in enumerate(parts(), 1):
            origin = f"{spool.origin} (part {k} of {n_parts})"
            step = (lambda d, t, base=done, n=len(msgs): progress(base + d * n // max(t, 1), total)) \
                if progress else None
            # a message without its own time inherits the last one before it, across parts as in one piece
            _store_parsed(ctx, [(origin, spool.read_range(start, end), item_fmt, msgs)], batch, result, step,
                          lead_time=lead_time)
            lead_time = next((m.occurred_at for m in reversed(msgs) if m.occurred_at), lead_time)
            done += len(msgs)

    return store


def _store_parsed(ctx: "Context", parsed: list, batch: _Batch, result: RememberResult, progress: Progress = None,
                  lead_time: str | None = None) -> None:
    """Embed (no lock held), then write in one change: all of `parsed` or none of it. `lead_time`: the last stated
    time before these messages (an earlier part of the same streamed input)."""
    store = ctx.store
    store.require_writable()  # before minutes of embedding, not after
    scope, stated_at, created_at = batch.scope, batch.stated_at, batch.created_at
    created_before, existing_before = len(result.created), len(result.existing)
    sources_before, messages_before = len(result.sources), result.messages
    plans = []  # (origin, text, fmt, sha, messages, drafts)
    pending_hashes: dict[str, NewMemory] = {}
    listed = set(result.created) | set(result.existing)

    def skip_source(source_id: int) -> None:
        result.skipped_sources.append(source_id)
        for i in store.sources.memory_ids(source_id):
            if i not in listed:
                listed.add(i)
                result.existing.append(i)

    for origin, text, item_fmt, messages in parsed:
        sha = hashlib.sha256(text.encode()).hexdigest()
        existing_source = store.sources.find(sha, scope, item_fmt, stated_at)
        if existing_source is not None:
            skip_source(existing_source)
            continue
        drafts = drafts_for(ctx, messages, scope, batch.tags, batch.kind, batch.default_time,
                            stated_time=stated_at or None, lead_time=lead_time)
        for d in drafts:
            d.strength = batch.strength
            d.expires_at = batch.expires_at
        plans.append((origin, text, item_fmt, sha, messages, drafts))
        for d in drafts:
            pending_hashes.setdefault(d.content_hash, d)

    known = store.memories.existing(pending_hashes)
    to_embed = [d for h, d in pending_hashes.items() if h not in known]
    vectors = {}
    if to_embed:
        embedder = ctx.embedder
        store.vectors.check_model(embedder.model_id, embedder.dimension, getattr(embedder, "sha256", None))
        for d, vecs in zip(to_embed, embedder.embed_chunks([d.key_text for d in to_embed], progress)):
            vectors[d.content_hash] = vecs

    from ..scan import scan

    with ctx.change(Op.REMEMBER) as ch:
        if to_embed:
            ensure_model(ctx)
        # Another process may have stored the same content since we looked (we held no lock while
        # embedding): look again under the write lock, so concurrent identical ingests never duplicate.
        ids_by_hash = store.memories.existing(pending_hashes)
        for origin, text, item_fmt, sha, messages, drafts in plans:
            raced = store.sources.find(sha, scope, item_fmt, stated_at)
            if raced is not None:
                skip_source(raced)
                continue
            source_id = store.sources.insert(origin=origin, format=item_fmt, scope=scope, sha256=sha,
                                             received_at=created_at, raw=text, n_messages=len(messages),
                                             stated_at=stated_at)
            result.sources.append(source_id)
            for seq, (msg, draft) in enumerate(zip(messages, drafts)):
                message_id = store.sources.insert_message(source_id=source_id, seq=seq, speaker=msg.speaker,
                                                          role=msg.role, text=msg.text, occurred_at=msg.occurred_at,
                                                          external_id=msg.external_id)
                result.messages += 1
                memory_id = ids_by_hash.get(draft.content_hash)
                if memory_id is None:
                    if draft.content_hash not in vectors:  # was stored when we looked, forgotten since
                        ensure_model(ctx)
                        vectors[draft.content_hash] = ctx.embedder.embed_chunks([draft.key_text])[0]
                    memory_id = store.memories.insert(draft, created_at, vectors[draft.content_hash])
                    ids_by_hash[draft.content_hash] = memory_id
                    result.created.append(memory_id)
                    listed.add(memory_id)
                    findings = [f.to_json() for f in scan(draft.text)]
                    if findings:  # marked and reported, never silently dropped
                        store.memories.set_flags(memory_id, findings)
                        result.flagged[memory_id] = findings
                elif memory_id not in listed:
                    listed.add(memory_id)
                    result.existing.append(memory_id)
                store.sources.link(memory_id, message_id)
                store.memories.add_tags(memory_id, draft.tags)
        new_ids = result.created[created_before:]
        new_set = set(new_ids)
        # Told again, with tags or importance this time (also an input stored before, whole): they apply.
        again = result.existing[existing_before:]
        if again and (batch.tags or batch.strength > 1.0):
            for memory_id in again:
                store.memories.add_tags(memory_id, batch.tags)
            store.memories.raise_strength(again, batch.strength)
        ch.memory_ids = new_ids + again
        ch.detail = {"created": len(new_ids), "existing": len(again), "sources": result.sources[sources_before:],
                     "messages": result.messages - messages_before, "scope": scope, "tags": batch.tags,
                     "flagged": sorted(i for i in result.flagged if i in new_set)}


def ensure_model(ctx: "Context") -> None:
    """Record the embedding model on first use, as a change of its own (inside the caller's)."""
    embedder = ctx.embedder
    sha = getattr(embedder, "sha256", None)
    detail = {"embedding_model": embedder.model_id, "dim": embedder.dimension, **({"sha256": sha} if sha else {})}
    with ctx.change(Op.MODEL, detail=detail):
        ctx.store.vectors.ensure_model(embedder.model_id, embedder.dimension, sha)


def drafts_for(ctx: "Context", messages: list[Message], scope: str, tags: list[str], kind: str,
               default_time: str, stated_time: str | None = None, lead_time: str | None = None) -> list[NewMemory]:
    times, stated = [], []
    last_time = lead_time
    for msg in messages:
        # A message without its own time inherits the previous one in the same transcript.
        last_time = msg.occurred_at or last_time
        times.append(last_time or default_time)
        stated.append(last_time or stated_time)  # what the input says (the implicit 'now' is not stated)
    keys = build_keys(messages, ctx.key_options, times)
    return [
        NewMemory(kind=kind, text=msg.text, speaker=msg.speaker, scope=scope, occurred_at=when,
                  content_hash=content_hash(kind, scope, msg, said), key_text=key_text, context=context,
                  fts_text=fts_text, tags=sorted({*tags, *(clean_label(t, "tag") for t in msg.tags)}))
        for msg, when, said, (key_text, fts_text, context) in zip(messages, times, stated, keys)
    ]

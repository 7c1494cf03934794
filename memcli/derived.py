"""Derived memories (facts, day summaries, profiles): stored with derived_from links to their evidence, so that
forgetting all of the evidence removes them and forgetting part of it marks them stale."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .changes import Op
from .errors import InputError
from .timeparse import to_iso
from .types import NewMemory

if TYPE_CHECKING:
    from .context import Context


def derive(ctx: "Context", kind: str, text: str, from_ids: Sequence[int], *, scope: str | None = None,
           vectors: Any = None) -> int:
    """Store a memory built from others as a change of its own (Op.DERIVE)."""
    from .forgetting import require_ids

    require_ids(ctx, from_ids)
    if vectors is None:  # embedded before the change: no lock held while the model runs
        vectors = ctx.embedder.embed_chunks([text])[0]
    with ctx.change(Op.DERIVE) as ch:
        memory_id, created = write_derived(ctx, kind, text, from_ids, scope=scope, vectors=vectors)
        if created:
            ch.memory_ids = [memory_id, *from_ids]
            ch.detail = {"kind": kind, "derived": memory_id, "from": sorted(int(i) for i in from_ids)}
    return memory_id


def write_derived(ctx: "Context", kind: str, text: str, from_ids: Sequence[int], *, scope: str | None = None,
                  vectors: Any = None) -> tuple[int, bool]:
    """(memory id, newly written). Inside the caller's change, which records it. Idempotent: the same derivation
    from the same evidence is one memory."""
    store = ctx.store
    if not store.db.in_change:
        raise RuntimeError("write_derived runs inside a change")
    records = store.memories.records(list(from_ids))
    if len(records) != len(set(int(i) for i in from_ids)):
        raise InputError(f"evidence {sorted(set(map(int, from_ids)) - set(records))} no longer exists")
    scope = scope or next(iter(records.values()))["scope"]
    occurred = max(r["occurred_at"] for r in records.values())
    digest = hashlib.sha256(json.dumps([kind, scope, text, sorted(from_ids)]).encode()).hexdigest()
    existing = store.memories.existing([digest])
    if existing:
        return existing[digest], False
    if vectors is None:
        vectors = ctx.embedder.embed_chunks([text])[0]
    from .ingest.remember import ensure_model

    ensure_model(ctx)
    draft = NewMemory(kind=kind, text=text, speaker=None, scope=scope, occurred_at=occurred,
                      content_hash=digest, key_text=text, context="", fts_text=text)
    memory_id = store.memories.insert(draft, to_iso(ctx.now()), vectors)
    for target in from_ids:
        store.links.add(memory_id, "derived_from", int(target))
    # what its evidence was flagged for (injection, secrets) stays visible on what is built from it
    inherited = sorted({(f["kind"], f["rule"]) for r in records.values() for f in r["flags"] or []})
    if inherited:
        store.memories.set_flags(memory_id, [{"kind": k, "rule": rule} for k, rule in inherited])
    return memory_id, True

"""Corrections: a memory's new text supersedes the old one without destroying it.

`update(ctx, id, text)` stores the new text as a memory of its own (with its source, as remember would: the
correction is input too), links the old one `superseded_by` the new one and ends its validity now. The old memory
stays stored and recallable as history, ranked below current ones; `audit show` tells the story. The same
operation serves `memcli edit`, `remember --supersedes ID` and the MCP `update` tool.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .changes import Op
from .errors import InputError, NotFound
from .ingest.parse import Message, require_utf8
from .ingest.remember import content_hash, ensure_model
from .timeparse import to_iso
from .types import NewMemory
from .validate import memory_id

if TYPE_CHECKING:
    from .context import Context


def update(ctx: "Context", old_id: int, text: str) -> int:
    """The id of the memory that now says `text` in place of `old_id`."""
    old_id = memory_id(old_id)
    text = require_utf8(text or "", "the new text").strip()
    if not text:
        raise InputError("empty text: a correction needs the new text")
    store = ctx.store
    store.require_writable()
    old = store.memories.records([old_id]).get(old_id)
    if old is None:
        raise NotFound(f"no memory with id {old_id}; nothing changed")
    from .forgetting import is_expired

    if is_expired(old, to_iso(ctx.now())):
        raise InputError(f"memory {old_id} has expired; nothing changed")
    if old["status"] != "active" or old["valid_until"]:
        raise InputError(f"memory {old_id} is {'superseded' if old['valid_until'] else old['status']}: correct the "
                         "current one")
    if old["kind"] not in ("episodic", "fact"):
        raise InputError(f"memory {old_id} is a {old['kind']} (consolidate rebuilds those): correct what it rests on")
    if text == old["text"]:
        raise InputError(f"memory {old_id} already says that; nothing changed")
    now = to_iso(ctx.now())
    message = Message(text=text, speaker=old["speaker"], external_id=f"update:{old_id}")
    digest = content_hash(old["kind"], old["scope"], message, now)
    from .ingest.keys import build_keys

    (key_text, fts_text, context), = build_keys([message], ctx.key_options, [now])
    vectors = ctx.embedder.embed_chunks([key_text])[0]  # before the lock
    with ctx.change(Op.UPDATE, [old_id]) as ch:
        ensure_model(ctx)
        if store.memories.records([old_id]).get(old_id, {}).get("valid_until"):
            raise InputError(f"memory {old_id} was corrected meanwhile; nothing changed")
        source = store.sources.insert(origin=f"correction of memory {old_id}", format="text", scope=old["scope"],
                                      sha256=hashlib.sha256(text.encode()).hexdigest(), received_at=now,
                                      raw=text, n_messages=1, stated_at=now)
        msg_id = store.sources.insert_message(source_id=source, seq=0, text=text, speaker=old["speaker"],
                                              occurred_at=now, external_id=message.external_id)
        new_id = store.memories.insert(NewMemory(kind=old["kind"], text=text, speaker=old["speaker"],
                                                 scope=old["scope"], occurred_at=now, content_hash=digest,
                                                 key_text=key_text, context=context, fts_text=fts_text,
                                                 tags=old["tags"], expires_at=old["expires_at"]), now, vectors)
        store.sources.link(new_id, msg_id)
        store.memories.add_tags(new_id, old["tags"])
        store.links.supersede(old_id, new_id, now)
        from .scan import scan

        findings = [f.to_json() for f in scan(text)]
        if findings:
            store.memories.set_flags(new_id, findings)
        ch.memory_ids = [old_id, new_id]
        ch.detail = {"supersedes": old_id, "memory": new_id, "source": source, "flagged": bool(findings)}
    return new_id

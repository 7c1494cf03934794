"""Memory records as plain dicts for export (the JSONL format lives in memcli/transfer.py). Import writes through
the same inserts as remember (Sources.insert, Memories.insert_row)."""

from __future__ import annotations

from collections.abc import Iterator

from .keys import CONTEXT, KEY_TEXT, KEYS_JOIN
from .store import Store

MEMORY_COLS = ("id", "kind", "text", "speaker", "scope", "occurred_at", "created_at", "strength", "recall_count",
               "last_recalled_at", "status", "content_hash", "key_text", "context", "pinned", "stale", "flags",
               "valid_until", "expires_at")


def memory_records(store: Store, with_vectors: bool) -> Iterator[dict]:
    """Every memory with its tags, message ids, links, summary key and (optionally) vectors."""
    import json

    columns = {"key_text": KEY_TEXT, "context": CONTEXT}
    select = ", ".join(columns.get(c, "m." + c) for c in MEMORY_COLS)
    for row in store.conn.execute(f"SELECT {select} FROM memories m {KEYS_JOIN} ORDER BY m.id").fetchall():
        rec = dict(zip(MEMORY_COLS, row))
        mid = rec["id"]
        rec["flags"] = json.loads(rec["flags"]) if rec["flags"] else None
        rec["tags"] = [r[0] for r in store.conn.execute(
            "SELECT tag FROM memory_tags WHERE memory_id = ? ORDER BY tag", [mid])]
        rec["messages"] = store.sources.message_ids_of(mid)
        rec["links"] = store.links.all_of(mid)
        summary = store.summaries.key_of(mid)
        rec["summary_of"] = list(summary) if summary else None
        if with_vectors:
            vecs = store.vectors.of_memory(mid)
            if vecs is not None:
                rec["vectors"] = vecs.tolist()
        yield rec

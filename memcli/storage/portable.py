"""Export and import rows as plain dicts (the JSONL format lives in memcli/transfer.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from . import vector_codec
from .store import CONTEXT, KEY_TEXT, KEYS_JOIN, META_DIM, NEXT_MEMORY_ID, stored_key_text

SOURCE_COLS = ("id", "origin", "format", "scope", "sha256", "received_at", "raw", "n_messages", "stated_at",
               "redacted_at")
MESSAGE_COLS = ("id", "source_id", "seq", "speaker", "role", "text", "occurred_at", "external_id")
MEMORY_COLS = ("id", "kind", "text", "speaker", "scope", "occurred_at", "created_at", "strength", "recall_count",
               "last_recalled_at", "status", "content_hash", "key_text", "context", "pinned", "stale", "flags",
               "valid_until")


class Portable:
    """Row-level access for export and import (memcli/transfer.py)."""

    def __init__(self, conn):
        self.conn = conn

    def sources(self) -> Iterator[dict]:
        for row in self.conn.execute(f"SELECT {', '.join(SOURCE_COLS)} FROM sources ORDER BY id"):
            yield dict(zip(SOURCE_COLS, row))

    def messages(self) -> Iterator[dict]:
        for row in self.conn.execute(f"SELECT {', '.join(MESSAGE_COLS)} FROM messages ORDER BY id"):
            yield dict(zip(MESSAGE_COLS, row))

    def memories(self, with_vectors: bool) -> Iterator[dict]:
        has_vec = self.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'vec_chunks'").fetchone()[0] > 0
        dim_row = self.conn.execute("SELECT value FROM meta WHERE key = ?", [META_DIM]).fetchone()
        dim = int(dim_row[0]) if dim_row else 0
        columns = {"key_text": KEY_TEXT, "context": CONTEXT}
        select = ", ".join(columns.get(c, "m." + c) for c in MEMORY_COLS)
        for row in self.conn.execute(f"SELECT {select} FROM memories m {KEYS_JOIN} ORDER BY m.id").fetchall():
            rec = dict(zip(MEMORY_COLS, row))
            mid = rec["id"]
            rec["flags"] = json.loads(rec["flags"]) if rec["flags"] else None
            rec["tags"] = [r[0] for r in self.conn.execute(
                "SELECT tag FROM memory_tags WHERE memory_id = ? ORDER BY tag", [mid])]
            rec["messages"] = [r[0] for r in self.conn.execute(
                "SELECT message_id FROM memory_messages WHERE memory_id = ? ORDER BY message_id", [mid])]
            rec["links"] = [list(r) for r in self.conn.execute(
                "SELECT relation, target_id FROM memory_links WHERE memory_id = ? ORDER BY relation, target_id",
                [mid])]
            summary = self.conn.execute("SELECT period, period_key FROM summaries WHERE memory_id = ?",
                                        [mid]).fetchone()
            rec["summary_of"] = list(summary) if summary else None
            if with_vectors and has_vec:
                blobs = [r[0] for r in self.conn.execute(
                    "SELECT v.embedding FROM chunks c JOIN vec_chunks v ON v.rowid = c.id WHERE c.memory_id = ? "
                    "ORDER BY c.seq", [mid])]
                rec["vectors"] = vector_codec.from_blobs(blobs, dim).tolist()
            yield rec

    def find_source(self, src: dict) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM sources WHERE sha256 = ? AND scope = ? AND format = ? AND stated_at = ?",
            [src["sha256"], src["scope"], src["format"], src["stated_at"] or ""]).fetchone()
        return row[0] if row else None

    def insert_source(self, src: dict) -> int:
        cols = [c for c in SOURCE_COLS if c != "id"]
        cur = self.conn.execute(f"INSERT INTO sources({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                                [src[c] if c != "stated_at" else (src[c] or "") for c in cols])
        return cur.lastrowid

    def message_at(self, source_id: int, seq: int) -> int | None:
        row = self.conn.execute("SELECT id FROM messages WHERE source_id = ? AND seq = ?", [source_id, seq]).fetchone()
        return row[0] if row else None

    def insert_message(self, msg: dict, source_id: int) -> int:
        cols = [c for c in MESSAGE_COLS if c not in ("id", "source_id")]
        cur = self.conn.execute(
            f"INSERT INTO messages(source_id, {', '.join(cols)}) VALUES (?, {','.join('?' * len(cols))})",
            [source_id, *[msg[c] for c in cols]])
        return cur.lastrowid

    def insert_memory(self, rec: dict, fts_text: str) -> int:
        cols = [c for c in MEMORY_COLS if c not in ("id", "context")]  # the context is kept in the FTS row only
        stored = {**rec, "key_text": stored_key_text(rec["key_text"], fts_text)}
        values = [json.dumps(stored[c]) if c == "flags" and stored[c] else stored[c] for c in cols]
        cur = self.conn.execute(f"INSERT INTO memories(id, {', '.join(cols)}) "
                                f"VALUES ({NEXT_MEMORY_ID}, {','.join('?' * len(cols))})", values)
        mid = cur.lastrowid
        self.conn.execute("INSERT INTO memories_fts(rowid, text, context) VALUES (?, ?, ?)",
                          [mid, fts_text, rec["context"]])
        return mid

"""The memories table and what hangs off each row directly: tags, status, pins, flags, strength."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..types import Filters, NewMemory, RankingRow, RetentionRow
from .database import Database
from .filters import marks, not_expired, parts, utc_now, where
from .keys import KEY_TEXT, KEYS_JOIN, CONTEXT, stored_key_text
from .schema import META_ID_MARK
from .seals import new_nonce
from .vectors import Vectors

# A new memory's id: above every id in use and every id ever deleted (schema.py m007), so an id names one memory
# for good — in an agent's notes and in the audit log.
NEXT_MEMORY_ID = ("(SELECT CASE WHEN top > mark THEN top ELSE mark END + 1 FROM "
                  "(SELECT coalesce((SELECT max(id) FROM memories), 0) AS top, "
                  f"coalesce((SELECT CAST(value AS BIGINT) FROM meta WHERE key = '{META_ID_MARK}'), 0) AS mark) ids)")
NOT_EXPIRED = not_expired("memories")
RECORD_COLS = ("id", "kind", "text", "speaker", "scope", "occurred_at", "created_at", "strength", "recall_count",
               "last_recalled_at", "status", "flags", "valid_until", "expires_at")


UNREADABLE_FLAGS = [{"kind": "invalid", "rule": "unreadable-flags"}]


def read_flags(stored: str | None) -> list[dict] | None:
    """Stored flags as a list; flags that are not memcli's JSON (an edited file, an old import) read as a flag of
    their own, so the memory stays marked rather than breaking the command that reads it."""
    if not stored:
        return None
    try:
        flags = json.loads(stored)
    except ValueError:
        return list(UNREADABLE_FLAGS)
    if not isinstance(flags, list) or not all(isinstance(f, dict) and isinstance(f.get("kind"), str)
                                              and isinstance(f.get("rule"), str) for f in flags):
        return list(UNREADABLE_FLAGS)
    return flags


class Memories:
    def __init__(self, db: Database, vectors: Vectors):
        self.db = db
        self.vectors = vectors

    # -- writing ----------------------------------------------------------------------------------------------------
    def insert(self, mem: NewMemory, created_at: str, vectors: np.ndarray | None) -> int:
        """The row, its full-text row and its vectors (None: a stale derived memory has none)."""
        return self.insert_row({"kind": mem.kind, "text": mem.text, "speaker": mem.speaker, "scope": mem.scope,
                                "occurred_at": mem.occurred_at, "created_at": created_at,
                                "content_hash": mem.content_hash, "key_text": mem.key_text,
                                "strength": mem.strength, "expires_at": mem.expires_at},
                               fts_text=mem.fts_text, context=mem.context, vectors=vectors)

    def insert_row(self, row: Mapping, *, fts_text: str, context: str, vectors: np.ndarray | None,
                   memory_id: int | None = None) -> int:
        """Any columns of a memory (import carries counters and status too); a new id, or `memory_id` (a
        migration into an empty memory keeps ids)."""
        cols = [c for c in row if c not in ("id", "context", "nonce")]  # the context is kept in the FTS row only
        values = [stored_key_text(row[c], fts_text) if c == "key_text"
                  else json.dumps(row[c]) if c == "flags" and row[c] else row[c] for c in cols]
        new_id, given = (NEXT_MEMORY_ID, []) if memory_id is None else ("?", [int(memory_id)])
        cur = self.db.conn.execute(f"INSERT INTO memories(id, nonce, {', '.join(cols)}) "
                                   f"VALUES ({new_id}, ?, {marks(cols)}) RETURNING id",
                                   [*given, new_nonce(), *values])
        memory_id = int(cur.fetchone()[0])
        if self.db.created:  # the change creating it seals it in its record (changes.py)
            self.db.created[-1].append(memory_id)
        self.db.conn.execute("INSERT INTO memories_fts(rowid, text, context) VALUES (?, ?, ?)",
                             [memory_id, fts_text, context])
        if vectors is not None:
            self.vectors.add(memory_id, vectors)
        return memory_id

    def add_tags(self, memory_id: int, tags: Iterable[str]) -> None:
        self.db.conn.executemany("INSERT INTO memory_tags(memory_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                 [(memory_id, t) for t in tags])

    def raise_strength(self, ids: Sequence[int], strength: float) -> None:
        for part in parts(ids):
            self.db.conn.execute(f"UPDATE memories SET strength = CASE WHEN strength > ? THEN strength ELSE ? END "
                                 f"WHERE id IN ({marks(part)})", [strength, strength, *part])

    def touch(self, ids: Sequence[int], now: str) -> None:
        """Reinforce on recall: count, last-recalled time, and strength (which slows forgetting)."""
        self.db.conn.executemany(
            "UPDATE memories SET recall_count = recall_count + 1, last_recalled_at = ?, "
            "strength = strength + 1.0 WHERE id = ?", [(now, i) for i in ids])

    def set_status(self, ids: Sequence[int], status: str, *, only_from: Sequence[str] | None = None) -> list[int]:
        """Change status in one statement per 500 ids; returns the ids that actually changed."""
        changed: list[int] = []
        allowed = list(only_from) if only_from is not None else []
        for part in parts(ids):
            sql = (f"UPDATE memories SET status = ? WHERE id IN ({marks(part)}) AND status != ?"
                   + (f" AND status IN ({marks(allowed)})" if only_from is not None else "") + " RETURNING id")
            changed += [r[0] for r in self.db.conn.execute(sql, [status, *part, status, *allowed])]
        return sorted(changed)

    def set_pinned(self, ids: Sequence[int], pinned: bool) -> list[int]:
        changed: list[int] = []
        for part in parts(ids):
            changed += [r[0] for r in self.db.conn.execute(
                f"UPDATE memories SET pinned = ? WHERE id IN ({marks(part)}) AND pinned != ? RETURNING id",
                [int(pinned), *part, int(pinned)])]
        return sorted(changed)

    def set_flags(self, memory_id: int, flags: list[dict] | None) -> bool:
        """True when the stored flags changed."""
        value = json.dumps(flags) if flags else None
        cur = self.db.conn.execute("UPDATE memories SET flags = ? WHERE id = ? AND flags IS DISTINCT FROM ?",
                                   [value, memory_id, value])
        return cur.rowcount > 0

    # -- reading ----------------------------------------------------------------------------------------------------
    def existing(self, hashes: Iterable[str]) -> dict[str, int]:
        """content hash -> id of the memories already stored."""
        out: dict[str, int] = {}
        hashes = list(hashes)
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            rows = self.db.conn.execute(
                f"SELECT content_hash, id FROM memories WHERE content_hash IN ({marks(part)})", part)
            out.update({h: i for h, i in rows})
        return out

    def row(self, memory_id: int) -> dict | None:
        """Every column of one memory, with its keys."""
        cur = self.db.conn.execute(f"SELECT m.*, {KEY_TEXT}, {CONTEXT} FROM memories m {KEYS_JOIN} WHERE m.id = ?",
                                   [memory_id])
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description[:-2]], row[:-2]))
        out["key_text"], out["context"] = row[-2:]
        out.pop("nonce", None)  # the seal's secret half (storage/seals.py), not part of what a memory says
        return out

    def records(self, ids: Sequence[int]) -> dict[int, dict]:
        """Full records with tags and provenance, keyed by id."""
        out: dict[int, dict] = {}
        for part in parts(ids):
            for row in self.db.conn.execute(f"SELECT {', '.join(RECORD_COLS)} FROM memories "
                                            f"WHERE id IN ({marks(part)})", part):
                rec = dict(zip(RECORD_COLS, row))
                rec["flags"] = read_flags(rec["flags"])
                rec["tags"] = []
                rec["sources"] = []
                out[rec["id"]] = rec
            for mid, tag in self.db.conn.execute(
                    f"SELECT memory_id, tag FROM memory_tags WHERE memory_id IN ({marks(part)}) ORDER BY tag", part):
                out[mid]["tags"].append(tag)
            for mid, sid, ext, msg_id in self.db.conn.execute(
                "SELECT mm.memory_id, msg.source_id, msg.external_id, msg.id FROM memory_messages mm "
                f"JOIN messages msg ON msg.id = mm.message_id WHERE mm.memory_id IN ({marks(part)}) "
                "ORDER BY msg.source_id, msg.seq", part):
                out[mid]["sources"].append({"source_id": sid, "message_id": ext, "message_row": msg_id})
            # A derived memory (fact, summary) has no messages of its own: its sources are its evidence's.
            for mid, sid, ext, msg_id, _seq in self.db.conn.execute(
                "SELECT DISTINCT l.memory_id, msg.source_id, msg.external_id, msg.id, msg.seq FROM memory_links l "
                "JOIN memory_messages mm ON mm.memory_id = l.target_id JOIN messages msg ON msg.id = mm.message_id "
                f"WHERE l.relation = 'derived_from' AND l.memory_id IN ({marks(part)}) "
                "ORDER BY msg.source_id, msg.seq", part):
                out[mid]["sources"].append({"source_id": sid, "message_id": ext, "message_row": msg_id})
        return out

    def select_ids(self, sel: Filters) -> list[int]:
        sql, params = where(sel, "m")
        return [r[0] for r in self.db.conn.execute(f"SELECT m.id FROM memories m WHERE {sql} ORDER BY m.id", params)]

    def page(self, sel: Filters, limit: int, before_id: int | None = None) -> list[int]:
        """Ids matching `sel`, newest first (by id: ids only grow), at most `limit`, below `before_id` if given."""
        sql, params = where(sel, "m")
        if before_id is not None:
            sql += " AND m.id < ?"
            params.append(before_id)
        return [r[0] for r in self.db.conn.execute(
            f"SELECT m.id FROM memories m WHERE {sql} ORDER BY m.id DESC LIMIT ?", [*params, limit])]

    def ranking_rows(self, ids: Sequence[int]) -> dict[int, RankingRow]:
        out: dict[int, RankingRow] = {}
        for part in parts(ids):
            out.update((r[0], RankingRow(*r[1:])) for r in self.db.conn.execute(
                f"SELECT id, speaker, length(text), occurred_at FROM memories WHERE id IN ({marks(part)})", part))
        return out

    def retention_rows(self, ids: Sequence[int]) -> list[RetentionRow]:
        out = []
        for part in parts(ids):
            out += [RetentionRow(*r) for r in self.db.conn.execute(
                "SELECT id, created_at, last_recalled_at, strength, pinned FROM memories "
                f"WHERE id IN ({marks(part)})", part)]
        return out

    def texts(self, batch: int = 500) -> Iterator[list[tuple[int, str, str]]]:
        """(id, text, status) of every memory, in batches, for the scanner."""
        last = 0
        while True:
            rows = self.db.conn.execute("SELECT id, text, status FROM memories WHERE id > ? ORDER BY id LIMIT ?",
                                        [last, batch]).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def expired(self, now: str) -> list[int]:
        """Memories whose --expires time has come (any status)."""
        return [r[0] for r in self.db.conn.execute(
            "SELECT id FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY id", [now])]

    def id_mark(self) -> int:
        """The highest memory id ever used here: in use, or deleted (schema m007)."""
        row = self.db.one(f"SELECT value FROM meta WHERE key = '{META_ID_MARK}'")
        return max(self.max_id(), int(row[0]) if row and str(row[0]).isdigit() else 0)

    def raise_id_mark(self, mark: int) -> None:
        """New memories take ids above `mark`."""
        self.db.conn.execute(f"UPDATE meta SET value = ? WHERE key = '{META_ID_MARK}' AND "
                             "CAST(value AS BIGINT) < ?", [str(int(mark)), int(mark)])

    def max_id(self) -> int:
        return self.db.one("SELECT coalesce(max(id), 0) FROM memories")[0]

    def count(self) -> int:
        return self.db.one("SELECT count(*) FROM memories")[0]

    def speakers(self, limit: int = 5000) -> list[str | None]:
        """The distinct speakers of active memories (None: the user's own notes)."""
        return [r[0] for r in self.db.conn.execute(
            "SELECT DISTINCT speaker FROM memories WHERE status = 'active' LIMIT ?", [limit])]

    def labels(self, kind: str) -> list[str]:
        """Distinct scopes or tags, for shell completion."""
        sql = {"scope": "SELECT DISTINCT scope FROM memories ORDER BY 1",
               "tag": "SELECT DISTINCT tag FROM memory_tags ORDER BY 1"}[kind]
        return [r[0] for r in self.db.conn.execute(sql)]

    # -- what consolidation reads -----------------------------------------------------------------------------------
    def episodic_since(self, last_id: int, scope: str | None, since: str | None) -> list[dict]:
        clauses = ["m.id > ?", "m.kind = 'episodic'", "m.status = 'active'"]
        params: list[object] = [last_id]
        if scope is not None:
            clauses.append("m.scope = ?")
            params.append(scope)
        if since:
            clauses.append("m.occurred_at >= ?")
            params.append(since)
        cols = ("id", "scope", "speaker", "text", "occurred_at")
        rows = self.db.conn.execute(f"SELECT {', '.join('m.' + c for c in cols)} FROM memories m "
                                    f"WHERE {' AND '.join(clauses)} ORDER BY m.id", params)
        return [dict(zip(cols, r)) for r in rows]

    def day_members(self, scope: str, day: str) -> list[dict]:
        cols = ("id", "speaker", "text", "occurred_at")
        rows = self.db.conn.execute(
            f"SELECT {', '.join(cols)} FROM memories WHERE scope = ? AND kind = 'episodic' AND status = 'active' "
            f"AND {NOT_EXPIRED} AND occurred_at >= ? AND occurred_at < ? ORDER BY occurred_at, id",
            [scope, utc_now(), day, day + "T99"])
        return [dict(zip(cols, r)) for r in rows]

    def self_statements(self, scope: str, pattern_words: Sequence[str], limit: int) -> list[dict]:
        """Recent episodic memories that look like the user describing themself (for the extractive profile)."""
        cols = ("id", "speaker", "text", "occurred_at")
        likes = " OR ".join("(' ' || lower(text) || ' ') LIKE ?" for _ in pattern_words)
        rows = self.db.conn.execute(
            f"SELECT {', '.join(cols)} FROM memories WHERE scope = ? AND kind = 'episodic' AND status = 'active' "
            f"AND {NOT_EXPIRED} AND ({likes}) ORDER BY occurred_at DESC, id DESC LIMIT ?",
            [scope, utc_now(), *[f"% {w} %" for w in pattern_words], limit])
        return [dict(zip(cols, r)) for r in rows]

    def facts(self, scope: str | None) -> list[dict]:
        """Active, current fact memories, oldest event first."""
        cols = ("id", "scope", "text", "occurred_at")
        sql = (f"SELECT {', '.join(cols)} FROM memories WHERE kind = 'fact' AND status = 'active' "
               "AND valid_until IS NULL")
        params: list = []
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        return [dict(zip(cols, r)) for r in self.db.conn.execute(sql + " ORDER BY occurred_at, id", params)]

    def active_among(self, ids: Sequence[int]) -> set[int]:
        """Those of `ids` that still exist and are active (a plan made outside the write lock checks again)."""
        found: set[int] = set()
        for part in parts(sorted(set(int(i) for i in ids))):
            found.update(r[0] for r in self.db.conn.execute(
                f"SELECT id FROM memories WHERE status = 'active' AND id IN ({marks(part)})", part))
        return found

    def maybe_decayed(self, now: str, days_per_strength: float, margin_days: float = 1.0) -> list[int]:
        """Active memories that may have decayed, in one scan instead of a retention computed in Python per row:
        those neither recalled nor created in the last `days_per_strength` × strength days (less a margin), and
        every row whose time or strength SQLite would read otherwise than Python, for the caller's exact check
        (forgetting.decayed_among), so nothing it would count is left out."""
        last = "coalesce(last_recalled_at, created_at)"
        rows = self.db.conn.execute(
            f"SELECT id FROM memories WHERE status = 'active' AND ({last} IS NULL "
            f"OR {last} NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]*' "
            f"OR julianday({last}) IS NULL OR typeof(strength) NOT IN ('integer', 'real') OR abs(strength) > 1e300 "
            f"OR julianday(?) - julianday({last}) > ? * max(strength, 1e-6) - ?) ORDER BY id",
            [now, days_per_strength, margin_days])
        return [r[0] for r in rows]

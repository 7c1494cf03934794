"""All reads and writes of the memory database. Every statement is parameterised; SQL fragments are constants."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..errors import DatabaseError, ModelError
from . import vector_codec
from .audit import AuditLog
from .schema import META_ID_MARK

META_MODEL = "embedding_model"
FTS_SLACK = 32  # extra FTS rows fetched so a few inactive memories among the top ones cost no second query
VEC_MAX_K = 4096  # sqlite-vec's largest k for a KNN query
# A new memory's id: above every id in use and every id ever deleted (schema.py m007), so an id names one memory
# for good — in an agent's notes and in the audit log.
NEXT_MEMORY_ID = ("(SELECT max(coalesce((SELECT max(id) FROM memories), 0), "
                  f"coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{META_ID_MARK}'), 0)) + 1)")
META_DIM = "embedding_dim"
# A memory's full-text keys live once, in its FTS row: memories.context is left '' and memories.key_text is ''
# when the embedding key is the FTS message text (the usual case). They were stored twice, ~700 B a memory (m006).
KEYS_JOIN = "LEFT JOIN memories_fts f ON f.rowid = m.id"
KEY_TEXT = "CASE WHEN m.key_text = '' THEN coalesce(f.text, '') ELSE m.key_text END AS key_text"
CONTEXT = "coalesce(f.context, '') AS context"


def stored_key_text(key_text: str, fts_text: str) -> str:
    """What memories.key_text holds: '' when the FTS row's text already says it (see KEY_TEXT)."""
    return "" if key_text == fts_text else key_text


@dataclass
class Filters:
    """Which memories: recall filters and forget selections alike. Criteria combine with AND; times are
    ISO-8601 UTC strings compared as text, on the event time (or the creation time, with time_field)."""

    scope: str | None = None
    tags: Sequence[str] = ()
    kinds: Sequence[str] = ()
    since: str | None = None
    until: str | None = None
    ids: Sequence[int] = ()
    source_id: int | None = None
    time_field: str = "occurred_at"  # or created_at
    active_only: bool = True  # recall sees active memories; forget may select archived and quarantined ones

    def sql(self, alias: str = "m") -> tuple[str, list]:
        if self.time_field not in ("occurred_at", "created_at"):
            raise ValueError(f"bad time field {self.time_field!r}")
        clauses, params = ["1=1"], []
        if self.active_only:
            clauses.append(f"{alias}.status = 'active'")
        for column, values in (("id", [int(i) for i in self.ids]), ("kind", list(self.kinds))):
            if values:
                clauses.append(f"{alias}.{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if self.scope is not None:
            clauses.append(f"{alias}.scope = ?")
            params.append(self.scope)
        for tag in self.tags:
            clauses.append(f"EXISTS (SELECT 1 FROM memory_tags t WHERE t.memory_id = {alias}.id AND t.tag = ?)")
            params.append(tag)
        if self.since:
            clauses.append(f"{alias}.{self.time_field} >= ?")
            params.append(self.since)
        if self.until:
            clauses.append(f"{alias}.{self.time_field} < ?")
            params.append(self.until)
        if self.source_id is not None:
            clauses.append(f"EXISTS (SELECT 1 FROM memory_messages mm JOIN messages msg ON msg.id = mm.message_id "
                           f"WHERE mm.memory_id = {alias}.id AND msg.source_id = ?)")
            params.append(self.source_id)
        return " AND ".join(clauses), params

    @property
    def narrowing(self) -> bool:
        """Any criterion beyond the status: vector search then scans the filtered set exactly."""
        return bool(self.scope is not None or self.tags or self.kinds or self.since or self.until or self.ids
                    or self.source_id is not None)


@dataclass
class NewMemory:
    kind: str
    text: str
    speaker: str | None
    scope: str
    occurred_at: str
    content_hash: str
    key_text: str
    context: str
    fts_text: str
    tags: list[str] = field(default_factory=list)
    strength: float = 1.0


class Store:
    """All of memcli's SQL. Takes anything with a `.conn` (open_database's handle or a sqlite_utils.Database), so
    tests use real temporary databases and need no mocks."""

    def __init__(self, db):
        self.conn = db.conn
        self.audit = AuditLog(db.conn)
        self._read_only: bool | None = None
        self.vector_writes = 0  # vector inserts/deletes through this connection (see version())

    # -- transactions -------------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: take the write lock up front so a concurrent writer waits (busy timeout), not fails."""
        self.require_writable()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:  # SQLite rolls back by itself on some errors (disk full, I/O)
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    @property
    def read_only(self) -> bool:
        if self._read_only is None:
            from .connection import is_read_only

            self._read_only = is_read_only(self.conn)
        return self._read_only

    def require_writable(self) -> None:
        if self.read_only:
            raise DatabaseError("the database is read-only (the file or its directory cannot be written); "
                                "this command would change it, so nothing was done")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: in WAL mode every statement inside sees the same committed state."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def _one(self, sql: str, params: Sequence = ()):
        return self.conn.execute(sql, params).fetchone()

    # -- meta & embedding model ---------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", [key])
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def embedding_model(self) -> tuple[str, int] | None:
        model, dim = self.meta(META_MODEL), self.meta(META_DIM)
        return (model, int(dim)) if model and dim else None

    def ensure_embedding_model(self, model_id: str, dim: int) -> None:
        """Record the model on first use; refuse to mix vectors from two models."""
        current = self.embedding_model()
        if current is None:
            self._create_vec_table(dim)
            self.set_meta(META_MODEL, model_id)
            self.set_meta(META_DIM, str(dim))
            return
        if current != (model_id, dim):
            raise ModelError(
                f"this database holds vectors from {current[0]} ({current[1]}-d) but the embedder is "
                f"{model_id} ({dim}-d); run 'memcli reindex' to re-embed every memory with the new model"
            )

    def check_embedding_model(self, model_id: str, dim: int) -> None:
        current = self.embedding_model()
        if current is not None and current != (model_id, dim):
            self.ensure_embedding_model(model_id, dim)  # raises with the explanation

    def _create_vec_table(self, dim: int) -> None:
        # dim is an int from the model, never user text.
        if self._one("SELECT count(*) FROM sqlite_master WHERE name = 'vec_chunks'")[0] == 0:
            self.conn.execute(vector_codec.table_sql(dim))

    def reset_vectors(self, model_id: str, dim: int) -> None:
        self.vector_writes += 1
        self.conn.execute("DROP TABLE IF EXISTS vec_chunks")
        self.conn.execute("DELETE FROM chunks")
        self.conn.execute("DELETE FROM meta WHERE key IN (?, ?)", [META_MODEL, META_DIM])
        self.ensure_embedding_model(model_id, dim)

    # -- ingest -------------------------------------------------------------------------------------------------
    def find_source(self, sha256: str, scope: str, fmt: str, stated_at: str = "") -> int | None:
        row = self._one("SELECT id FROM sources WHERE sha256 = ? AND scope = ? AND format = ? AND stated_at = ?",
                        [sha256, scope, fmt, stated_at])
        return row[0] if row else None

    def source_memory_ids(self, source_id: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT DISTINCT mm.memory_id FROM messages msg JOIN memory_messages mm ON mm.message_id = msg.id "
            "WHERE msg.source_id = ? ORDER BY mm.memory_id",
            [source_id],
        )
        return [r[0] for r in rows]

    def insert_source(self, *, origin: str, fmt: str, scope: str, sha256: str, received_at: str, raw: str,
                      n_messages: int, stated_at: str = "") -> int:
        cur = self.conn.execute(
            "INSERT INTO sources(origin, format, scope, sha256, received_at, raw, n_messages, stated_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [origin, fmt, scope, sha256, received_at, raw, n_messages, stated_at],
        )
        return cur.lastrowid

    def insert_message(self, *, source_id: int, seq: int, speaker: str | None, role: str | None, text: str,
                       occurred_at: str | None, external_id: str | None) -> int:
        cur = self.conn.execute(
            "INSERT INTO messages(source_id, seq, speaker, role, text, occurred_at, external_id) VALUES (?,?,?,?,?,?,?)",
            [source_id, seq, speaker, role, text, occurred_at, external_id],
        )
        return cur.lastrowid

    def existing_memories(self, hashes: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        hashes = list(hashes)
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            rows = self.conn.execute(
                f"SELECT content_hash, id FROM memories WHERE content_hash IN ({','.join('?' * len(part))})", part
            )
            out.update({h: i for h, i in rows})
        return out

    def insert_memory(self, mem: NewMemory, created_at: str, vectors: np.ndarray) -> int:
        cur = self.conn.execute(
            "INSERT INTO memories(id, kind, text, speaker, scope, occurred_at, created_at, content_hash, key_text, "
            f"strength) VALUES ({NEXT_MEMORY_ID},?,?,?,?,?,?,?,?,?)",
            [mem.kind, mem.text, mem.speaker, mem.scope, mem.occurred_at, created_at, mem.content_hash,
             stored_key_text(mem.key_text, mem.fts_text), mem.strength],
        )
        memory_id = cur.lastrowid
        self.conn.execute(
            "INSERT INTO memories_fts(rowid, text, context) VALUES (?, ?, ?)", [memory_id, mem.fts_text, mem.context]
        )
        self.add_vectors(memory_id, vectors)
        return memory_id

    def add_vectors(self, memory_id: int, vectors: np.ndarray) -> None:
        self.vector_writes += 1
        for seq, vec in enumerate(vectors):
            cur = self.conn.execute("INSERT INTO chunks(memory_id, seq) VALUES (?, ?)", [memory_id, seq])
            self.conn.execute("INSERT INTO vec_chunks(rowid, embedding) VALUES (?, vec_int8(?))",
                              [cur.lastrowid, vector_codec.to_blob(vec)])

    def add_tags(self, memory_id: int, tags: Iterable[str]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO memory_tags(memory_id, tag) VALUES (?, ?)", [(memory_id, t) for t in tags]
        )

    def raise_strength(self, ids: Sequence[int], strength: float) -> None:
        for part in _parts(ids):
            self.conn.execute(f"UPDATE memories SET strength = max(strength, ?) WHERE id IN ({','.join('?' * len(part))})",
                              [strength, *part])

    def link_message(self, memory_id: int, message_id: int) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO memory_messages(memory_id, message_id) VALUES (?, ?)", [memory_id, message_id]
        )

    # -- search -------------------------------------------------------------------------------------------------
    def search_fts(self, match: str, filters: Filters, limit: int,
                   weights: tuple[float, float] = (1.0, 0.3)) -> list[tuple[int, float]]:
        """(memory_id, bm25) best first; bm25 is negated so larger is better.

        Without narrowing filters, FTS5 ranks on its own and only the top rows are checked against the status:
        joining every match to its memory first doubled the cost (a common word matches most memories). When too
        many of the top rows are not active, the joined query runs instead, so the result is the same either way.
        """
        if not filters.narrowing:
            take = limit + FTS_SLACK
            rows = self.conn.execute(
                "SELECT rowid, -bm25(memories_fts, ?, ?) AS score FROM memories_fts WHERE memories_fts MATCH ? "
                "ORDER BY score DESC, rowid LIMIT ?", [weights[0], weights[1], match, take]).fetchall()
            hits = self._matching(rows, filters)
            if len(hits) >= limit or len(rows) < take:
                return hits[:limit]
        return self._search_fts_joined(match, filters, limit, weights)

    def _matching(self, ranked: Sequence[tuple[int, float]], filters: Filters) -> list[tuple[int, float]]:
        """The (memory id, score) pairs whose memory passes `filters`, in the given order."""
        if not ranked:
            return []
        where, params = filters.sql("m")
        keep = {r[0] for r in self.conn.execute(
            f"SELECT m.id FROM memories m WHERE m.id IN ({','.join('?' * len(ranked))}) AND {where}",
            [r[0] for r in ranked] + params)}
        return [(i, score) for i, score in ranked if i in keep]

    def _search_fts_joined(self, match: str, filters: Filters, limit: int,
                           weights: tuple[float, float]) -> list[tuple[int, float]]:
        where, params = filters.sql("m")
        sql = (
            "SELECT m.id, -bm25(memories_fts, ?, ?) AS score FROM memories_fts "
            "JOIN memories m ON m.id = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND {where} ORDER BY score DESC, m.id LIMIT ?"
        )
        rows = self.conn.execute(sql, [weights[0], weights[1], match, *params, limit])
        return [(r[0], r[1]) for r in rows]

    def ubiquitous_terms(self, terms: Sequence[str], min_rows: int) -> set[str]:
        """Terms found in at least half of all indexed memories (none when there are fewer than `min_rows`).

        FTS5's bm25 clamps the idf of such a term to 1e-6 (idf = log((N - n + 0.5) / (n + 0.5)) <= 0), so it
        adds nothing to any score, yet scoring it visits half the index: a speaker's name in a two-person chat
        matches every memory. Counting stops at N/2, so the check costs at most half a doclist scan per term.
        """
        total = self._one("SELECT count(*) FROM memories")[0]
        if total < max(min_rows, 1):
            return set()
        half = (total + 1) // 2
        common = set()
        for term in terms:
            expr = '"' + term.replace('"', '""') + '"'
            n = self._one("SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)",
                          [expr, half])[0]
            if n >= half:
                common.add(term)
        return common

    def version(self) -> tuple[int, int]:
        """Changes whenever the vectors may have: another connection committed anything (PRAGMA data_version
        is all SQLite offers), or this one wrote vectors. This connection's other writes (a recall's touch and
        audit record) leave it alone, so a long-lived process does not reload after every recall."""
        return self._one("PRAGMA data_version")[0], self.vector_writes

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(memory id per chunk, unit float32 rows of the stored chunk vectors), for a resident copy."""
        model = self.embedding_model()
        if model is None:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        owner_of = dict(self.conn.execute("SELECT id, memory_id FROM chunks"))
        rows = self.conn.execute("SELECT rowid, embedding FROM vec_chunks").fetchall()
        owners = np.fromiter((owner_of[r[0]] for r in rows), dtype=np.int64, count=len(rows))
        matrix = vector_codec.from_blobs([r[1] for r in rows], model[1])
        return owners, matrix

    def search_vectors(self, query: np.ndarray, filters: Filters, limit: int,
                       resident=None) -> list[tuple[int, float]]:
        """(memory_id, cosine similarity) best first; a memory's score is that of its best chunk. `resident`
        (retrieval.resident.ResidentVectors) answers unfiltered searches from memory, exactly."""
        if self.embedding_model() is None:
            return []
        query = vector_codec.as_stored(query)
        qbytes = vector_codec.to_blob(query)
        where, params = filters.sql("m")
        if resident is not None and not filters.narrowing:
            return self._matching(resident.search(self, query, max(limit * 3, limit + 16)), filters)[:limit]
        k = max(limit * 3, limit + 16)
        if filters.narrowing or k > VEC_MAX_K:
            # Exact scan over the filtered set, so selective filters never starve the result list (and any limit
            # works: sqlite-vec's KNN takes at most 4,096 neighbours).
            sql = (
                # a vec0 column read outside MATCH loses its int8 subtype: vec_int8() restores it
                "SELECT c.memory_id, min(vec_distance_cosine(vec_int8(v.embedding), vec_int8(?))) AS d "
                "FROM vec_chunks v JOIN chunks c ON c.id = v.rowid JOIN memories m ON m.id = c.memory_id "
                f"WHERE {where} GROUP BY c.memory_id ORDER BY d LIMIT ?"
            )
            rows = self.conn.execute(sql, [qbytes, *params, limit]).fetchall()
        else:
            sql = (
                "SELECT c.memory_id, min(knn.distance) AS d FROM "
                "(SELECT rowid, distance FROM vec_chunks WHERE embedding MATCH vec_int8(?) AND k = ?) knn "
                "JOIN chunks c ON c.id = knn.rowid JOIN memories m ON m.id = c.memory_id "
                f"WHERE {where} GROUP BY c.memory_id ORDER BY d LIMIT ?"
            )
            rows = self.conn.execute(sql, [qbytes, k, *params, limit]).fetchall()
        return [(r[0], 1.0 - r[1]) for r in rows]

    # -- read back ----------------------------------------------------------------------------------------------
    def memories(self, ids: Sequence[int]) -> dict[int, dict]:
        """Full records with tags and provenance, keyed by id."""
        out: dict[int, dict] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            cols = ("id", "kind", "text", "speaker", "scope", "occurred_at", "created_at", "strength",
                    "recall_count", "last_recalled_at", "status", "flags", "valid_until")
            for row in self.conn.execute(f"SELECT {', '.join(cols)} FROM memories WHERE id IN ({marks})", part):
                rec = dict(zip(cols, row))
                rec["flags"] = json.loads(rec["flags"]) if rec["flags"] else None
                rec["tags"] = []
                rec["sources"] = []
                out[rec["id"]] = rec
            for mid, tag in self.conn.execute(
                f"SELECT memory_id, tag FROM memory_tags WHERE memory_id IN ({marks}) ORDER BY tag", part
            ):
                out[mid]["tags"].append(tag)
            for mid, sid, ext, msg_id in self.conn.execute(
                "SELECT mm.memory_id, msg.source_id, msg.external_id, msg.id FROM memory_messages mm "
                f"JOIN messages msg ON msg.id = mm.message_id WHERE mm.memory_id IN ({marks}) "
                "ORDER BY msg.source_id, msg.seq",
                part,
            ):
                out[mid]["sources"].append({"source_id": sid, "message_id": ext, "message_row": msg_id})
            # A derived memory (fact, summary) has no messages of its own: its sources are its evidence's.
            for mid, sid, ext, msg_id in self.conn.execute(
                "SELECT DISTINCT l.memory_id, msg.source_id, msg.external_id, msg.id FROM memory_links l "
                "JOIN memory_messages mm ON mm.memory_id = l.target_id JOIN messages msg ON msg.id = mm.message_id "
                f"WHERE l.relation = 'derived_from' AND l.memory_id IN ({marks}) ORDER BY msg.source_id, msg.seq",
                part,
            ):
                out[mid]["sources"].append({"source_id": sid, "message_id": ext, "message_row": msg_id})
        return out

    def ranking_rows(self, ids: Sequence[int]) -> dict[int, tuple[str | None, int, str | None]]:
        """(speaker, text length in characters, event time) per id: what recall's priors look at."""
        out = {}
        for part in _parts(list(ids)):
            out.update((r[0], r[1:]) for r in self.conn.execute(
                "SELECT id, speaker, length(text), occurred_at FROM memories "
                f"WHERE id IN ({','.join('?' * len(part))})", part))
        return out

    def touch(self, ids: Sequence[int], now: str) -> None:
        """Reinforce on recall: count, last-recalled time, and strength (which slows forgetting)."""
        self.conn.executemany(
            "UPDATE memories SET recall_count = recall_count + 1, last_recalled_at = ?, "
            "strength = strength + 1.0 WHERE id = ?",
            [(now, i) for i in ids],
        )

    def iter_memory_keys(self, batch: int = 256) -> Iterator[list[tuple[int, str]]]:
        """Every memory's embedding key, but stale ones: a forget emptied them until consolidate rebuilds them,
        and the vector of an empty key would match short questions."""
        last = 0
        while True:
            rows = self.conn.execute(
                f"SELECT m.id, {KEY_TEXT} FROM memories m {KEYS_JOIN} WHERE m.id > ? AND m.stale = 0 "
                "ORDER BY m.id LIMIT ?",
                [last, batch]
            ).fetchall()
            if not rows:
                return
            yield [(r[0], r[1]) for r in rows]
            last = rows[-1][0]

    def counts(self) -> dict[str, int]:
        def n(sql: str) -> int:
            return self._one(sql)[0]

        out = {
            "memories": n("SELECT count(*) FROM memories"),
            "sources": n("SELECT count(*) FROM sources"),
            "messages": n("SELECT count(*) FROM messages"),
            "chunks": n("SELECT count(*) FROM chunks"),
        }
        return out

    # -- selection, status, links -----------------------------------------------------------------------------
    def select_ids(self, sel: Filters) -> list[int]:
        where, params = sel.sql("m")
        return [r[0] for r in self.conn.execute(f"SELECT m.id FROM memories m WHERE {where} ORDER BY m.id", params)]

    def retention_rows(self, ids: Sequence[int]) -> list[tuple[int, str, str | None, float, int]]:
        """(id, created_at, last_recalled_at, strength, pinned) for the forgetting curve."""
        out = []
        for part in _parts(ids):
            out += self.conn.execute(
                "SELECT id, created_at, last_recalled_at, strength, pinned FROM memories "
                f"WHERE id IN ({','.join('?' * len(part))})", part).fetchall()
        return out

    def evidence_of_pinned(self, ids: Sequence[int]) -> set[int]:
        """Those of `ids` that a pinned derived memory rests on."""
        found: set[int] = set()
        for part in _parts(ids):
            found.update(r[0] for r in self.conn.execute(
                "SELECT l.target_id FROM memory_links l JOIN memories d ON d.id = l.memory_id "
                f"WHERE l.relation = 'derived_from' AND d.pinned = 1 AND l.target_id IN ({','.join('?' * len(part))})",
                part))
        return found

    def set_status(self, ids: Sequence[int], status: str, *, only_from: Sequence[str] | None = None) -> list[int]:
        """Change status in one statement per 500 ids; returns the ids that actually changed."""
        changed: list[int] = []
        allowed = list(only_from) if only_from is not None else None
        for part in _parts(ids):
            sql = (f"UPDATE memories SET status = ? WHERE id IN ({','.join('?' * len(part))}) AND status != ?"
                   + (f" AND status IN ({','.join('?' * len(allowed))})" if allowed is not None else "")
                   + " RETURNING id")
            changed += [r[0] for r in self.conn.execute(sql, [status, *part, status, *(allowed or [])])]
        return sorted(changed)

    def set_pinned(self, ids: Sequence[int], pinned: bool) -> list[int]:
        changed: list[int] = []
        for part in _parts(ids):
            changed += [r[0] for r in self.conn.execute(
                f"UPDATE memories SET pinned = ? WHERE id IN ({','.join('?' * len(part))}) AND pinned != ? "
                "RETURNING id", [int(pinned), *part, int(pinned)])]
        return sorted(changed)

    def set_flags(self, memory_id: int, flags: list[dict] | None) -> None:
        self.conn.execute("UPDATE memories SET flags = ? WHERE id = ?",
                          [json.dumps(flags) if flags else None, memory_id])

    def add_link(self, memory_id: int, relation: str, target_id: int) -> None:
        self.conn.execute("INSERT OR IGNORE INTO memory_links(memory_id, relation, target_id) VALUES (?, ?, ?)",
                          [memory_id, relation, target_id])

    def links(self, memory_id: int) -> dict[str, list[tuple[str, int]]]:
        """{'out': [(relation, target)], 'in': [(relation, source)]}"""
        out = self.conn.execute("SELECT relation, target_id FROM memory_links WHERE memory_id = ? ORDER BY 2",
                                [memory_id]).fetchall()
        inc = self.conn.execute("SELECT relation, memory_id FROM memory_links WHERE target_id = ? ORDER BY 2",
                                [memory_id]).fetchall()
        return {"out": [tuple(r) for r in out], "in": [tuple(r) for r in inc]}

    def active_texts(self, batch: int = 500) -> Iterator[list[tuple[int, str, str]]]:
        """(id, text, status) of every memory, for the scanner."""
        last = 0
        while True:
            rows = self.conn.execute("SELECT id, text, status FROM memories WHERE id > ? ORDER BY id LIMIT ?",
                                     [last, batch]).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def message_evidence(self, memory_id: int) -> list[dict]:
        cols = ("message_row", "source_id", "seq", "speaker", "text", "occurred_at", "message_id", "origin",
                "format", "received_at")
        rows = self.conn.execute(
            "SELECT msg.id, msg.source_id, msg.seq, msg.speaker, msg.text, msg.occurred_at, msg.external_id, "
            "s.origin, s.format, s.received_at FROM memory_messages mm JOIN messages msg ON msg.id = mm.message_id "
            "JOIN sources s ON s.id = msg.source_id WHERE mm.memory_id = ? ORDER BY msg.source_id, msg.seq",
            [memory_id])
        return [dict(zip(cols, r)) for r in rows]

    def memory_row(self, memory_id: int) -> dict | None:
        cur = self.conn.execute(f"SELECT m.*, {KEY_TEXT}, {CONTEXT} FROM memories m {KEYS_JOIN} WHERE m.id = ?",
                                [memory_id])
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description[:-2]], row[:-2]))
        out["key_text"], out["context"] = row[-2:]
        return out

    # -- erasure ------------------------------------------------------------------------------------------------
    def erase(self, ids: Sequence[int], now: str) -> dict:
        """Delete memories and everything that would keep their text: FTS rows (the FTS table has secure-delete
        on), vectors, provenance, messages, raw source text, and derived memories built only from them. Derived
        memories that also rest on surviving memories are marked stale. Call inside a transaction."""
        doomed = set(ids)
        stale: set[int] = set()
        frontier = set(ids)
        while frontier:  # closure: merged copies and derived memories whose evidence is all doomed
            grew: set[int] = set()
            for part in _parts(sorted(frontier)):
                marks = ",".join("?" * len(part))
                # Memories merged into a doomed one carry the same text: they go with it.
                grew.update(r[0] for r in self.conn.execute(
                    f"SELECT memory_id FROM memory_links WHERE relation = 'merged_into' AND target_id IN ({marks})",
                    part))
                # Every derived memory resting on the frontier, with all of its evidence, in one query.
                evidence: dict[int, set[int]] = {}
                for derived, target in self.conn.execute(
                    "SELECT l.memory_id, l.target_id FROM memory_links l WHERE l.relation = 'derived_from' AND "
                    "l.memory_id IN (SELECT memory_id FROM memory_links WHERE relation = 'derived_from' "
                    f"AND target_id IN ({marks}))", part):
                    evidence.setdefault(derived, set()).add(target)
                for derived, targets in evidence.items():
                    if derived in doomed:
                        continue
                    if targets <= doomed | grew:
                        grew.add(derived)
                    else:
                        stale.add(derived)
            frontier = grew - doomed
            doomed |= frontier
        stale -= doomed
        derived_deleted = sorted(doomed - set(ids))
        doomed_list = sorted(doomed)
        message_ids: set[int] = set()
        source_ids: set[int] = set()
        # sqlite-vec clears a deleted vector's bytes itself (tests/test_forget.py checks the raw file). Zeroing
        # first was a second guard while vectors were float32; sqlite-vec 0.1.9 cannot UPDATE an int8 vector.
        for part in _parts(doomed_list):
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                f"SELECT mm.message_id, msg.source_id FROM memory_messages mm JOIN messages msg "
                f"ON msg.id = mm.message_id WHERE mm.memory_id IN ({marks})", part).fetchall()
            message_ids.update(r[0] for r in rows)
            source_ids.update(r[1] for r in rows)
            self._drop_search_keys(part)
            # A fact whose only successor goes is current again (its superseded_by link goes with the successor).
            self.conn.execute(
                "UPDATE memories SET valid_until = NULL WHERE id IN (SELECT memory_id FROM memory_links WHERE "
                f"relation = 'superseded_by' AND target_id IN ({marks})) AND NOT EXISTS (SELECT 1 FROM memory_links "
                f"l WHERE l.memory_id = memories.id AND l.relation = 'superseded_by' AND l.target_id NOT IN ({marks}))",
                part + part)
            self.conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", part)  # cascades tags, links
        # Their messages go too, unless a surviving memory is that very message (same text): a merged duplicate's
        # message is also linked to the memory it was merged into, and a fact links its evidence, but neither
        # makes the message theirs.
        for part in _parts(sorted(message_ids)):
            marks = ",".join("?" * len(part))
            self.conn.execute(
                f"DELETE FROM messages WHERE id IN ({marks}) AND NOT EXISTS (SELECT 1 FROM memory_messages mm "
                "JOIN memories m ON m.id = mm.memory_id WHERE mm.message_id = messages.id AND m.text = messages.text)",
                part)
        sources_deleted, sources_redacted = [], []
        for sid in sorted(source_ids):
            left = self._one("SELECT count(*) FROM messages WHERE source_id = ?", [sid])[0]
            if left == 0:
                self.conn.execute("DELETE FROM sources WHERE id = ?", [sid])
                sources_deleted.append(sid)
            else:
                # The raw input still contains the forgotten messages: drop it; surviving messages keep
                # their verbatim text in the messages table, and the count says how many survive.
                self.conn.execute("UPDATE sources SET raw = '', redacted_at = ?, n_messages = ? WHERE id = ?",
                                  [now, left, sid])
                sources_redacted.append(sid)
        # A derived memory that also rests on survivors (a day summary, a profile) may quote the forgotten text:
        # its text and search keys go now; the row stays, marked stale, so the next consolidate rebuilds it.
        self.mark_stale(sorted(stale))
        return {"derived_deleted": derived_deleted, "derived_stale": sorted(stale),
                "sources_deleted": sources_deleted, "sources_redacted": sources_redacted,
                "erased_ids": doomed_list}

    def mark_stale(self, ids: Sequence[int]) -> None:
        """Derived memories that may quote what is no longer there lose their text and search keys now; the rows
        stay, marked stale, so the next consolidate rebuilds them."""
        for part in _parts(ids):
            self._drop_search_keys(part)
            self.conn.execute(f"UPDATE memories SET stale = 1, text = '', key_text = '', context = '' "
                              f"WHERE id IN ({','.join('?' * len(part))})", part)

    def summaries_covering(self, ids: Sequence[int], *, by_day: bool = False) -> list[int]:
        """Recorded day summaries and profiles derived from any of `ids`; with `by_day` also those of their scope
        and day (a memory archived when they were written is not among what they were derived from)."""
        found: set[int] = set()
        for part in _parts(ids):
            marks = ",".join("?" * len(part))
            sql = ("SELECT l.memory_id FROM memory_links l JOIN summaries s ON s.memory_id = l.memory_id "
                   f"WHERE l.relation = 'derived_from' AND l.target_id IN ({marks})")
            if by_day:
                sql += (" UNION SELECT s.memory_id FROM summaries s JOIN memories m ON m.scope = s.scope AND "
                        "((s.period = 'day' AND s.period_key = substr(m.occurred_at, 1, 10)) OR s.period = 'profile') "
                        f"WHERE m.id IN ({marks})")
            found.update(r[0] for r in self.conn.execute(sql, part + part if by_day else part))
        return sorted(found)

    def _drop_search_keys(self, ids: Sequence[int]) -> None:
        """Remove memories' vectors and full-text rows."""
        marks = ",".join("?" * len(ids))
        chunk_ids = [r[0] for r in self.conn.execute(f"SELECT id FROM chunks WHERE memory_id IN ({marks})", ids)]
        if chunk_ids and self.embedding_model() is not None:
            self.vector_writes += 1
            for cid in chunk_ids:
                self.conn.execute("DELETE FROM vec_chunks WHERE rowid = ?", [cid])
        self.conn.execute(f"DELETE FROM chunks WHERE memory_id IN ({marks})", ids)
        self.conn.execute(f"DELETE FROM memories_fts WHERE rowid IN ({marks})", ids)

    def replace_vectors(self, memory_id: int, key_text: str, vectors: np.ndarray) -> None:
        self.vector_writes += 1
        for (cid,) in self.conn.execute("SELECT id FROM chunks WHERE memory_id = ?", [memory_id]).fetchall():
            self.conn.execute("DELETE FROM vec_chunks WHERE rowid = ?", [cid])
        self.conn.execute("DELETE FROM chunks WHERE memory_id = ?", [memory_id])
        fts_text = self._one("SELECT text FROM memories_fts WHERE rowid = ?", [memory_id])
        self.conn.execute("UPDATE memories SET key_text = ? WHERE id = ?",
                          [stored_key_text(key_text, fts_text[0] if fts_text else ""), memory_id])
        self.add_vectors(memory_id, vectors)

    # -- consolidation ------------------------------------------------------------------------------------------
    def episodic_since(self, last_id: int, scope: str | None, since: str | None) -> list[dict]:
        clauses, params = ["m.id > ?", "m.kind = 'episodic'", "m.status = 'active'"], [last_id]
        if scope is not None:
            clauses.append("m.scope = ?")
            params.append(scope)
        if since:
            clauses.append("m.occurred_at >= ?")
            params.append(since)
        cols = ("id", "scope", "speaker", "text", "occurred_at")
        rows = self.conn.execute(f"SELECT {', '.join('m.' + c for c in cols)} FROM memories m "
                                 f"WHERE {' AND '.join(clauses)} ORDER BY m.id", params)
        return [dict(zip(cols, r)) for r in rows]

    def max_memory_id(self) -> int:
        return self._one("SELECT coalesce(max(id), 0) FROM memories")[0]

    def memory_vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """First-chunk vector of each memory (enough for near-duplicate and centrality checks)."""
        out = {}
        model = self.embedding_model()
        for part in _parts(ids):
            for mid, blob in self.conn.execute(
                "SELECT c.memory_id, v.embedding FROM chunks c JOIN vec_chunks v ON v.rowid = c.id "
                f"WHERE c.seq = 0 AND c.memory_id IN ({','.join('?' * len(part))})", part):
                out[mid] = vector_codec.from_blobs([blob], model[1])[0]
        return out

    def merge_into(self, dup_id: int, keep_id: int) -> None:
        """The duplicate leaves recall; its provenance moves onto the kept memory, so both sources stay linked."""
        self.conn.execute("UPDATE memories SET status = 'merged' WHERE id = ?", [dup_id])
        self.conn.execute("INSERT OR IGNORE INTO memory_messages(memory_id, message_id) "
                          "SELECT ?, message_id FROM memory_messages WHERE memory_id = ?", [keep_id, dup_id])
        self.add_link(dup_id, "merged_into", keep_id)

    def facts(self, scope: str | None) -> list[dict]:
        """Active, current fact memories, oldest event first."""
        cols = ("id", "scope", "text", "occurred_at")
        sql = (f"SELECT {', '.join(cols)} FROM memories WHERE kind = 'fact' AND status = 'active' "
               "AND valid_until IS NULL")
        params: list = []
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        return [dict(zip(cols, r)) for r in self.conn.execute(sql + " ORDER BY occurred_at, id", params)]

    def superseded_among(self, ids: Sequence[int]) -> set[int]:
        out: set[int] = set()
        for part in _parts(ids):
            out.update(r[0] for r in self.conn.execute(
                f"SELECT id FROM memories WHERE valid_until IS NOT NULL AND id IN ({','.join('?' * len(part))})",
                part))
        return out

    def supersede(self, old_id: int, new_id: int, valid_until: str) -> None:
        """The old fact stays (history is not destroyed) but is no longer current."""
        self.conn.execute("UPDATE memories SET valid_until = ? WHERE id = ?", [valid_until, old_id])
        self.add_link(old_id, "superseded_by", new_id)

    def self_statements(self, scope: str, pattern_words: Sequence[str], limit: int) -> list[dict]:
        """Recent episodic memories that look like the user describing themself (for the extractive profile)."""
        cols = ("id", "speaker", "text", "occurred_at")
        likes = " OR ".join("(' ' || lower(text) || ' ') LIKE ?" for _ in pattern_words)
        rows = self.conn.execute(
            f"SELECT {', '.join(cols)} FROM memories WHERE scope = ? AND kind = 'episodic' AND status = 'active' "
            f"AND ({likes}) ORDER BY occurred_at DESC, id DESC LIMIT ?",
            [scope, *[f"% {w} %" for w in pattern_words], limit])
        return [dict(zip(cols, r)) for r in rows]

    def labels(self, kind: str) -> list[str]:
        """Distinct scopes or tags, for shell completion."""
        sql = {"scope": "SELECT DISTINCT scope FROM memories ORDER BY 1",
               "tag": "SELECT DISTINCT tag FROM memory_tags ORDER BY 1"}[kind]
        return [r[0] for r in self.conn.execute(sql)]

    def day_members(self, scope: str, day: str) -> list[dict]:
        cols = ("id", "speaker", "text", "occurred_at")
        rows = self.conn.execute(
            f"SELECT {', '.join(cols)} FROM memories WHERE scope = ? AND kind = 'episodic' AND status = 'active' "
            "AND occurred_at >= ? AND occurred_at < ? ORDER BY occurred_at, id", [scope, day, day + "T99"])
        return [dict(zip(cols, r)) for r in rows]

    def summary_for(self, scope: str, period: str, key: str) -> int | None:
        row = self._one("SELECT memory_id FROM summaries WHERE scope = ? AND period = ? AND period_key = ?",
                        [scope, period, key])
        return row[0] if row else None

    def record_summary(self, memory_id: int, scope: str, period: str, key: str) -> None:
        """The summary of (scope, period, key) is now this memory; a previous one is no longer recorded as it."""
        self.conn.execute("INSERT INTO summaries(memory_id, scope, period, period_key) VALUES (?,?,?,?) "
                          "ON CONFLICT(scope, period, period_key) DO UPDATE SET memory_id = excluded.memory_id",
                          [memory_id, scope, period, key])

    def stale_summaries(self, scope: str | None) -> list[tuple[int, str, str, str]]:
        """(memory id, scope, period, period key) of summaries and profiles a forget has marked stale."""
        sql = ("SELECT s.memory_id, s.scope, s.period, s.period_key FROM summaries s "
               "JOIN memories m ON m.id = s.memory_id WHERE m.stale = 1")
        params: list = []
        if scope is not None:
            sql += " AND s.scope = ?"
            params.append(scope)
        return [tuple(r) for r in self.conn.execute(sql, params)]

    def source_neighbourhood(self, source_id: int) -> list[dict]:
        """A source's remaining messages in order, each with the memory it backs (for rebuilding context keys)."""
        cols = ("seq", "speaker", "text", "occurred_at", "external_id", "memory_id", "memory_occurred_at",
                "context", "key_text")
        rows = self.conn.execute(
            "SELECT msg.seq, msg.speaker, msg.text, msg.occurred_at, msg.external_id, m.id, m.occurred_at, "
            f"{CONTEXT}, {KEY_TEXT} FROM messages msg JOIN memory_messages mm ON mm.message_id = msg.id "
            # Only the memory that is this message. A fact links its evidence, and a memory that a duplicate was
            # merged into links the duplicate's message too (same text, another source): neither is this message.
            f"JOIN memories m ON m.id = mm.memory_id AND m.text = msg.text {KEYS_JOIN} "
            "WHERE msg.source_id = ? AND NOT EXISTS (SELECT 1 FROM memory_links l JOIN memory_messages dup "
            "ON dup.memory_id = l.memory_id WHERE l.relation = 'merged_into' AND l.target_id = m.id "
            "AND dup.message_id = msg.id) ORDER BY msg.seq",
            [source_id])
        return [dict(zip(cols, r)) for r in rows]

    def update_keys(self, memory_id: int, fts_text: str, context: str) -> None:
        """Replace a memory's full-text keys (the FTS table has secure-delete, so the old row's terms go)."""
        self.conn.execute("DELETE FROM memories_fts WHERE rowid = ?", [memory_id])
        self.conn.execute("INSERT INTO memories_fts(rowid, text, context) VALUES (?, ?, ?)",
                          [memory_id, fts_text, context])

    def backup_to(self, target) -> None:
        """SQLite's online backup into a new owner-only file."""
        from .connection import connect

        dest = connect(target)  # creates it 0600 and refuses anything that is not SQLite
        try:
            self.conn.backup(dest)
        finally:
            dest.close()

    def scrub_files(self) -> bool:
        """After an erasure commits: fold the WAL into the database and truncate it, so old page images holding
        forgotten text do not linger in the -wal file. False if a reader kept the checkpoint from finishing."""
        busy, _log, _ckpt = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0

    def stats_by(self) -> dict:
        def group(col: str) -> dict:
            return dict(self.conn.execute(f"SELECT {col}, count(*) FROM memories GROUP BY {col} ORDER BY {col}"))

        return {"by_kind": group("kind"), "by_scope": group("scope"), "by_status": group("status"),
                "flagged": self._one("SELECT count(*) FROM memories WHERE flags IS NOT NULL")[0],
                "stale": self._one("SELECT count(*) FROM memories WHERE stale = 1")[0],
                "pinned": self._one("SELECT count(*) FROM memories WHERE pinned = 1")[0],
                "audit_records": self._one("SELECT count(*) FROM audit_log")[0]}


def _parts(ids: Sequence[int], size: int = 500):
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]

"""All reads and writes of the memory database. Every statement is parameterised; SQL fragments are constants."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

META_MODEL = "embedding_model"
META_DIM = "embedding_dim"


@dataclass
class Filters:
    """Recall filters; times are ISO-8601 UTC strings compared as text."""

    scope: str | None = None
    tags: Sequence[str] = ()
    kinds: Sequence[str] = ()
    since: str | None = None
    until: str | None = None

    def sql(self, alias: str = "m") -> tuple[str, list]:
        clauses = [f"{alias}.status = 'active'"]
        params: list = []
        if self.scope is not None:
            clauses.append(f"{alias}.scope = ?")
            params.append(self.scope)
        if self.kinds:
            clauses.append(f"{alias}.kind IN ({','.join('?' * len(self.kinds))})")
            params.extend(self.kinds)
        if self.since:
            clauses.append(f"{alias}.occurred_at >= ?")
            params.append(self.since)
        if self.until:
            clauses.append(f"{alias}.occurred_at < ?")
            params.append(self.until)
        for tag in self.tags:
            clauses.append(f"EXISTS (SELECT 1 FROM memory_tags t WHERE t.memory_id = {alias}.id AND t.tag = ?)")
            params.append(tag)
        return " AND ".join(clauses), params

    @property
    def active(self) -> bool:
        return bool(self.scope is not None or self.tags or self.kinds or self.since or self.until)


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


class Store:
    """Wraps a sqlite_utils.Database (from a path, a connection or memory) so tests need no mocks."""

    def __init__(self, db):
        self.db = db
        self.conn = db.conn

    # -- transactions -------------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: take the write lock up front so a concurrent writer waits (busy timeout), not fails."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
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
        self.conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS vec_chunks USING vec0(embedding float[{int(dim)}] distance_metric=cosine)"
        )

    def reset_vectors(self, model_id: str, dim: int) -> None:
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
            "INSERT INTO memories(kind, text, speaker, scope, occurred_at, created_at, content_hash, key_text, context) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            [mem.kind, mem.text, mem.speaker, mem.scope, mem.occurred_at, created_at, mem.content_hash,
             mem.key_text, mem.context],
        )
        memory_id = cur.lastrowid
        self.conn.execute(
            "INSERT INTO memories_fts(rowid, text, context) VALUES (?, ?, ?)", [memory_id, mem.fts_text, mem.context]
        )
        self.add_vectors(memory_id, vectors)
        return memory_id

    def add_vectors(self, memory_id: int, vectors: np.ndarray) -> None:
        for seq, vec in enumerate(vectors):
            cur = self.conn.execute("INSERT INTO chunks(memory_id, seq) VALUES (?, ?)", [memory_id, seq])
            self.conn.execute(
                "INSERT INTO vec_chunks(rowid, embedding) VALUES (?, ?)",
                [cur.lastrowid, np.asarray(vec, dtype=np.float32).tobytes()],
            )

    def add_tags(self, memory_id: int, tags: Iterable[str]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO memory_tags(memory_id, tag) VALUES (?, ?)", [(memory_id, t) for t in tags]
        )

    def link_message(self, memory_id: int, message_id: int) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO memory_messages(memory_id, message_id) VALUES (?, ?)", [memory_id, message_id]
        )

    # -- search -------------------------------------------------------------------------------------------------
    def search_fts(self, match: str, filters: Filters, limit: int,
                   weights: tuple[float, float] = (1.0, 0.3)) -> list[tuple[int, float]]:
        """(memory_id, bm25) best first; bm25 is negated so larger is better."""
        where, params = filters.sql("m")
        sql = (
            "SELECT m.id, -bm25(memories_fts, ?, ?) AS score FROM memories_fts "
            "JOIN memories m ON m.id = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND {where} ORDER BY score DESC LIMIT ?"
        )
        rows = self.conn.execute(sql, [weights[0], weights[1], match, *params, limit])
        return [(r[0], r[1]) for r in rows]

    def search_vectors(self, query: np.ndarray, filters: Filters, limit: int) -> list[tuple[int, float]]:
        """(memory_id, cosine similarity) best first; a memory's score is that of its best chunk."""
        if self.embedding_model() is None:
            return []
        qbytes = np.asarray(query, dtype=np.float32).tobytes()
        where, params = filters.sql("m")
        if filters.active:
            # Exact scan over the filtered set, so selective filters never starve the result list.
            sql = (
                "SELECT c.memory_id, min(vec_distance_cosine(v.embedding, ?)) AS d FROM vec_chunks v "
                "JOIN chunks c ON c.id = v.rowid JOIN memories m ON m.id = c.memory_id "
                f"WHERE {where} GROUP BY c.memory_id ORDER BY d LIMIT ?"
            )
            rows = self.conn.execute(sql, [qbytes, *params, limit]).fetchall()
        else:
            k = max(limit * 3, limit + 16)
            sql = (
                "SELECT c.memory_id, min(knn.distance) AS d FROM "
                "(SELECT rowid, distance FROM vec_chunks WHERE embedding MATCH ? AND k = ?) knn "
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
                    "recall_count", "last_recalled_at", "status")
            for row in self.conn.execute(f"SELECT {', '.join(cols)} FROM memories WHERE id IN ({marks})", part):
                rec = dict(zip(cols, row))
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
        return out

    def touch(self, ids: Sequence[int], now: str) -> None:
        """Reinforce on recall: count, last-recalled time, and strength (which slows forgetting)."""
        if not ids:
            return
        with self.transaction():
            self.conn.executemany(
                "UPDATE memories SET recall_count = recall_count + 1, last_recalled_at = ?, "
                "strength = strength + 1.0 WHERE id = ?",
                [(now, i) for i in ids],
            )

    def iter_memory_keys(self, batch: int = 256) -> Iterator[list[tuple[int, str]]]:
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT id, key_text FROM memories WHERE id > ? ORDER BY id LIMIT ?", [last, batch]
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

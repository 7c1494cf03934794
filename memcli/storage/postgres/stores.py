"""Where Postgres differs from SQLite, store by store: vectors in pgvector, full text in tsvector, the decay scan,
and file upkeep. Everything else is the shared stores' SQL (storage/*.py), run through postgres/connection.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ...errors import DatabaseError
from ...types import Filters
from .. import vector_codec
from ..filters import where
from ..maintenance import Maintenance
from ..memories import Memories
from ..search import FTS_SLACK, Search
from ..vectors import Vectors

# With an HNSW index (none by default: PgVectors), pgvector returns at most hnsw.ef_search rows per scan: a search
# for k neighbours sets it to k, and to 100 at least (pgvector's default, 40, kept 0.895 of the exact top 10 at
# 100k memories: bench/postgres.py).
EF_SEARCH_MIN, EF_SEARCH_MAX = 100, 1000
SCRUB_LOCK_TIMEOUT = "1s"  # VACUUM FULL's wait for its exclusive lock: others queue behind it meanwhile
FTS_CONFIG = "english"  # Snowball English stemming, as FTS5's porter tokenizer stems
# Tables that hold memory text or keys: VACUUM FULL rewrites them after a forget (scrub_files).
TEXT_TABLES = ("memories", "memories_fts", "messages", "sources", "memory_tags", "memory_messages", "memory_links",
               "chunks", "summaries")


class PgVectors(Vectors):
    """The int8 codes SQLite stores, kept as pgvector `vector` values (4 bytes a dimension instead of 1): cosine
    ignores scale, so both engines rank with the same numbers.

    No HNSW index: searches are exact. An index would answer in 6.7 ms instead of 34 ms at 100k memories, but a
    forget must rewrite the vector table to leave no old bytes in its files, and with the index that rewrite
    rebuilds it: 76 s at 100k instead of 0.4 s (bench/postgres.py, docs/postgres.md). An admin may still add
    one (CREATE INDEX … USING hnsw (embedding public.vector_cosine_ops)): searches then use it, forgets get slow."""

    KEEPS_SIGNS = False  # its searches run in the server: no scan to bound from a one-shot process

    @property
    def VALUE(self) -> str:  # type: ignore[override]
        return f"?::{self.db.conn.ext}.vector"

    def table_sql(self, dim: int) -> list[str]:
        return [f"CREATE TABLE vec_chunks (rowid bigint PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE, "
                f"embedding {self.db.conn.ext}.vector({int(dim)}) NOT NULL)",
                "ALTER TABLE vec_chunks ALTER COLUMN embedding SET STATISTICS 0"]  # as text: schema.py

    def param(self, vector: np.ndarray) -> object:
        return "[" + ",".join(map(str, vector_codec.encode(vector)[0].tolist())) + "]"

    def codes(self, stored: list, dim: int) -> np.ndarray:
        if not stored:
            return np.zeros((0, dim), dtype=np.int8)
        codes = np.array([np.array(s[1:-1].split(","), dtype=np.float32) for s in stored], dtype=np.float32)
        return np.clip(np.nan_to_num(codes), -127, 127).astype(np.int8).reshape(len(stored), dim)

    def version(self) -> tuple[int, int]:
        """Every change that writes vectors writes an audit record, on any machine: the newest record's id moves
        whenever the vectors may have."""
        return int(self.db.one("SELECT coalesce(max(id), 0) FROM audit_log")[0]), self.writes


class PgSearch(Search):
    def words(self, terms: Sequence[str], filters: Filters, limit: int,
              weights: tuple[float, float] = (1.0, 0.3)) -> list[tuple[int, float]]:
        """(memory_id, ts_rank) best first: the message's words weigh weights[0], its context's weights[1]."""
        terms = [t for t in terms if t]
        if not terms:
            return []
        query = " || ".join(f"plainto_tsquery('{FTS_CONFIG}', ?)" for _ in terms)
        rank = "ts_rank(ARRAY[0, 0, ?, ?]::float4[], f.tsv, q.q)"
        head = [weights[1], weights[0]]
        if not filters.narrowing:
            take = limit + FTS_SLACK
            rows = self.db.conn.execute(
                f"SELECT f.rowid, {rank} AS score FROM memories_fts f, (SELECT {query} AS q) q "
                "WHERE f.tsv @@ q.q ORDER BY score DESC, f.rowid LIMIT ?", [*head, *terms, take]).fetchall()
            hits = self.matching(rows, filters)
            if len(hits) >= limit or len(rows) < take:
                return hits[:limit]
        sql, params = where(filters, "m")
        rows = self.db.conn.execute(
            f"SELECT m.id, {rank} AS score FROM memories_fts f JOIN memories m ON m.id = f.rowid, "
            f"(SELECT {query} AS q) q WHERE f.tsv @@ q.q AND {sql} ORDER BY score DESC, m.id LIMIT ?",
            [*head, *terms, *params, limit]).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def ubiquitous_terms(self, terms: Sequence[str], min_rows: int) -> set[str]:
        total = self.db.one("SELECT count(*) FROM memories")[0]
        if total < max(min_rows, 1):
            return set()
        half = (total + 1) // 2
        return {term for term in terms if self.db.one(
            f"SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE tsv @@ plainto_tsquery('{FTS_CONFIG}', ?) "
            "LIMIT ?) hits", [term, half])[0] >= half}

    def nearest(self, query: np.ndarray, filters: Filters, limit: int, resident: Any = None,
                signs: bool = True) -> list[tuple[int, float]]:
        if self.vectors.model() is None:
            return []
        query = vector_codec.as_stored(query)
        if resident is not None and not filters.narrowing:
            return self.matching(resident.search(self.vectors, query, max(limit * 3, limit + 16)), filters)[:limit]
        q = self.vectors.param(query)
        sql, params = where(filters, "m")
        ext = self.db.conn.ext
        vec, dist = f"{ext}.vector", f"OPERATOR({ext}.<=>)"
        k = max(limit * 3, limit + 16)
        if filters.narrowing or k > EF_SEARCH_MAX:
            rows = self.db.conn.execute(  # exact: every vector of the filtered memories
                f"SELECT c.memory_id, min(v.embedding {dist} ?::{vec}) AS d FROM vec_chunks v "
                "JOIN chunks c ON c.id = v.rowid JOIN memories m ON m.id = c.memory_id "
                f"WHERE {sql} GROUP BY c.memory_id ORDER BY d LIMIT ?", [q, *params, limit]).fetchall()
        else:
            self.db.conn.execute("SELECT set_config('hnsw.ef_search', ?, false)", [str(max(k, EF_SEARCH_MIN))])
            # the k nearest first (materialized: then k lookups by primary key, whatever the planner guesses of
            # a table just filled), then their memories' filters
            rows = self.db.conn.execute(
                f"WITH knn AS MATERIALIZED (SELECT rowid, embedding {dist} ?::{vec} AS d FROM vec_chunks "
                f"ORDER BY embedding {dist} ?::{vec} LIMIT ?) "
                "SELECT c.memory_id, min(knn.d) AS d FROM knn JOIN chunks c ON c.id = knn.rowid "
                f"JOIN memories m ON m.id = c.memory_id WHERE {sql} GROUP BY c.memory_id ORDER BY d LIMIT ?",
                [q, q, k, *params, limit]).fetchall()
        # a zero vector has no cosine: pgvector gives NaN; skipped here, reported by doctor
        return [(r[0], 1.0 - float(r[1])) for r in rows if r[1] is not None and math.isfinite(r[1])]


class PgMemories(Memories):
    def maybe_decayed(self, now: str, days_per_strength: float, margin_days: float = 1.0) -> list[int]:
        """As SQLite's: a superset for forgetting.decayed_among's exact check, with every row whose time or
        strength Postgres cannot read included rather than failing the scan (pg_input_is_valid: Postgres 16)."""
        last = "coalesce(last_recalled_at, created_at)"
        rows = self.db.conn.execute(
            f"SELECT id FROM memories WHERE status = 'active' AND ({last} IS NULL "
            f"OR NOT pg_input_is_valid({last}, 'timestamptz') OR NOT (strength BETWEEN -1e300 AND 1e300) "
            f"OR CASE WHEN pg_input_is_valid({last}, 'timestamptz') THEN "
            f"extract(epoch FROM (?::timestamptz - ({last})::timestamptz)) / 86400.0 "
            "> ? * greatest(strength, 1e-6) - ? ELSE true END) ORDER BY id",
            [now, days_per_strength, margin_days])
        return [r[0] for r in rows]


class PgMaintenance(Maintenance):
    def zero_vectors(self, limit: int) -> list[int]:
        if not self.db.has_table("vec_chunks"):
            return []
        return [r[0] for r in self.db.conn.execute(
            "SELECT DISTINCT c.memory_id FROM vec_chunks v JOIN chunks c ON c.id = v.rowid "
            f"WHERE {self.db.conn.ext}.vector_norm(v.embedding) = 0 ORDER BY 1 LIMIT ?", [limit])]

    def scrub_pending(self) -> bool:
        """Always, on a server: what an earlier forget's VACUUM FULL had to keep (another session's snapshot)
        is not tracked anywhere reliable (the server's dead-row counts arrive late), so a full consolidate
        rewrites the text tables every time — seconds at 100,000 memories, once a night."""
        return True

    def size_bytes(self) -> int | None:
        """Every table of this memory's schema with its indexes and TOAST."""
        return int(self.db.one("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                               "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'")[0])

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """A session advisory lock for this memory and `name`: True when this process holds it, False when
        another process (on any machine) does; released on exit or when the connection ends. Keyed by the
        memory's secret (meta), so another role cannot compute it; while it is held, though, pg_locks shows the key
        to every role, who could then hold it to make later consolidations report `skipped` (docs/postgres.md)."""
        import hashlib

        row = self.db.one("SELECT value FROM meta WHERE key = 'writer_lock_key'")
        secret = row[0] if row else ""
        key = int.from_bytes(hashlib.sha256(f"{secret}:{name}".encode()).digest()[:8], "big", signed=True)
        got = self.db.one("SELECT pg_try_advisory_lock(?)", [key])[0]
        try:
            yield bool(got)
        finally:
            if got:
                self.db.one("SELECT pg_advisory_unlock(?)", [key])

    def quick_check(self) -> str:
        """The server keeps its own files; what memcli can check is that its tables answer."""
        self.db.one("SELECT count(*) FROM memories")
        return "ok"

    def backup_to(self, target) -> None:
        raise DatabaseError("a postgresql:// memory is backed up by the server's tools (pg_dump), or moved with "
                            "'memcli migrate-to FILE' / 'memcli export'")

    def scrub_files(self) -> bool:
        """After an erasure commits: VACUUM FULL rewrites the tables that held the text into new files, so the
        deleted rows' bytes are in no table or index file any more (a plain VACUUM only marks their space free).
        False when it could not: another session's snapshot still sees the deleted rows (VACUUM then copies them;
        it says so, and the next scrub removes them), or a table lock was not granted within a second (VACUUM
        FULL waits for its exclusive lock, and every other session queues behind it meanwhile). What no VACUUM
        reaches: WAL segments until the server recycles them, replicas, backups (docs/postgres.md)."""
        from .connection import LOCK_TIMEOUT, PgConnection

        conn = self.db.conn
        assert isinstance(conn, PgConnection)
        if conn.in_transaction:  # inside an enclosing change: VACUUM cannot run there (nor would it see the rows)
            return False
        tables = [t for t in TEXT_TABLES + ("vec_chunks",) if self.db.has_table(t)]
        details: list[str] = []

        def heard(notice: Any) -> None:
            details.append(notice.message_detail or "")

        conn.raw.add_notice_handler(heard)
        try:
            conn.execute(f"SET lock_timeout = '{SCRUB_LOCK_TIMEOUT}'", control=True)
            conn.execute(f"VACUUM (FULL, VERBOSE) {', '.join(tables)}")  # constants of this module
        except DatabaseError:
            return False
        finally:
            conn.raw.remove_notice_handler(heard)
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'", control=True)
        # Fail closed: one "found N removable, M nonremovable" report per table, each saying no dead row was kept.
        # A server speaking another language (lc_messages) is never taken for a clean scrub.
        reports = [d for d in details if "nonremovable row versions" in d or "dead row versions" in d]
        kept = [int(n) for d in reports for n in re.findall(r"(\d+) dead row versions cannot be removed yet", d)]
        return len(kept) >= len(tables) and not any(kept)


"""`Store`: one database connection and the stores split by what they store. Only memcli/storage speaks SQL;
every statement is parameterised and SQL fragments are constants.

    store.memories     memories rows, tags, status, pins, flags, strength      (memories.py)
    store.sources      verbatim inputs, their messages, provenance links       (sources.py)
    store.keys         full-text rows and embedding keys                       (keys.py)
    store.vectors      chunk vectors and the embedding model                   (vectors.py)
    store.search       full-text and vector search                             (search.py)
    store.lexicon      FTS5's index read back, for the resident lexical index   (lexicon.py)
    store.links        derived_from / merged_into / superseded_by              (links.py)
    store.summaries    which memory summarises a day or profiles a scope       (summaries.py)
    store.audit        the hash-chained audit log                              (audit.py)
    store.meta         settings and marks                                      (meta.py)
    store.maintenance  counts, stats, backup, WAL truncation                   (maintenance.py)
    store.erase(...)   erasure across all of them                              (erasure.py)

Writes happen only inside `memcli.changes.change()`: database.py's guard refuses them anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..types import Erasure, Filters  # noqa: F401  (Filters: where it was imported from before 0.2)
from .audit import AuditLog
from .database import Database
from .erasure import erase
from .keys import Keys
from .lexicon import Lexicon
from .links import Links
from .maintenance import Maintenance
from .memories import Memories
from .meta import Meta
from .search import Search
from .sources import Sources
from .summaries import Summaries
from .vectors import Vectors


class Store:
    """Takes anything with a `.conn` (open_database's handle or a sqlite_utils.Database), so tests use real
    temporary databases and need no mocks."""

    def __init__(self, handle: Any):
        self.conn = handle.conn
        self.db = Database.of(self.conn)
        vectors, memories, search, maintenance = Vectors, Memories, Search, Maintenance
        if self.db.postgres:  # the same stores, with Postgres's full text, vectors and upkeep
            from .postgres.stores import PgMaintenance, PgMemories, PgSearch, PgVectors

            vectors, memories, search, maintenance = PgVectors, PgMemories, PgSearch, PgMaintenance
        self.meta = Meta(self.db)
        self.vectors = vectors(self.db, self.meta)
        self.keys = Keys(self.db, self.vectors)
        self.memories = memories(self.db, self.vectors)
        self.sources = Sources(self.db)
        self.links = Links(self.db)
        self.summaries = Summaries(self.db)
        self.search = search(self.db, self.vectors)
        self.lexicon = Lexicon(self.db)
        self.audit = AuditLog(self.db)
        self.maintenance = maintenance(self.db)

    def erase(self, ids: Sequence[int], now: str) -> Erasure:
        return erase(self.db, self.keys, ids, now)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self.db.snapshot():
            yield

    def pending_migrations(self) -> list[str]:
        """Schema upgrades this version of memcli would apply, in order."""
        if self.db.postgres:
            from .postgres.schema import pending

            return pending(self.conn.raw)
        from .schema import pending_migrations

        return pending_migrations(self.conn)

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    def require_writable(self) -> None:
        self.db.require_writable()

"""One connection, its transactions, and the guard that makes the change unit the only way to write.

`atomic()` nests: the outermost level is BEGIN IMMEDIATE (the write lock up front, so a concurrent writer waits on
the busy timeout instead of failing), inner levels are SAVEPOINTs, as in sqlite-utils' `atomic`. An exception at
any level rolls back that level only.

The guard is SQLite's authorizer: outside `atomic()` it refuses every INSERT, UPDATE, DELETE, CREATE and DROP on
memcli's tables, so a write that bypasses memcli.changes.change() (and with it the audit record) fails at once with
"not authorized" instead of committing silently. The statement cache is off, because SQLite asks the authorizer when
it prepares a statement and a cached statement is never prepared again; preparing costs ~10 µs a statement, noise
beside the model (bench figures are unchanged).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import weakref
from typing import Any

from ..errors import DatabaseError

# memcli's own tables and virtual tables; FTS5's and sqlite-vec's shadow tables are written only through these.
GUARDED = frozenset({"meta", "sources", "messages", "memories", "memory_tags", "memory_messages", "chunks",
                     "memory_links", "audit_log", "audit_memories", "summaries", "memories_fts", "vec_chunks",
                     "vec_signs", "_sqlite_migrations"})
GUARDED_PREFIXES = ("memories_fts_", "vec_chunks_", "vec_signs_")  # FTS5's and sqlite-vec's shadow tables
_SQLITE_OK, _SQLITE_DENY = 0, 1
# sqlite3.h action codes: CREATE_INDEX 1, CREATE_TABLE 2, CREATE_TRIGGER 7, DELETE 9, DROP_INDEX 10,
# DROP_TABLE 11, DROP_TRIGGER 16, INSERT 18, UPDATE 23, ALTER_TABLE 26, CREATE_VTABLE 29, DROP_VTABLE 30
_WRITES = frozenset({1, 2, 7, 9, 10, 11, 16, 18, 23, 26, 29, 30})
_TABLE_IN_ARG2 = frozenset({1, 7, 10, 16, 26})


class UnauditedWrite(RuntimeError):
    """A write outside memcli.changes.change(): a bug in memcli or a plugin, never the user's doing."""


_databases: "weakref.WeakValueDictionary[int, Database]" = weakref.WeakValueDictionary()


class Database:
    """The connection every store shares, with its transaction depth: one per connection (`of`), since the guard
    is the connection's and must see every level opened on it."""

    @classmethod
    def of(cls, conn: Any) -> "Database":
        db = _databases.get(id(conn))
        if db is None or db.conn is not conn:
            db = cls(conn)
            _databases[id(conn)] = db
        return db

    def __init__(self, conn: Any, *, guard: bool = True):
        """guard=False: a migration's view of the connection (schema.py), which writes before any change exists;
        it is not the connection's registered Database (`of`)."""
        self.conn = conn
        self.depth = 0  # open atomic() levels
        self.inner: list[int] = []  # per open change: rows written by the changes nested in it (changes.py)
        self.created: list[list[int]] = []  # per open change: the memories it created itself (sealed in its record)
        self._reading = False  # inside snapshot()
        self._read_only: bool | None = None
        self.postgres = bool(getattr(conn, "is_postgres", False))  # storage/postgres: same SQL, other engine
        self.guarded = False
        self.fts_writes = 0  # writes to the full-text index through this connection (lexicon.py's version)
        if guard:
            self.install_guard()

    # -- the guard ------------------------------------------------------------------------------------------------
    def install_guard(self) -> None:
        """Refuse writes to memcli's tables outside atomic(). Idempotent."""
        if self.guarded:
            return
        if self.postgres:  # no authorizer there: the session is read-only outside a change (postgres/connection.py)
            self.conn.guard()
            self.guarded = True
            return

        def authorize(action: int, arg1: str | None, arg2: str | None, dbname: str | None,
                      _trigger: str | None) -> int:
            if action in _WRITES and dbname != "temp":
                # the table is arg2 for index, trigger and ALTER actions, arg1 for the others
                table = arg2 if action in _TABLE_IN_ARG2 else arg1
                if self.depth == 0 and (table in GUARDED or (table or "").startswith(GUARDED_PREFIXES)):
                    return _SQLITE_DENY
                if (table or "").startswith("memories_fts"):
                    self.fts_writes += 1  # a resident copy of the index is stale from here on
            return _SQLITE_OK

        self.conn.set_authorizer(authorize)
        self.guarded = True

    # -- transactions -----------------------------------------------------------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction, or a savepoint inside the open one. Use memcli.changes.change(), which adds the audit
        record; this is its building block."""
        if self._reading:
            raise UnauditedWrite("a change cannot start inside a read snapshot")
        if self.depth == 0:
            self.require_writable()
            if self.postgres:
                self.conn.begin_write()  # BEGIN, then the memory's writer lock (postgres/connection.py)
            else:
                self.conn.execute("BEGIN IMMEDIATE")
        else:
            self._control(f"SAVEPOINT memcli_{self.depth}")
        level = self.depth
        self.depth += 1
        try:
            yield
            # inside the try: a COMMIT that fails (a reader blocks a rollback journal, the disk is gone) rolls back
            # instead of leaving the transaction open and the write lock held. The level stays open until it is
            # done: FTS5 writes its buffered terms into its shadow tables at COMMIT, through the guard.
            self._control("COMMIT" if level == 0 else f"RELEASE memcli_{level}")
            self.depth = level
        except BaseException:
            self.depth = level
            if level == 0:
                if self.conn.in_transaction:  # SQLite rolls back by itself on some errors (disk full, I/O)
                    self._control("ROLLBACK")
            elif self.conn.in_transaction:
                self._control(f"ROLLBACK TO memcli_{level}")
                self._control(f"RELEASE memcli_{level}")
            raise

    def _control(self, sql: str) -> None:
        """A transaction statement of this module's own (Postgres's connection refuses them from anyone else)."""
        if self.postgres:
            self.conn.execute(sql, control=True)
        else:
            self.conn.execute(sql)

    @property
    def in_change(self) -> bool:
        return self.depth > 0

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: in WAL mode every statement inside sees the same committed state."""
        if self.conn.in_transaction:
            yield
            return
        if self.postgres:
            self.conn.begin_read()
        else:
            self.conn.execute("BEGIN DEFERRED")
        self._reading = True
        try:
            yield
        finally:
            self._reading = False
            self._control("COMMIT")

    def total_changes(self) -> int:
        """Rows written through this connection so far (SQLite's counter): how a change knows it changed anything."""
        return int(self.conn.total_changes)

    # -- read-only files ------------------------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        if self._read_only is None:
            if self.postgres:  # a hot standby, or a role or database set read-only (seen at connect)
                self._read_only = bool(self.conn.server_read_only)
            else:
                self._read_only = bool(self.conn.execute("PRAGMA query_only").fetchone()[0])
        return self._read_only

    def has_table(self, name: str) -> bool:
        """The table exists (vec_chunks is made when the first vector is written)."""
        if self.postgres:
            return bool(self.conn.has_table(name))
        return self.one("SELECT count(*) FROM sqlite_master WHERE name = ?", [name])[0] > 0

    def require_writable(self) -> None:
        if self.read_only:
            raise DatabaseError("the database is read-only (the file or its directory cannot be written); "
                                "this command would change it, so nothing was done")

    def one(self, sql: str, params: Any = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()

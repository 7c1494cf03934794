"""Open the memory database: sqlean (SQLite with extension loading) + sqlite-vec, WAL, busy timeout, foreign keys.

The stdlib sqlite3 on pyenv and macOS Pythons cannot load extensions, so sqlite-vec would fail with an
AttributeError; sqlean ships a SQLite that can.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from ..errors import DatabaseError, ExtensionError, NoDatabaseYet
from ..paths import ensure_private_dir

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000


def _check_existing_file(path: Path) -> None:
    """Refuse, never overwrite, a file that is not a SQLite database."""
    if path.is_dir():
        raise DatabaseError(f"database path {path} is a directory")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise DatabaseError(f"cannot read database {path}: {exc.strerror}") from exc
    if head and head != SQLITE_MAGIC:
        raise DatabaseError(f"{path} is not a SQLite database (refusing to touch it)")


def _create_private_file(path: Path) -> None:
    try:
        ensure_private_dir(path.parent)  # inside: a parent that is a dangling link or unwritable is the user's
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise DatabaseError(f"cannot create database {path}: {exc.strerror}") from exc


SIDECARS = ("-wal", "-shm", "-journal")


def check_private(path: Path) -> None:
    """Refuse a database other users could read or replace: a directory they can write to (they could pre-create
    its -wal file, which SQLite then uses as it is, and read every change from it), or a -wal/-shm/-journal file
    that is not ours. Our own sidecar files with loose modes are made owner-only."""
    uid = os.getuid()
    directory = path.parent
    try:
        dir_stat = directory.stat()
    except OSError as exc:
        raise DatabaseError(f"cannot use {directory}: {exc.strerror}") from None
    if dir_stat.st_mode & 0o002:
        raise DatabaseError(f"{directory} is writable by every user, so others could read or replace this "
                            f"database's files; keep it in a private directory (chmod o-w {directory}, or move it)")
    for suffix in SIDECARS:
        side = Path(f"{path}{suffix}")
        try:
            st = side.lstat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise DatabaseError(f"cannot check {side}: {exc.strerror}") from None
        if not os.path.isfile(side) or os.path.islink(side):
            raise DatabaseError(f"{side} is not a regular file; refusing to open the database beside it")
        if st.st_uid != uid:
            raise DatabaseError(f"{side} belongs to another user (uid {st.st_uid}); it could hold or receive this "
                                f"database's contents. Remove it if you trust its absence, then retry")
        if st.st_mode & 0o077:
            try:
                side.chmod(0o600)
            except OSError as exc:
                raise DatabaseError(f"cannot make {side} private: {exc.strerror}") from None
    main = path.stat() if path.exists() else None
    if main is not None and main.st_uid != uid and os.access(path, os.W_OK):
        raise DatabaseError(f"{path} belongs to another user (uid {main.st_uid}); refusing to write to it")


def _read_only(path: Path) -> bool:
    """The file, or its directory (where SQLite keeps the -wal and -shm files), cannot be written: a read-only
    file system, a write-protected file or a backup on read-only media."""
    return not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK)


def connect(path: str | Path, *, create: bool = True):
    """A raw sqlean connection with sqlite-vec loaded and memcli's pragmas set. A database that cannot be
    written is opened read-only (PRAGMA query_only on): reading commands work, writing ones fail clearly."""
    try:
        import sqlean
    except ImportError as exc:
        raise ExtensionError("sqlean.py is not installed; memcli needs it for a SQLite that can load sqlite-vec") from exc
    import sqlite_vec

    memory = str(path) == ":memory:"
    read_only = False
    target = str(path)
    if not memory:
        path = Path(path).expanduser()
        if path.exists() and not path.is_file():  # a directory, /dev/null, a FIFO: never a database
            raise DatabaseError(f"{path} is not a regular file (refusing to use it as a database)")
        if path.parent.is_dir() and not (path.exists() and _read_only(path)):
            check_private(path)  # before anything is created or read there
        if path.exists() and path.stat().st_size == 0:
            # An empty file (`: > memory.db`): no database yet. A reading command says so; remember makes it one,
            # owner-only like any database memcli creates.
            if not create:
                raise NoDatabaseYet(f"no memory database at {path} yet: the file is empty ('memcli remember' "
                                    "creates it)")
            try:
                path.chmod(0o600)
            except OSError as exc:
                raise DatabaseError(f"cannot use {path}: {exc.strerror}") from exc
        elif path.exists():
            _check_existing_file(path)
        elif create:
            _create_private_file(path)
        else:
            raise NoDatabaseYet(f"no memory database at {path} yet ('memcli remember' creates it)")
        read_only = _read_only(path)
        if read_only:
            wal = Path(f"{path}-wal")
            if wal.exists() and wal.stat().st_size:
                raise DatabaseError(f"{path} is read-only and has changes still in {wal.name} that SQLite cannot "
                                    "apply without writing; copy both files somewhere writable")
            # immutable: no -shm needed and no locking, valid because nothing can write this file.
            target = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        # No statement cache: storage/database.py's guard is asked when a statement is prepared, and a cached one is not.
        conn = sqlean.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, uri=read_only,
                              cached_statements=0)
    except sqlean.Error as exc:
        raise DatabaseError(f"cannot open database {path}: {exc}") from exc
    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except (AttributeError, sqlean.Error) as exc:
        conn.close()
        raise ExtensionError(f"cannot load the sqlite-vec extension: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")  # deleted text is overwritten, not left in free space
        if read_only:
            conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlean.DatabaseError as exc:
        conn.close()
        raise DatabaseError(f"{path} is not a usable SQLite database: {exc}") from exc
    return conn


class Handle:
    """What the store needs of a database: its connection (a sqlite_utils.Database has the same `.conn`, so
    tests and callers may pass one instead)."""

    def __init__(self, conn):
        self.conn = conn


def open_database(path: str | Path, *, create: bool = True, notice: Callable[[str], None] | None = None,
                  migrate: bool = True):
    """A migrated database handle. Refuses SQLite files that memcli did not create. sqlite-utils is imported only
    when a migration is pending. `notice` hears about an upgrade of a database that already holds memories (it can
    take a minute per million of them), so a command does not sit silent. `migrate=False` opens it as it is:
    for `doctor` (which reports a pending upgrade) and shell completion (a TAB must not start one)."""
    from .schema import is_foreign_database, needs_migration, unknown_migrations

    conn = connect(path, create=create)
    if is_foreign_database(conn):
        conn.close()
        raise DatabaseError(f"{path} is a SQLite database that memcli did not create (refusing to modify it)")
    newer = unknown_migrations(conn)
    if newer:
        conn.close()
        raise DatabaseError(f"{path} was upgraded by a newer memcli (schema {newer[-1]}); upgrade memcli to use it")
    pending = needs_migration(conn)
    if not migrate:
        return Handle(conn)
    if is_read_only(conn):
        if pending:
            conn.close()
            raise DatabaseError(f"{path} is read-only and needs a schema upgrade this version of memcli would write")
        return Handle(conn)
    try:
        if str(path) != ":memory:":
            # Only now: switching to WAL rewrites the file header, which a foreign file must never see.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        if pending:
            import sqlite_utils

            from .schema import apply_migrations, holds_memories

            if notice is not None and holds_memories(conn):
                notice("upgrading the database to this version of memcli (once; about a minute per million "
                       "memories)")
            apply_migrations(sqlite_utils.Database(conn))
    except Exception as exc:
        conn.close()
        if isinstance(exc, (DatabaseError, ExtensionError)):
            raise
        raise DatabaseError(f"cannot prepare database {path}: {exc}") from exc
    return Handle(conn)


def is_read_only(conn) -> bool:
    return bool(conn.execute("PRAGMA query_only").fetchone()[0])


def probe() -> tuple[str, str, bool]:
    """(SQLite version, sqlite-vec version, FTS5 compiled in) of an in-memory connection: what doctor reports."""
    import sqlean
    import sqlite_vec

    conn = sqlean.connect(":memory:")
    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        vec = conn.execute("SELECT vec_version()").fetchone()[0]
        fts = bool(conn.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')").fetchone()[0])
    finally:
        conn.close()
    return sqlean.sqlite_version, vec, fts

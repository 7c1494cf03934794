"""A PostgreSQL connection that the stores use as they use SQLite's: `?` parameters, tuples, one writer at a time.

Why an adapter rather than a second copy of every store: almost all of memcli's SQL is plain SQL both engines
run (RETURNING, ON CONFLICT, scalar subqueries). What differs — full text, vectors, file upkeep, triggers — is
overridden per store (postgres/stores.py). The adapter only
  - turns `?` into psycopg's `%s` (and a literal `%` into `%%`), once per statement text;
  - counts the rows written, as SQLite's total_changes does (how a change knows it wrote something);
  - has the server refuse a write outside a change, as SQLite's authorizer does there (storage/database.py): the
    session is read-only but inside a change, and takes one statement at a time;
  - takes the writer's lock at BEGIN: a row lock in the memory's own schema, the equivalent of SQLite's BEGIN
    IMMEDIATE. Every change on every machine serialises on it, so the audit chain's tail is read and extended by
    one writer at a time;
  - turns psycopg's errors into memcli's one-line DatabaseError (a lock wait past the timeout: DatabaseBusy).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from ...errors import DatabaseBusy, DatabaseError, NoDatabaseYet
from ...paths import redact_url, url_secrets

LOCK_TIMEOUT = "10s"  # SQLite's busy timeout: a writer waits this long for another, then fails with DatabaseBusy
MIN_SERVER = 160000  # PostgreSQL 16: pg_input_is_valid (the decay scan)
_COUNT = re.compile(r"^(?:INSERT \d+|UPDATE|DELETE|MERGE) (\d+)$")  # a command tag: the rows it wrote
# what would turn the read-only guard off or end a transaction behind storage/database.py's back: only that module
# (through begin_write, begin_read and its COMMIT/ROLLBACK/SAVEPOINT statements) may say these
_LEAD = r"^(?:\s|--[^\n]*\n|/\*.*?\*/)*"
_SESSION = re.compile(_LEAD + r"(?:BEGIN|START\b|SET\b|RESET\b|DISCARD\b|ABORT\b|END\b|PREPARE\b|COMMIT\b|ROLLBACK\b"
                      r"|SAVEPOINT\b|RELEASE\b|LOCK\b)", re.I | re.S)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s`. memcli's SQL has no `?` inside string literals (values are
    always parameters), so a plain replacement is exact."""
    return sql.replace("%", "%%").replace("?", "%s")


def _message(exc: Exception, secrets: Iterable[str] = ()) -> str:
    """The first line of a server or libpq message, without the URL's password (libpq quotes a malformed one)."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    for secret in secrets:
        line = line.replace(secret, "***")
    return line


class Cursor:
    """What the stores read from a cursor: rows, description, rowcount."""

    def __init__(self, cur: Any):
        self._cur = cur

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description is not None else None

    def fetchall(self) -> list:
        return self._cur.fetchall() if self._cur.description is not None else []

    def fetchmany(self, size: int) -> list:
        return self._cur.fetchmany(size) if self._cur.description is not None else []

    def __iter__(self) -> Iterator:
        return iter(self.fetchall())

    @property
    def description(self) -> Any:
        return [(c.name,) for c in self._cur.description] if self._cur.description is not None else None

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


def _written(cur: Any) -> int:
    found = _COUNT.match(cur.statusmessage or "")
    return int(found.group(1)) if found else 0


class PgConnection:
    """The session runs read-only by default once the guard is on (`guard()`): the server itself refuses any
    write — whatever its SQL looks like, comments, MERGE or several statements — outside `begin_write()`'s
    `BEGIN READ WRITE`, which only memcli.changes.change() opens (through storage/database.py)."""

    is_postgres = True

    def __init__(self, raw: Any, url: str, schema: str, server_read_only: bool, ext: str):
        self.raw = raw
        self.url = url
        self.schema = schema
        self.server_read_only = server_read_only  # a hot standby, or a role or database set read-only
        self.ext = ext  # pgvector's schema, quoted: its type and operators are named through it (postgres/stores.py)
        self.total_changes = 0
        self.guarded = False

    def guard(self) -> None:
        """From now on a write outside a change is refused by the server, and so is any statement that would end
        or reopen a transaction other than storage/database.py's."""
        self.raw.execute("SET default_transaction_read_only = on")
        self.guarded = True

    def has_table(self, name: str) -> bool:
        """In this memory's own schema (never another schema's table of the same name)."""
        return bool(self.raw.execute("SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = %s AND relnamespace = "
                                     "current_schema()::regnamespace)", [name]).fetchone()[0])

    # -- statements -------------------------------------------------------------------------------------------------
    def execute(self, sql: str, params: Iterable = (), *, control: bool = False) -> Cursor:
        """One statement. `control`: a transaction statement of storage/database.py's own."""
        import psycopg

        if self.guarded and not control and (";" in sql.strip().rstrip(";") or _SESSION.match(sql)):
            from ..database import UnauditedWrite

            raise UnauditedWrite("not authorized: one statement at a time, and transactions only through "
                                 "memcli.changes.change()")
        try:
            values = list(params)
            # without parameters psycopg reads the text as it is (no placeholders, and % is not special)
            cur = self.raw.execute(translate(sql), values) if values else self.raw.execute(sql)
        except psycopg.Error as exc:
            raise _database_error(exc) from exc
        self.total_changes += _written(cur)
        return Cursor(cur)

    def executemany(self, sql: str, rows: Iterable) -> None:
        rows = [list(r) for r in rows]
        if not rows:
            return
        import psycopg

        try:
            with self.raw.cursor() as cur:
                cur.executemany(translate(sql), rows)
                self.total_changes += max(cur.rowcount, 0)  # psycopg sums the rows of every statement
        except psycopg.Error as exc:
            raise _database_error(exc) from exc

    # -- transactions ---------------------------------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def begin_write(self) -> None:
        """BEGIN READ WRITE, then this memory's writer lock, held until COMMIT or ROLLBACK: a row lock on a meta row
        of the memory's own schema, which another role can neither read nor lock (an advisory lock's key shows in
        pg_locks to every role). Before the first migration made that row, an advisory lock on the schema's name
        serialises the processes creating it."""
        self.execute("BEGIN READ WRITE", control=True)
        try:
            locked = self.has_table("meta") and self.execute(
                "SELECT 1 FROM meta WHERE key = 'writer_lock_key' FOR UPDATE").fetchone() is not None
            if not locked:  # no row to lock yet (the first migration makes it): never go without a lock
                self.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
        except BaseException:
            self.execute("ROLLBACK", control=True)
            raise

    def begin_read(self) -> None:
        """One snapshot for every statement until COMMIT, as a SQLite read transaction in WAL mode gives."""
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", control=True)

    @property
    def broken(self) -> bool:
        """The server closed this connection (a restart, an idle timeout, a network cut)."""
        return bool(self.raw.closed or self.raw.broken)

    def commit(self) -> None:
        """Autocommit: each statement outside BEGIN … COMMIT is committed already (sqlite3's API has this)."""

    def close(self) -> None:
        self.raw.close()

    @property
    def shown(self) -> str:
        return redact_url(self.url)


def _database_error(exc: Exception) -> Exception:
    import psycopg.errors as e

    if isinstance(exc, e.ReadOnlySqlTransaction):
        from ..database import UnauditedWrite

        return UnauditedWrite("not authorized: a write outside memcli.changes.change() (the server refused it)")
    if isinstance(exc, e.LockNotAvailable):
        return DatabaseBusy(f"database busy: another writer held the memory for over {LOCK_TIMEOUT}; nothing was "
                            "changed, retry")
    if isinstance(exc, e.QueryCanceled):
        return DatabaseBusy(f"the server cancelled the statement ({_message(exc)}); nothing was changed, retry")
    if isinstance(exc, e.InsufficientPrivilege):
        return DatabaseError(f"postgres refused: {_message(exc)}")
    return DatabaseError(f"postgres: {_message(exc)}")


def url_of(raw: Any) -> str:
    info = raw.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


def schema_for(user: str) -> str:
    """The schema that holds one role's memory: memcli_<role> in lower case letters, digits and _; when the role's
    name had to change for that (case, other characters, length), a hash of the exact name follows, so two roles
    never share one name ('dot.user' and 'dot_user')."""
    import hashlib

    plain = re.sub(r"[^a-z0-9_]", "_", user.lower())[:40] or "user"
    if plain == user:
        return "memcli_" + plain
    return f"memcli_{plain}_{hashlib.sha256(user.encode()).hexdigest()[:8]}"


def connect(url: str, *, create: bool = True) -> PgConnection:
    """Connect, check the server (PostgreSQL 16+, pgvector), and enter this role's own schema (created owner-only
    on first use; `create=False` reports a missing one instead). Errors are one line, without the password."""
    try:
        import psycopg
    except ImportError as exc:
        raise DatabaseError("a postgresql:// database needs psycopg: pip install 'memcli[postgres]'") from exc
    shown, secrets = redact_url(url), url_secrets(url)
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {shown}: {_message(exc, secrets)}") from None
    except Exception as exc:  # a malformed URL is a ProgrammingError or ValueError in psycopg's parser
        raise DatabaseError(f"cannot use {shown}: {_message(exc, secrets)}") from None
    try:
        version = int(raw.info.server_version)
        if version < MIN_SERVER:
            raise DatabaseError(f"{shown} runs PostgreSQL {version // 10000}; memcli needs 16 or newer")
        row = raw.execute("SELECT current_user, current_setting('default_transaction_read_only') = 'on' "
                          "OR current_setting('transaction_read_only') = 'on' OR pg_is_in_recovery()").fetchone()
        user, read_only = (str(row[0]), bool(row[1])) if row else ("", False)
        schema = schema_for(user)
        if not read_only:
            _ensure_vector(raw)
        if read_only and create:
            create = False  # nothing can be created there: a missing memory is reported as such
        ext = _enter_schema(raw, schema, user, create, read_only)
        raw.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        conn = PgConnection(raw, url, schema, read_only, ext)
    except psycopg.Error as exc:
        raw.close()
        raise DatabaseError(f"cannot use {shown}: {_message(exc, secrets)}") from None
    except BaseException:
        raw.close()
        raise
    return conn


def _ensure_vector(raw: Any) -> None:
    if raw.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    import psycopg

    try:
        raw.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege:
        raise DatabaseError("this database lacks the pgvector extension, and this role may not create it: ask "
                            "the server's admin to run 'CREATE EXTENSION vector;' in it") from None
    except psycopg.errors.FeatureNotSupported:
        raise DatabaseError("the server has no pgvector: install it (e.g. postgresql-17-pgvector), then "
                            "'CREATE EXTENSION vector;'") from None
    except psycopg.errors.UndefinedFile:
        raise DatabaseError("the server has no pgvector: install it (e.g. postgresql-17-pgvector), then "
                            "'CREATE EXTENSION vector;'") from None


def _enter_schema(raw: Any, schema: str, user: str, create: bool, read_only: bool = False) -> str:
    """The schema is created by its role and grants nothing to anyone else, so on a shared server the database
    itself keeps other roles out. A schema of that name owned by someone else is refused: they could read all."""
    import psycopg

    row = raw.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
    if row is None and not create:
        raise NoDatabaseYet(f"no memory for role {user} on {redact_url(url_of(raw))} yet " + (
            "(the server is read-only, so it cannot be created there)" if read_only
            else "('memcli remember' creates it)"))
    if row is None:
        try:
            raw.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')  # the name is [a-z0-9_] (schema_for)
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema):
            pass  # another process of this role created it at the same moment (IF NOT EXISTS does not lock)
        except psycopg.errors.InsufficientPrivilege:
            raise DatabaseError(f"role {user} may not create its memory schema {schema}: ask the server's admin "
                                f"to run 'GRANT CREATE ON DATABASE <db> TO \"{user}\";' (or to create the schema "
                                f"with AUTHORIZATION \"{user}\")") from None
        row = raw.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s",
                          [schema]).fetchone()
    if row[0] != user:
        raise DatabaseError(f"schema {schema} belongs to role {row[0]}, not {user}; refusing to keep memories where "
                            "another role controls them")
    from psycopg import sql

    ext = raw.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                      "WHERE e.extname = 'vector'").fetchone()
    if ext is None:
        raise DatabaseError("this database lacks the pgvector extension: ask the server's admin to run "
                            "'CREATE EXTENSION vector;' in it")
    # Only this schema on the search path: a table, function or operator another role planted in a shared schema
    # (public is often writable) is never resolved instead of memcli's own. pgvector is named through its schema.
    raw.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
    return sql.Identifier(ext[0]).as_string(raw)

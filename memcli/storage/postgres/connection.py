"""A PostgreSQL connection that the stores use as they use SQLite's: `?` parameters, tuples, one writer at a time.

Why an adapter rather than a second copy of every store: almost all of memcli's SQL is plain SQL both engines
run (RETURNING, ON CONFLICT, scalar subqueries). What differs — full text, vectors, file upkeep, triggers — is
overridden per store (postgres/stores.py). The adapter only
  - turns `?` into psycopg's `%s` (and a literal `%` into `%%`), once per statement text;
  - counts the rows written, as SQLite's total_changes does (how a change knows it wrote something);
  - refuses a write outside a change, as SQLite's authorizer does there (storage/database.py);
  - takes the writer's lock at BEGIN: an advisory transaction lock per memory schema, the equivalent of SQLite's
    BEGIN IMMEDIATE. Every change on every machine serialises on it, so the audit chain's tail is read and
    extended by one writer at a time;
  - turns psycopg's errors into memcli's one-line DatabaseError (a lock wait past the timeout: DatabaseBusy).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from ...errors import DatabaseBusy, DatabaseError
from ...paths import redact_url

LOCK_TIMEOUT = "10s"  # SQLite's busy timeout: a writer waits this long for another, then fails with DatabaseBusy
# a connection's own temporary tables are its business, as on SQLite
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|CREATE(?!\s+TEMP)|DROP|ALTER|TRUNCATE|COPY|GRANT|REVOKE|COMMENT)\b",
                    re.I)
_WITH_WRITE = re.compile(r"^\s*WITH\b.*\b(INSERT|UPDATE|DELETE)\b", re.I | re.S)
_DML = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s`. memcli's SQL has no `?` inside string literals (values are
    always parameters), so a plain replacement is exact."""
    return sql.replace("%", "%%").replace("?", "%s")


def _message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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


class PgConnection:
    is_postgres = True

    def __init__(self, raw: Any, url: str, schema: str):
        self.raw = raw
        self.url = url
        self.schema = schema
        self.total_changes = 0
        self.write_allowed: Callable[[], bool] | None = None  # set by storage/database.py's guard

    # -- statements -------------------------------------------------------------------------------------------------
    def _check(self, sql: str) -> None:
        allowed = self.write_allowed
        if allowed is not None and not allowed() and (_WRITE.match(sql) or _WITH_WRITE.match(sql)):
            from ..database import UnauditedWrite as Refused

            raise Refused("not authorized: a write outside memcli.changes.change()")

    def execute(self, sql: str, params: Iterable = ()) -> Cursor:
        self._check(sql)
        import psycopg

        try:
            values = list(params)
            # without parameters psycopg reads the text as it is (no placeholders, and % is not special)
            cur = self.raw.execute(translate(sql), values) if values else self.raw.execute(sql)
        except psycopg.Error as exc:
            raise _database_error(exc) from exc
        if _DML.match(sql) and cur.rowcount > 0:
            self.total_changes += cur.rowcount
        return Cursor(cur)

    def executemany(self, sql: str, rows: Iterable) -> None:
        self._check(sql)
        rows = [list(r) for r in rows]
        if not rows:
            return
        import psycopg

        try:
            with self.raw.cursor() as cur:
                cur.executemany(translate(sql), rows)
                if _DML.match(sql) and cur.rowcount > 0:
                    self.total_changes += cur.rowcount
        except psycopg.Error as exc:
            raise _database_error(exc) from exc

    # -- transactions ---------------------------------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def begin_write(self) -> None:
        """BEGIN, then this memory's writer lock (held until COMMIT or ROLLBACK)."""
        self.execute("BEGIN")
        try:
            self.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
        except BaseException:
            self.execute("ROLLBACK")
            raise

    def begin_read(self) -> None:
        """One snapshot for every statement until COMMIT, as a SQLite read transaction in WAL mode gives."""
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

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


def _database_error(exc: Exception) -> DatabaseError:
    import psycopg.errors as e

    if isinstance(exc, (e.LockNotAvailable, e.QueryCanceled)):
        return DatabaseBusy(f"database busy: another writer held the memory for over {LOCK_TIMEOUT}; nothing was "
                            "changed, retry")
    if isinstance(exc, e.InsufficientPrivilege):
        return DatabaseError(f"postgres refused: {_message(exc)}")
    return DatabaseError(f"postgres: {_message(exc)}")


def url_of(raw: Any) -> str:
    info = raw.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


def schema_for(user: str) -> str:
    """The schema that holds one role's memory: memcli_<role>, in lower case letters, digits and _."""
    return "memcli_" + (re.sub(r"[^a-z0-9_]", "_", user.lower()) or "user")[:50]


def connect(url: str, *, create: bool = True) -> PgConnection:
    """Connect, check pgvector, and enter this role's own schema (created owner-only on first use; `create=False`
    reports a missing one instead)."""
    try:
        import psycopg
    except ImportError as exc:
        raise DatabaseError("a postgresql:// database needs psycopg: pip install 'memcli[postgres]'") from exc
    shown = redact_url(url)
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {shown}: {_message(exc)}") from None
    except Exception as exc:  # a malformed URL is a ProgrammingError or ValueError in psycopg's parser
        raise DatabaseError(f"cannot use {shown}: {_message(exc)}") from None
    try:
        row = raw.execute("SELECT current_user").fetchone()
        user = str(row[0]) if row else ""
        schema = schema_for(user)
        conn = PgConnection(raw, url, schema)
        _ensure_vector(raw)
        _enter_schema(raw, schema, user, create)
        raw.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    except psycopg.Error as exc:
        raw.close()
        raise DatabaseError(f"cannot use {shown}: {_message(exc)}") from None
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


def _enter_schema(raw: Any, schema: str, user: str, create: bool) -> None:
    """The schema is created by its role and grants nothing to anyone else, so on a shared server the database
    itself keeps other roles out. A schema of that name owned by someone else is refused: they could read all."""
    import psycopg

    row = raw.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
    if row is None and not create:
        raise DatabaseError(f"no memory for role {user} on {redact_url(url_of(raw))} yet ('memcli remember' creates "
                            "it)")
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
    ext = raw.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                      "WHERE e.extname = 'vector'").fetchone()[0]
    raw.execute(f'SET search_path = "{schema}", "{ext}"')

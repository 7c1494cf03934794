"""The PostgreSQL + pgvector backend: the same stores and guarantees as SQLite, for a memory shared by several
machines or a fleet of agents. psycopg is imported only when a postgresql:// database is opened."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import DatabaseError
from ..connection import Handle


def open_server(url: str, *, create: bool = True, notice: Callable[[str], None] | None = None,
                migrate: bool = True) -> Handle:
    """A migrated connection to this role's memory on the server (see connection.py and schema.py)."""
    from ...timeparse import now_utc, to_iso
    from . import schema
    from .connection import connect

    import psycopg

    conn = connect(url, create=create)
    try:
        newer = schema.unknown_migrations(conn.raw)
        if newer:
            raise DatabaseError(f"{conn.shown} was upgraded by a newer memcli (schema {newer[-1]}); upgrade memcli "
                                "to use it")
        if migrate and schema.pending(conn.raw):
            if notice is not None and schema.holds_memories(conn.raw):
                notice("upgrading the memory schema on the server to this version of memcli (once)")
            if conn.server_read_only:
                raise DatabaseError(f"{conn.shown} is read-only and this memory needs a schema upgrade this version "
                                    "of memcli would write")
            schema.migrate(conn, to_iso(now_utc()))
    except psycopg.Error as exc:
        conn.close()
        raise DatabaseError(f"cannot prepare {conn.shown}: {str(exc).strip().splitlines()[0]}") from None
    except BaseException:
        conn.close()
        raise
    return Handle(conn)

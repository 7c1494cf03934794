"""Whole-database reads and file upkeep: counts, statistics, integrity, backup, WAL truncation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .database import Database


class Maintenance:
    def __init__(self, db: Database):
        self.db = db

    def counts(self) -> dict[str, int]:
        def n(table: str) -> int:
            return self.db.one(f"SELECT count(*) FROM {table}")[0]  # table names are the constants below

        return {"memories": n("memories"), "sources": n("sources"), "messages": n("messages"), "chunks": n("chunks")}

    def stats_by(self) -> dict:
        def group(col: str) -> dict:
            return dict(self.db.conn.execute(f"SELECT {col}, count(*) FROM memories GROUP BY {col} ORDER BY {col}"))

        return {"by_kind": group("kind"), "by_scope": group("scope"), "by_status": group("status"),
                "flagged": self.db.one("SELECT count(*) FROM memories WHERE flags IS NOT NULL")[0],
                "stale": self.db.one("SELECT count(*) FROM memories WHERE stale = 1")[0],
                "pinned": self.db.one("SELECT count(*) FROM memories WHERE pinned = 1")[0],
                "audit_records": self.db.one("SELECT count(*) FROM audit_log")[0]}

    def bad_rows(self) -> dict[str, list[int]]:
        """Memory ids (up to 10 each) whose stored values search and ranking cannot trust: vectors with no
        direction, strengths that are not finite, kinds and statuses memcli does not write, unreadable flags or
        times. Search skips them; this says which they are."""
        import json
        import math

        from ..types import KINDS, STATUSES

        out: dict[str, list[int]] = {"zero_vectors": [], "bad_strength": [], "bad_kind_or_status": [],
                                     "unreadable_flags": [], "bad_times": []}
        out["zero_vectors"] = self.zero_vectors(10)
        for mid, kind, status, strength, flags, occurred, created in self.db.conn.execute(
                "SELECT id, kind, status, strength, flags, occurred_at, created_at FROM memories"):
            if not isinstance(strength, (int, float)) or not math.isfinite(strength):
                out["bad_strength"].append(mid)
            if kind not in KINDS or status not in STATUSES:
                out["bad_kind_or_status"].append(mid)
            if flags:
                try:
                    ok = isinstance(json.loads(flags), list)
                except ValueError:
                    ok = False
                if not ok:
                    out["unreadable_flags"].append(mid)
            if not all(isinstance(t, str) and len(t) == 20 and t.endswith("Z") for t in (occurred, created)):
                out["bad_times"].append(mid)
        return {k: v[:10] for k, v in out.items() if v}

    def zero_vectors(self, limit: int) -> list[int]:
        """Memories with a stored vector that has no direction (cosine cannot rank it)."""
        import numpy as np

        found: list[int] = []
        if self.db.has_table("vec_chunks"):
            cursor = self.db.conn.execute("SELECT c.memory_id, v.embedding FROM vec_chunks v "
                                          "JOIN chunks c ON c.id = v.rowid")
            while len(found) < limit and (rows := cursor.fetchmany(4096)):
                found += [mid for mid, blob in rows if not np.any(np.frombuffer(blob, dtype=np.int8))]
        return found[:limit]

    def scrub_pending(self) -> bool:
        """Deleted rows may still be in the files from an earlier erasure. SQLite: forget and scrub checkpoint as
        they go, nothing to track."""
        return False

    def size_bytes(self) -> int | None:
        """What the memory takes on a server; None for SQLite, whose files the caller measures."""
        return None

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """One holder at a time, across processes, of the lock `name` (consolidate's): True when this process
        holds it, False when another does. SQLite: an flock on a file beside the database. An in-memory or
        read-only database needs none: no other process can change it."""
        import fcntl
        import os

        row = self.db.one("PRAGMA database_list")
        if self.db.read_only or not row or not row[2]:
            yield True
            return
        fd = os.open(f"{row[2]}.{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def quick_check(self) -> str:
        return str(self.db.one("PRAGMA quick_check")[0])

    def backup_to(self, target: Path) -> None:
        """SQLite's online backup into a new owner-only file."""
        from .connection import connect

        dest = connect(target)  # creates it 0600 and refuses anything that is not SQLite
        try:
            self.db.conn.backup(dest)
        finally:
            dest.close()

    def scrub_files(self) -> bool:
        """After an erasure commits: fold the WAL into the database and truncate it, so old page images holding
        forgotten text do not linger in the -wal file. False if a reader kept the checkpoint from finishing."""
        # SQLite's busy handler waits for readers here; a reader holding a snapshot does not finish for a
        # checkpoint, so wait one second at most (not the 10 s busy timeout), then say so.
        from .connection import BUSY_TIMEOUT_MS

        self.db.conn.execute("PRAGMA busy_timeout = 1000")
        try:
            busy, _log, _ckpt = self.db.one("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.db.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
        return busy == 0

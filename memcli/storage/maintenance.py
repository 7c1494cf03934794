"""Whole-database reads and file upkeep: counts, statistics, integrity, backup, WAL truncation."""

from __future__ import annotations

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
        busy, _log, _ckpt = self.db.one("PRAGMA wal_checkpoint(TRUNCATE)")
        return busy == 0

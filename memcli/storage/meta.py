"""The meta table: one value per key (embedding model, consolidation high-water mark, settings)."""

from __future__ import annotations

from .database import Database


class Meta:
    def __init__(self, db: Database):
        self.db = db

    def get(self, key: str) -> str | None:
        row = self.db.one("SELECT value FROM meta WHERE key = ?", [key])
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        self.db.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value])

    def delete(self, *keys: str) -> None:
        for key in keys:
            self.db.conn.execute("DELETE FROM meta WHERE key = ?", [key])

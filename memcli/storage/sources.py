"""sources (the verbatim input) and messages (its turns), and memory_messages: which message a memory came from."""

from __future__ import annotations

from collections.abc import Iterator

from .database import Database

from .keys import CONTEXT, KEY_TEXT, KEYS_JOIN

SOURCE_COLS = ("id", "origin", "format", "scope", "sha256", "received_at", "raw", "n_messages", "stated_at",
               "redacted_at")
MESSAGE_COLS = ("id", "source_id", "seq", "speaker", "role", "text", "occurred_at", "external_id")


class Sources:
    def __init__(self, db: Database):
        self.db = db

    def find(self, sha256: str, scope: str, fmt: str, stated_at: str = "") -> int | None:
        row = self.db.one("SELECT id FROM sources WHERE sha256 = ? AND scope = ? AND format = ? AND stated_at = ?",
                          [sha256, scope, fmt, stated_at or ""])
        return row[0] if row else None

    def insert(self, *, origin: str, format: str, scope: str, sha256: str, received_at: str, raw: str,
               n_messages: int, stated_at: str | None = "", redacted_at: str | None = None) -> int:
        cur = self.db.conn.execute(
            "INSERT INTO sources(origin, format, scope, sha256, received_at, raw, n_messages, stated_at, redacted_at) "
            "VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
            [origin, format, scope, sha256, received_at, raw, n_messages, stated_at or "", redacted_at])
        return int(cur.fetchone()[0])

    def insert_message(self, *, source_id: int, seq: int, text: str, speaker: str | None = None,
                       role: str | None = None, occurred_at: str | None = None,
                       external_id: str | None = None) -> int:
        cur = self.db.conn.execute(
            "INSERT INTO messages(source_id, seq, speaker, role, text, occurred_at, external_id) VALUES (?,?,?,?,?,?,?) "
            "RETURNING id",
            [source_id, seq, speaker, role, text, occurred_at, external_id])
        return int(cur.fetchone()[0])

    def link(self, memory_id: int, message_id: int) -> None:
        self.db.conn.execute("INSERT INTO memory_messages(memory_id, message_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                             [memory_id, message_id])

    def message_at(self, source_id: int, seq: int) -> int | None:
        row = self.db.one("SELECT id FROM messages WHERE source_id = ? AND seq = ?", [source_id, seq])
        return row[0] if row else None

    def memory_ids(self, source_id: int) -> list[int]:
        rows = self.db.conn.execute(
            "SELECT DISTINCT mm.memory_id FROM messages msg JOIN memory_messages mm ON mm.message_id = msg.id "
            "WHERE msg.source_id = ? ORDER BY mm.memory_id", [source_id])
        return [r[0] for r in rows]

    def message_ids_of(self, memory_id: int) -> list[int]:
        return [r[0] for r in self.db.conn.execute(
            "SELECT message_id FROM memory_messages WHERE memory_id = ? ORDER BY message_id", [memory_id])]

    def evidence(self, memory_id: int) -> list[dict]:
        """The verbatim messages a memory came from, with where they came from."""
        cols = ("message_row", "source_id", "seq", "speaker", "text", "occurred_at", "message_id", "origin",
                "format", "received_at")
        rows = self.db.conn.execute(
            "SELECT msg.id, msg.source_id, msg.seq, msg.speaker, msg.text, msg.occurred_at, msg.external_id, "
            "s.origin, s.format, s.received_at FROM memory_messages mm JOIN messages msg ON msg.id = mm.message_id "
            "JOIN sources s ON s.id = msg.source_id WHERE mm.memory_id = ? ORDER BY msg.source_id, msg.seq",
            [memory_id])
        return [dict(zip(cols, r)) for r in rows]

    def neighbourhood(self, source_id: int) -> list[dict]:
        """A source's remaining messages in order, each with the memory it backs (for rebuilding context keys)."""
        cols = ("seq", "speaker", "text", "occurred_at", "external_id", "memory_id", "memory_occurred_at",
                "context", "key_text")
        rows = self.db.conn.execute(
            "SELECT msg.seq, msg.speaker, msg.text, msg.occurred_at, msg.external_id, m.id, m.occurred_at, "
            f"{CONTEXT}, {KEY_TEXT} FROM messages msg JOIN memory_messages mm ON mm.message_id = msg.id "
            # Only the memory that is this message. A fact links its evidence, and a memory that a duplicate was
            # merged into links the duplicate's message too (same text, another source): neither is this message.
            f"JOIN memories m ON m.id = mm.memory_id AND m.text = msg.text {KEYS_JOIN} "
            "WHERE msg.source_id = ? AND NOT EXISTS (SELECT 1 FROM memory_links l JOIN memory_messages dup "
            "ON dup.memory_id = l.memory_id WHERE l.relation = 'merged_into' AND l.target_id = m.id "
            "AND dup.message_id = msg.id) ORDER BY msg.seq", [source_id])
        return [dict(zip(cols, r)) for r in rows]

    def rows(self) -> Iterator[dict]:
        """Every source, for export."""
        for row in self.db.conn.execute(f"SELECT {', '.join(SOURCE_COLS)} FROM sources ORDER BY id"):
            yield dict(zip(SOURCE_COLS, row))

    def message_rows(self) -> Iterator[dict]:
        """Every message, for export."""
        for row in self.db.conn.execute(f"SELECT {', '.join(MESSAGE_COLS)} FROM messages ORDER BY id"):
            yield dict(zip(MESSAGE_COLS, row))

    def count(self) -> tuple[int, int]:
        """(sources, messages)."""
        return (self.db.one("SELECT count(*) FROM sources")[0], self.db.one("SELECT count(*) FROM messages")[0])


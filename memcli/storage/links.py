"""memory_links: derived_from (a fact or summary rests on its evidence), merged_into, superseded_by."""

from __future__ import annotations

from collections.abc import Sequence

from .database import Database
from .filters import marks, parts


class Links:
    def __init__(self, db: Database):
        self.db = db

    def add(self, memory_id: int, relation: str, target_id: int) -> None:
        self.db.conn.execute("INSERT INTO memory_links(memory_id, relation, target_id) VALUES (?, ?, ?) "
                             "ON CONFLICT DO NOTHING",
                             [memory_id, relation, target_id])

    def of(self, memory_id: int) -> dict[str, list[tuple[str, int]]]:
        """{'out': [(relation, target)], 'in': [(relation, source)]}"""
        out = self.db.conn.execute("SELECT relation, target_id FROM memory_links WHERE memory_id = ? ORDER BY 2",
                                   [memory_id]).fetchall()
        inc = self.db.conn.execute("SELECT relation, memory_id FROM memory_links WHERE target_id = ? ORDER BY 2",
                                   [memory_id]).fetchall()
        return {"out": [tuple(r) for r in out], "in": [tuple(r) for r in inc]}

    def all_of(self, memory_id: int) -> list[list]:
        """[relation, target] pairs, for export."""
        return [list(r) for r in self.db.conn.execute(
            "SELECT relation, target_id FROM memory_links WHERE memory_id = ? ORDER BY relation, target_id",
            [memory_id])]

    def superseded_among(self, ids: Sequence[int]) -> set[int]:
        out: set[int] = set()
        for part in parts(ids):
            out.update(r[0] for r in self.db.conn.execute(
                f"SELECT id FROM memories WHERE valid_until IS NOT NULL AND id IN ({marks(part)})", part))
        return out

    def supersede(self, old_id: int, new_id: int, valid_until: str) -> None:
        """The old fact stays (history is not destroyed) but is no longer current."""
        self.db.conn.execute("UPDATE memories SET valid_until = ? WHERE id = ?", [valid_until, old_id])
        self.add(old_id, "superseded_by", new_id)

    def merge_into(self, dup_id: int, keep_id: int) -> None:
        """The duplicate leaves recall; its provenance moves onto the kept memory, so both sources stay linked."""
        self.db.conn.execute("UPDATE memories SET status = 'merged' WHERE id = ?", [dup_id])
        self.db.conn.execute("INSERT INTO memory_messages(memory_id, message_id) "
                             "SELECT ?, message_id FROM memory_messages WHERE memory_id = ? ON CONFLICT DO NOTHING",
                             [keep_id, dup_id])
        self.add(dup_id, "merged_into", keep_id)

    def evidence_of_pinned(self, ids: Sequence[int]) -> set[int]:
        """Those of `ids` that a pinned derived memory rests on."""
        found: set[int] = set()
        for part in parts(ids):
            found.update(r[0] for r in self.db.conn.execute(
                "SELECT l.target_id FROM memory_links l JOIN memories d ON d.id = l.memory_id "
                f"WHERE l.relation = 'derived_from' AND d.pinned = 1 AND l.target_id IN ({marks(part)})", part))
        return found

"""A memory's search keys: its FTS5 row (message text and neighbouring turns) and the text its vectors embed.

A memory's full-text keys live once, in its FTS row: memories.context is left '' and memories.key_text is ''
when the embedding key is the FTS message text (the usual case). They were stored twice, ~700 B a memory (m006).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .database import Database
from .filters import marks, parts
from .vectors import Vectors

KEYS_JOIN = "LEFT JOIN memories_fts f ON f.rowid = m.id"
KEY_TEXT = "CASE WHEN m.key_text = '' THEN coalesce(f.text, '') ELSE m.key_text END AS key_text"
CONTEXT = "coalesce(f.context, '') AS context"


def stored_key_text(key_text: str, fts_text: str) -> str:
    """What memories.key_text holds: '' when the FTS row's text already says it (see KEY_TEXT)."""
    return "" if key_text == fts_text else key_text


class Keys:
    def __init__(self, db: Database, vectors: Vectors):
        self.db = db
        self.vectors = vectors

    def update_words(self, memory_id: int, fts_text: str, context: str) -> None:
        """Replace a memory's full-text keys (the FTS table has secure-delete, so the old row's terms go)."""
        self.db.conn.execute("DELETE FROM memories_fts WHERE rowid = ?", [memory_id])
        self.db.conn.execute("INSERT INTO memories_fts(rowid, text, context) VALUES (?, ?, ?)",
                             [memory_id, fts_text, context])

    def replace_vectors(self, memory_id: int, key_text: str, vectors: np.ndarray) -> None:
        """New vectors for a new embedding key."""
        fts_text = self.db.one("SELECT text FROM memories_fts WHERE rowid = ?", [memory_id])
        self.db.conn.execute("UPDATE memories SET key_text = ? WHERE id = ?",
                             [stored_key_text(key_text, fts_text[0] if fts_text else ""), memory_id])
        self.vectors.replace(memory_id, vectors)

    def drop(self, ids: Sequence[int]) -> None:
        """Remove memories' vectors and full-text rows."""
        self.vectors.drop(ids)
        for part in parts(ids):
            self.db.conn.execute(f"DELETE FROM memories_fts WHERE rowid IN ({marks(part)})", part)

    def mark_stale(self, ids: Sequence[int]) -> None:
        """Derived memories that may quote what is no longer there lose their text and search keys now; the rows
        stay, marked stale, so the next consolidate rebuilds them."""
        self.drop(ids)
        for part in parts(ids):
            self.db.conn.execute("UPDATE memories SET stale = 1, text = '', key_text = '', context = '' "
                                 f"WHERE id IN ({marks(part)})", part)

    def iter_embedding_keys(self, batch: int = 256) -> Iterator[list[tuple[int, str]]]:
        """Every memory's embedding key, but stale ones: a forget emptied them until consolidate rebuilds them,
        and the vector of an empty key would match short questions."""
        last = 0
        while True:
            rows = self.db.conn.execute(
                f"SELECT m.id, {KEY_TEXT} FROM memories m {KEYS_JOIN} WHERE m.id > ? AND m.stale = 0 "
                "ORDER BY m.id LIMIT ?", [last, batch]).fetchall()
            if not rows:
                return
            yield [(r[0], r[1]) for r in rows]
            last = rows[-1][0]

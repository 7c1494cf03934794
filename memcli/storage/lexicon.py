"""FTS5's own index, read back for the resident lexical index (retrieval/resident_words.py): each token's
postings with its counts per column, each row's length, the table's totals, and FTS5's tokenizer applied to a
query word. SQLite only: Postgres ranks full text its own way (postgres/stores.py).

Everything comes from FTS5's shadow tables and fts5vocab, never from a second tokenizer of memcli's, so the
resident copy holds exactly the tokens FTS5 matches, and bm25 computed from it equals FTS5's bm25() (the formula
is in resident_words.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .database import Database

FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"  # memories_fts's tokenizer (schema.py)
_VOCAB = "memcli_fts_instance"  # a temp fts5vocab table on this connection


def varints(blob: bytes) -> list[int]:
    """SQLite's varints (big-endian groups of 7 bits, the high bit set on all but the last byte)."""
    out, value = [], 0
    for byte in blob:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            out.append(value)
            value = 0
    return out


class Lexicon:
    def __init__(self, db: Database):
        self.db = db
        self._tokenizer: Any = None
        self._vocab = False
        self._usable: bool | None = None

    def usable(self) -> bool:
        """An FTS5 table with the tokenizer this module reproduces (a database made by another version would
        have to say so in its schema)."""
        if self._usable is None:
            row = None if self.db.postgres else self.db.one("SELECT sql FROM sqlite_master WHERE name = 'memories_fts'")
            self._usable = bool(row and FTS_TOKENIZE in row[0])  # the schema is fixed once the store is open
        return self._usable

    def version(self) -> tuple[int, int]:
        """Moves whenever the full-text index may have: another connection committed (PRAGMA data_version), or
        this one wrote to it (counted by the guard, which sees every write)."""
        return self.db.one("PRAGMA data_version")[0], self.db.fts_writes

    def totals(self) -> tuple[int, int]:
        """(rows, tokens in all columns) from FTS5's averages record: what its bm25() divides by."""
        row = self.db.one("SELECT block FROM memories_fts_data WHERE id = 1")
        values = varints(row[0]) if row else []
        return (values[0], sum(values[1:])) if values else (0, 0)

    def row_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, tokens per row over all columns) from FTS5's docsize table."""
        rows = self.db.conn.execute("SELECT id, sz FROM memories_fts_docsize").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        lengths = np.fromiter((sum(varints(r[1])) for r in rows), dtype=np.float64, count=len(rows))
        return ids, lengths

    def postings(self, token: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rowids, occurrences in the text column, occurrences in the context column) of one token."""
        if not self._vocab:
            self.db.conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{_VOCAB} "
                                 "USING fts5vocab(main, memories_fts, instance)")
            self._vocab = True
        rows = self.db.conn.execute(
            f"SELECT doc, sum(col = 'text'), sum(col = 'context') FROM temp.{_VOCAB} WHERE term = ? "
            "GROUP BY doc ORDER BY doc", [token]).fetchall()
        # 8 bytes a posting where the numbers fit (rowids below 2**31, under 65,536 occurrences in a row)
        wide = bool(rows) and rows[-1][0] >= 2**31
        many = any(r[1] > 65535 or r[2] > 65535 for r in rows)
        docs = np.fromiter((r[0] for r in rows), dtype=np.int64 if wide else np.int32, count=len(rows))
        counts = np.uint32 if many else np.uint16
        text = np.fromiter((r[1] for r in rows), dtype=counts, count=len(rows))
        context = np.fromiter((r[2] for r in rows), dtype=counts, count=len(rows))
        return docs, text, context

    def tokens(self, word: str) -> list[str]:
        """The tokens FTS5 makes of `word` (a query phrase), through the same tokenizer on a private in-memory
        table: nothing of the query is written to the user's database."""
        if self._tokenizer is None:
            import sqlean

            conn = sqlean.connect(":memory:", isolation_level=None)
            conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{FTS_TOKENIZE}')")
            conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
            self._tokenizer = conn
        conn = self._tokenizer
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t(x) VALUES (?)", [word])
        return [r[0] for r in conn.execute("SELECT term FROM v ORDER BY offset")]

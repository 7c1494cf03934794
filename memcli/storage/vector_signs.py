"""Sign codes: one bit per dimension of every chunk vector (above a frozen mean or not), in a sqlite-vec `bit`
table, so a one-shot search reads 48 bytes a vector (MiniLM) instead of scanning 384 (storage/search.py).

Kept from FAST_FROM chunk vectors on (below, sqlite-vec's scan costs a few ms): the table is made when a
database crosses that size, or by migration m010 for one already past it, with the mean of the vectors stored
then; every later vector is coded against that same mean (the `vec_signs_mean` meta key), so the codes never
need rewriting. A mean frozen at the first 20,000 of 100,000 synthetic vectors lost nothing against the whole
corpus's (a one-off script over bench/scale.py's databases); `memcli reindex` makes them anew.

They live and die with the vectors they code (Vectors.add/drop/reset call this), in the same change. sqlite-vec
clears a deleted row's bytes, so a forgotten memory's signs are gone from the file as its vector is
(tests/test_forget.py reads the raw file). Cost: ~71 bytes a memory (48 of code, the rest sqlite-vec's rowid
bookkeeping).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

from . import vec0_layout
from .database import Database
from .meta import Meta

FAST_FROM = 20_000  # chunk vectors from which the signs are kept and searched (retrieval/resident.py's too)
TABLE = "vec_signs"
META_MEAN = "vec_signs_mean"


def pack(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rows of packed sign bits, dim / 8 bytes each (vec_bit stores the bytes as given)."""
    return np.packbits(np.atleast_2d(vectors) > mean, axis=1)


class VectorSigns:
    def __init__(self, db: Database, meta: Meta):
        self.db = db
        self.meta = meta
        self._mean: np.ndarray | None = None
        self._mean_text: str | None = None

    def mean(self) -> np.ndarray | None:
        """The frozen mean, or None while no signs are kept."""
        text = self.meta.get(META_MEAN)
        if text is None or not self.db.has_table(TABLE):
            return None
        if text != self._mean_text:
            self._mean, self._mean_text = np.frombuffer(base64.b64decode(text), dtype="<f4").copy(), text
        return self._mean

    def build(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Make the table for these chunk vectors (unit float32 rows, ids their chunk ids) and freeze their mean.
        Inside a change or a migration."""
        self.drop_all()
        mean = rows.mean(axis=0).astype("<f4")
        dim = int(rows.shape[1])
        self.db.conn.execute(f"CREATE VIRTUAL TABLE {TABLE} USING vec0(sign bit[{dim}])")
        self.meta.set(META_MEAN, base64.b64encode(mean.tobytes()).decode("ascii"))
        self.add(ids, rows)

    def add(self, ids: Sequence[int] | np.ndarray, rows: np.ndarray) -> None:
        """Code these chunk vectors, if signs are kept."""
        mean = self.mean()
        if mean is None or not len(ids):
            return
        self.db.conn.executemany(f"INSERT INTO {TABLE}(rowid, sign) VALUES (?, vec_bit(?))",
                                 [(int(i), code.tobytes()) for i, code in zip(ids, pack(rows, mean))])

    def drop(self, chunk_ids: Sequence[int]) -> None:
        if chunk_ids and self.db.has_table(TABLE):
            self.db.conn.executemany(f"DELETE FROM {TABLE} WHERE rowid = ?", [(int(i),) for i in chunk_ids])

    def drop_all(self) -> None:
        self.db.conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        self.meta.delete(META_MEAN)
        self._mean = self._mean_text = None

    def everything(self, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(chunk ids, packed signs as a (rows, dim / 8) uint8 array), or None while no signs are kept."""
        if self.mean() is None:
            return None
        width = (dim + 7) // 8
        read = vec0_layout.read_all(self.db, TABLE, width)
        if read is not None:
            return read
        rows = self.db.conn.execute(f"SELECT rowid, sign FROM {TABLE}").fetchall()
        return (np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8).reshape(len(rows), width))

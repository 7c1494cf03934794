"""Sign codes: one bit per dimension of every chunk vector (above a frozen mean or not), in a sqlite-vec `bit`
table, so a one-shot search reads 48 bytes a vector (MiniLM) instead of scanning 384 (storage/search.py).

Kept from FAST_FROM chunk vectors on (below, sqlite-vec's scan costs a few ms): the table is made when a
database reaches that size, or by migration m010 for one already past it (10-20 s for a million vectors here), with
the mean of the vectors stored then; every later vector is coded against that same mean (the `vec_signs_mean`
meta key), so the codes never need rewriting. A mean frozen at the first 20,000 of 100,000 synthetic vectors lost
nothing against the whole corpus's (a one-off script over bench/scale.py's databases); `memcli reindex` makes them
anew.

The mean (and each dimension's mean absolute deviation from it) is stored with fresh noise of two steps of 1/1024,
rounded to that grid: an exact mean is the sum of the vectors it was taken over, and that sum minus the survivors
would give a forgotten vector back, while a deterministic rounding would still let a guess be checked.
tests/test_vector_signs.py tries both. The price is a few sign bits in a thousand. When the last vector goes, the
mean goes with it.

The codes live and die with the vectors they code (Vectors.add/drop/reset call this), in the same change.
sqlite-vec clears a deleted row's bytes, so a forgotten memory's code is gone from the file as its vector is
(tests/test_vector_signs.py reads the raw file). Cost: ~71 bytes a memory (48 of code, the rest sqlite-vec's
rowid bookkeeping). A mean or table that does not read back as expected (an edited file) counts as no signs: the
search scans, and the next remember codes everything anew.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import numpy as np

from . import vec0_layout
from .database import Database
from .meta import Meta

FAST_FROM = 20_000  # chunk vectors from which signs are kept and searched, one-shot and resident (resident.py)
TABLE = "vec_signs"
META_MEAN = "vec_signs_mean"  # the mean, then each dimension's mean absolute deviation from it: float32, base64
MEAN_GRID = 1024  # the stored mean is a multiple of 1 / MEAN_GRID (see the module docstring)
BLOCK = 8_192  # vectors coded at a time


def pack(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rows of packed sign bits, dim / 8 bytes each (vec_bit stores the bytes as given)."""
    return np.packbits(np.atleast_2d(vectors) > mean, axis=1)


def _on_grid(values: np.ndarray) -> np.ndarray:
    """Rounded to the grid after fresh noise of two grid steps that is never stored: rounding alone is
    deterministic, so whoever holds the file could recompute it for a guessed forgotten vector and see whether
    every value lands where the file says (a review ruled out 39 % of wrong guesses that way)."""
    return (np.round((values + noise(values.shape)) * MEAN_GRID) / MEAN_GRID).astype("<f4")


def noise(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng().normal(0.0, 2.0 / MEAN_GRID, size=shape)


def table_sql(dim: int) -> str:
    """The signs table for `dim`-dimensional vectors: a whole number of bytes a code (packbits pads with zeros)."""
    return f"CREATE VIRTUAL TABLE {TABLE} USING vec0(sign bit[{8 * ((int(dim) + 7) // 8)}])"


class VectorSigns:
    def __init__(self, db: Database, meta: Meta):
        self.db = db
        self.meta = meta
        self._mean: np.ndarray | None = None
        self._mean_text: str | None = None

    def mean(self, dim: int) -> np.ndarray | None:
        """The frozen mean for `dim`-dimensional vectors, or None while no (usable) signs are kept."""
        frozen = self.frozen(dim)
        return None if frozen is None else frozen[0]

    def frozen(self, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, spread): the frozen mean and each dimension's mean absolute deviation from it (the second
        stage of the search weighs the query by it: retrieval/sign_search.py), or None while no usable signs are
        kept."""
        text = self.meta.get(META_MEAN)
        if text is None:
            return None
        made = self.db.one("SELECT sql FROM sqlite_master WHERE name = ?", [TABLE])
        if made is None or made[0] != table_sql(dim):  # gone, or not the table this code makes for `dim`
            return None
        if text != self._mean_text:
            try:
                both = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").copy()
            except (binascii.Error, ValueError):
                both = np.zeros(0, dtype=np.float32)
            self._mean, self._mean_text = both, text
        assert self._mean is not None
        if len(self._mean) != 2 * dim or not np.isfinite(self._mean).all():
            return None
        return self._mean[:dim], self._mean[dim:]

    def build(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Make the table for these stored vectors (their int8 codes; ids their chunk ids) and freeze their mean,
        a block at a time. Inside a change or a migration."""
        from .vector_codec import decode

        self.drop_all()
        dim = int(codes.shape[1])
        n = max(len(codes), 1)
        total = np.zeros(dim, dtype=np.float64)
        for start in range(0, len(codes), BLOCK):
            total += decode(codes[start : start + BLOCK]).sum(axis=0)
        mean = _on_grid(total / n)
        spread = np.zeros(dim, dtype=np.float64)
        for start in range(0, len(codes), BLOCK):
            spread += np.abs(decode(codes[start : start + BLOCK]) - mean).sum(axis=0)
        both = np.concatenate([mean, _on_grid(spread / n)])
        self.db.conn.execute(table_sql(dim))
        self.meta.set(META_MEAN, base64.b64encode(both.tobytes()).decode("ascii"))
        for start in range(0, len(codes), BLOCK):
            self.add(ids[start : start + BLOCK], decode(codes[start : start + BLOCK]))

    def add(self, ids: Sequence[int] | np.ndarray, rows: np.ndarray) -> None:
        """Code these chunk vectors (unit float32 rows), if signs are kept."""
        mean = self.mean(rows.shape[1]) if len(ids) else None
        if mean is None:
            return
        self.drop([int(i) for i in ids])  # a stale row under a reused chunk id (an edited file) would refuse it
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
        """(chunk ids, packed signs as a (rows, dim / 8) uint8 array), or None while no usable signs are kept."""
        if self.mean(dim) is None:
            return None
        width = (dim + 7) // 8
        read = vec0_layout.read_all(self.db, TABLE, width)
        if read is not None:
            return read
        import sqlean

        try:
            rows = self.db.conn.execute(f"SELECT rowid, sign FROM {TABLE}").fetchall()
        except sqlean.Error:  # not readable as this code made it
            return None
        if not all(isinstance(r[0], int) and isinstance(r[1], bytes) and len(r[1]) == width for r in rows):
            return None
        return (np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8).reshape(len(rows), width))

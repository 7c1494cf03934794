"""Reading a sqlite-vec table whole from its shadow tables: a few large blobs instead of a row at a time.

sqlite-vec keeps a vec0 table's vectors in chunks of (by default) 1,024: `{table}_chunks` holds each chunk's
rowids and a validity bitmap, `{table}_vector_chunks00` the vectors of its first column, back to back. Reading
those directly takes 0.04 s for 100,000 int8 vectors against 0.4-0.5 s through the virtual table (one Python
tuple per row), which is what a resident copy's load and the one-shot sign search need.

This is sqlite-vec's storage layout, not its API. Every read checks the layout (column names, and that each
chunk's blobs have the types and sizes its row count implies, before allocating anything) and returns None when
anything differs, and the caller then reads through the virtual table: a sqlite-vec that stores vectors
differently costs speed. It trusts the chunks' own rowids and validity bits, which sqlite-vec's scan also reads;
a file edited to make them disagree with `{table}_rowids` could show a vector the virtual table would not, and
callers map every vector to its memory through the `chunks` table (a vector without a memory is never returned).
tests/test_vector_signs.py compares both reads.
"""

from __future__ import annotations

import numpy as np

from .database import Database

CHUNK_COLUMNS = ("chunk_id", "size", "validity", "rowids")
MAX_CHUNK = 1 << 16  # rows per chunk: sqlite-vec's default is 1,024; anything far above is not its layout
MAX_CACHE_KIB = 64 * 1024  # the most page cache a read takes for itself
VECTOR_COLUMNS = ("rowid", "vectors")


def _columns(db: Database, table: str) -> tuple[str, ...]:
    return tuple(r[1] for r in db.conn.execute("SELECT * FROM pragma_table_info(?)", [table]))


def read_all(db: Database, table: str, row_bytes: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(rowids as int64, the vectors' bytes as a (rows, row_bytes) uint8 array) of every live row of the vec0
    table `table` (a constant of memcli's, never input), in storage order; None when the layout is not the one
    expected."""
    chunks, vectors = f"{table}_chunks", f"{table}_vector_chunks00"
    if _columns(db, chunks) != CHUNK_COLUMNS or _columns(db, vectors) != VECTOR_COLUMNS:
        return None
    # Every size checked before anything is allocated (lengths and types come from the record headers, without
    # reading the blobs): an edited `size` must cost a fallback, not a terabyte.
    n_chunks = db.one(f"SELECT count(*) FROM {chunks}")[0]
    if not n_chunks:
        return np.zeros(0, dtype=np.int64), np.zeros((0, row_bytes), dtype=np.uint8)
    shape = db.one(
        f"SELECT count(*), min(c.size), max(c.size), min(length(c.rowids)), max(length(c.rowids)), "
        f"min(length(c.validity)), min(length(v.vectors)), max(length(v.vectors)), "
        f"min(typeof(c.size) = 'integer' AND typeof(c.rowids) = 'blob' AND typeof(c.validity) = 'blob' "
        f"AND typeof(v.vectors) = 'blob') FROM {chunks} c JOIN {vectors} v ON v.rowid = c.chunk_id")
    joined, size, largest, rowids_min, rowids_max, validity_min, blob_min, blob_max, typed = shape
    if (joined != n_chunks or typed != 1 or not isinstance(size, int) or not 0 < size == largest <= MAX_CHUNK
            or rowids_min != rowids_max or rowids_min != 8 * size or validity_min * 8 < size
            or blob_min != blob_max or blob_min != size * row_bytes):
        return None
    # One copy per chunk into arrays made once: a million 384-byte vectors are 384 MB, and joining the blobs
    # first doubled the memory touched (2.7 s instead of ~1 s here).
    ids = np.empty(n_chunks * size, dtype=np.int64)
    rows = np.empty((n_chunks * size, row_bytes), dtype=np.uint8)
    filled = seen = 0
    # A page cache the size of the read, up to 64 MB: with SQLite's default 2 MB every page read evicts one, and
    # reading the 48 MB of a million sign codes took 0.10 s instead of 0.05 s. Given back afterwards
    # (shrink_memory); a larger read (the vectors themselves) keeps the cache as it is, not its own size twice.
    cache = int(db.one("PRAGMA cache_size")[0])
    wanted_kib = n_chunks * size * (row_bytes + 8) // 1024 + 2048
    enlarge = wanted_kib <= MAX_CACHE_KIB and (cache >= 0 or -cache < wanted_kib)
    if enlarge:
        db.conn.execute(f"PRAGMA cache_size = {-wanted_kib}")
    try:
        for validity, rowids, blob in db.conn.execute(
                f"SELECT c.validity, c.rowids, v.vectors FROM {chunks} c "
                f"JOIN {vectors} v ON v.rowid = c.chunk_id ORDER BY c.chunk_id"):
            seen += 1
            if (seen > n_chunks or len(rowids) != 8 * size or len(validity) * 8 < size
                    or len(blob) != size * row_bytes):
                return None  # changed since the check (another process cannot: a read runs in one snapshot)
            live = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[:size].astype(bool)
            count = int(live.sum())
            ids[filled : filled + count] = np.frombuffer(rowids, dtype="<i8")[live]
            rows[filled : filled + count] = np.frombuffer(blob, dtype=np.uint8).reshape(size, row_bytes)[live]
            filled += count
    finally:
        if enlarge:
            db.conn.execute(f"PRAGMA cache_size = {cache}")
            db.conn.execute("PRAGMA shrink_memory")
    if seen != n_chunks:
        return None
    if filled < 0.75 * len(ids):  # many deleted slots: do not keep their memory in a long-lived copy
        return ids[:filled].copy(), rows[:filled].copy()
    return ids[:filled], rows[:filled]


def count_live(db: Database, table: str) -> int | None:
    """How many rows the vec0 table `table` holds, from its chunks' validity bits (a thousandth of the data: 1 ms
    at a million rows), or None when the layout is not the one expected."""
    chunks = f"{table}_chunks"
    if _columns(db, chunks) != CHUNK_COLUMNS:
        return None
    total = 0
    for size, validity in db.conn.execute(f"SELECT size, validity FROM {chunks}"):
        if not isinstance(size, int) or not isinstance(validity, bytes) or not 0 < size <= len(validity) * 8:
            return None
        total += int(np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[:size].sum())
    return total

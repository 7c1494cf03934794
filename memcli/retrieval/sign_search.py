"""Which stored vectors a one-shot search scores exactly, chosen from their sign codes (storage/vector_signs.py)
without reading the vectors themselves.

Two stages narrow the corpus. Hamming distance between the query's signs and every row's picks 32·√N rows
(as the resident copy does, retrieval/resident.py). Then each of those is scored by the query's values, weighed by
each dimension's spread around the mean, summed over the row's set bits (an estimate of the dot product from the
signs: the query keeps its floats, so it ranks far better than Hamming), and the best 8·√N go on to the exact
cosine of their stored vectors (storage/search.py reads those by rowid). Which estimate, measured at 4·√N rows on
bench/scale.py's synthetic databases, 100 questions, mean frozen at the first 20,000 vectors (recall@10 against
the exact ranking, a one-off script): 100k: 0.999 unweighed, 0.997 with the query centred, 1.000 weighed; 1M:
0.991, 0.981, 0.995. At 8·√N bench/scale.py measures 1.000 / 0.995.
"""

from __future__ import annotations

import numpy as np

from . import resident

# Rows scored exactly: 8 × sqrt(N) (2,529 at 100k, 8,000 at 1M), at least 4 per wanted. On real MiniLM vectors
# at the same shares of REALTALK's 8,944 (bench/binary_loss.py) 4 × sqrt kept 0.990 / 0.927 of the top 10 at
# 100k / 1M, 8 × sqrt 0.998 / 0.977; each row costs a lookup by rowid (~10-15 µs).
EXACT_PER_ROOT = 8


def exact_rows(n: int, wanted: int) -> int:
    """How many of n rows are scored exactly for the `wanted` best."""
    return min(n, max(4 * wanted, int(EXACT_PER_ROOT * n ** 0.5)))


def byte_sums(query: np.ndarray, width: int) -> np.ndarray:
    """table[b, j]: the sum of the query's values at the bits set in byte value b at byte position j (packbits'
    big-endian bit order), so a row's estimate is `width` lookups."""
    padded = np.zeros(width * 8, dtype=np.float32)
    padded[: len(query)] = query
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32)  # (256, 8)
    return bits @ padded.reshape(width, 8).T  # (256, width)


def candidates(columns: np.ndarray, packed: np.ndarray, query: np.ndarray, query_signs: np.ndarray,
               spread: np.ndarray, wanted: int) -> np.ndarray:
    """Indexes of the rows to score exactly, for the `wanted` best: `packed` holds each row's sign bytes,
    `columns` the same as sign_columns(packed), `spread` each dimension's mean absolute deviation from the mean
    (a row's estimate is the query weighed by it, summed over the row's set bits)."""
    n = len(packed)
    exact = exact_rows(n, wanted)
    if exact >= n:
        return np.arange(n)
    distance = resident.hamming(columns, resident.sign_columns(query_signs[None, :])[:, 0])
    size = resident.shortlist_size(n, wanted)
    rows = resident.nearest_rows(distance, size) if size < n else np.arange(n)
    if exact >= len(rows):
        return rows
    table = byte_sums(query * spread, packed.shape[1])
    estimate = table[packed[rows], np.arange(packed.shape[1])].sum(axis=1)
    return rows[np.argpartition(-estimate, exact - 1)[:exact]]

"""Which stored vectors a one-shot search scores exactly, chosen from their sign codes (storage/vector_signs.py)
without reading the vectors themselves.

Two stages narrow the corpus. Hamming distance between the query's signs and every row's picks 32·√N rows
(as the resident copy does, retrieval/resident.py). Then each of those is scored by the query's own values summed
over the row's set bits (an asymmetric estimate: the query keeps its floats, so it ranks far better than Hamming),
and the best 4·√N go on to the exact cosine of their stored vectors (storage/search.py reads those by rowid).
Measured on bench/scale.py's synthetic databases, 100 questions, mean frozen at the first 20,000 vectors
(recall@10 against the exact ranking, a one-off script): 100k, 1,265 exact rows: 0.997-0.999; 1M, 4,000: 0.991.
"""

from __future__ import annotations

import numpy as np

from . import resident

EXACT_PER_ROOT = 4  # rows scored exactly: 4 × sqrt(N) (1,265 at 100k, 4,000 at 1M), at least 4 per wanted


def byte_sums(query: np.ndarray, width: int) -> np.ndarray:
    """table[b, j]: the sum of the query's values at the bits set in byte value b at byte position j (packbits'
    big-endian bit order), so a row's estimate is `width` lookups."""
    padded = np.zeros(width * 8, dtype=np.float32)
    padded[: len(query)] = query
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32)  # (256, 8)
    return bits @ padded.reshape(width, 8).T  # (256, width)


def candidates(columns: np.ndarray, packed: np.ndarray, query: np.ndarray, query_signs: np.ndarray,
               wanted: int) -> np.ndarray:
    """Indexes of the rows to score exactly, for the `wanted` best: `packed` holds each row's sign bytes and
    `columns` the same as sign_columns(packed) (a long-lived copy keeps both; a one-shot search makes it once)."""
    n = len(packed)
    exact = min(n, max(4 * wanted, int(EXACT_PER_ROOT * n ** 0.5)))
    if exact >= n:
        return np.arange(n)
    distance = resident.hamming(columns, resident.sign_columns(query_signs[None, :])[:, 0])
    size = resident.shortlist_size(n, wanted)
    rows = resident.nearest_rows(distance, size) if size < n else np.arange(n)
    if exact >= len(rows):
        return rows
    table = byte_sums(query, packed.shape[1])
    estimate = table[packed[rows], np.arange(packed.shape[1])].sum(axis=1)
    return rows[np.argpartition(-estimate, exact - 1)[:exact]]

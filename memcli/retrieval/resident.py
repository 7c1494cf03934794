"""Vectors held in memory for processes that search many times: batch recall, the MCP server, benchmarks.

A one-shot `memcli recall` reads the vectors it needs from the database (storage/search.py: all of them below
storage/vector_signs.FAST_FROM, a sign-code shortlist above). A process that searches again and again loads them once and answers from
memory instead. The copy is reloaded when the database changed since it was taken (another connection's commit
moves PRAGMA data_version; this connection's vector writes move Vectors.writes), so a long-lived process never
searches vectors of memories it has forgotten.

From FAST_FROM rows on, the copy keeps the stored int8 codes (a quarter of float32's memory) and a search first
ranks one-bit sign codes (each dimension above the mean or not: 48 bytes for MiniLM's 384 dimensions; the
database's own, storage/vector_signs.py, when it keeps them) by Hamming distance, then scores the shortlist with
the exact cosine of the stored vectors. Every score returned is that exact cosine; only a row the codes rank
outside the shortlist can be missed. bench/scale.py measures the loss against the exact product in the same run,
and bench/binary_loss.py on real MiniLM vectors and questions.
"""

from __future__ import annotations

import numpy as np

from ..storage import vector_codec, vector_signs
BLOCK = 4_096  # rows converted to float32 at a time: small copies reuse memory (fresh pages are slow to fault)
SHORTLIST_PER_ROOT = 32  # shortlist = 32 × sqrt(rows): 10,119 at 100k, 32,000 at 1M


def shortlist_size(n_rows: int, wanted: int) -> int:
    """How many rows the Hamming stage passes to the float re-rank. It must grow with the corpus (the codes' ranking
    error does), but more slowly. Measured on bench/scale.py's databases and 100 questions, with float32 vectors
    (recall@10 against exact, a one-off script; numbers in the README; with int8 vectors 32 × sqrt gives 1.000 at
    100k and 0.995 at 1M): 12 × sqrt lost 0.4 points at 100k and 1.5 at 1M; 24 × sqrt 0.0 and
    0.7; 32 × sqrt 0.0 and 0.4. On real MiniLM vectors (bench/binary_loss.py) the same shares of the corpus lose
    at most half a point."""
    return min(n_rows, max(8 * wanted, int(SHORTLIST_PER_ROOT * n_rows ** 0.5)))


def binary_codes(matrix: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """One bit per dimension (above the mean or not), packed into uint64 words: shape (words, rows)."""
    return sign_columns(vector_signs.pack(matrix, mean))


def sign_columns(packed: np.ndarray) -> np.ndarray:
    """Packed sign rows (uint8, dim / 8 bytes each) as uint64 words laid out (words, rows), one contiguous array
    per word, so the Hamming distance runs along the rows: 5.4 ms at 1M rows against 31 ms row-major (2-core
    EPYC, numpy 2.4)."""
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(np.ascontiguousarray(packed).view(np.uint64).T)


def hamming(codes: np.ndarray, query_code: np.ndarray) -> np.ndarray:
    """Distance of every row's code to the query's, as uint16."""
    distance = np.bitwise_count(codes[0] ^ query_code[0]).astype(np.uint16)
    for word in range(1, codes.shape[0]):
        distance += np.bitwise_count(codes[word] ^ query_code[word])
    return distance


def nearest_rows(distance: np.ndarray, size: int) -> np.ndarray:
    """Rows whose distance is within the `size`-th smallest (ties included), by a histogram of the small integer
    distances instead of a partial sort: 1.7 ms at 1M rows against 5.7 ms for argpartition."""
    counts = np.cumsum(np.bincount(distance))
    threshold = int(np.searchsorted(counts, size))
    return np.flatnonzero(distance <= threshold)


class ResidentVectors:
    def __init__(self, *, exact: bool = False):
        self.exact = exact  # True: always the full float product (the reference the fast path is measured by)
        self._version: tuple | None = None
        self._owners: np.ndarray | None = None  # memory id per row
        self._matrix: np.ndarray | None = None  # float32 unit vectors, one row per chunk (exact path)
        self._int8: np.ndarray | None = None  # the stored int8 codes (fast path: a quarter of the memory)
        self._scale: np.ndarray | None = None  # 1 / norm of each int8 row (0 for a zero row)
        self._mean: np.ndarray | None = None
        self._codes: np.ndarray | None = None  # each row's signs as uint64 columns (sign_columns), from FAST_FROM on

    def drop_if_stale(self, vectors) -> None:
        if self._version is not None and vectors.version() != self._version:
            self._owners = self._matrix = self._int8 = self._scale = self._codes = self._mean = None
            self._version = None

    def _refresh(self, vectors) -> None:
        version = vectors.version()
        if version == self._version:
            return
        self._matrix = self._int8 = self._scale = self._codes = self._mean = None
        ids, self._owners, codes = vectors.everything()
        if self.exact or len(codes) < vector_signs.FAST_FROM:  # below it the exact product takes ~2 ms
            self._matrix = vector_codec.decode(codes)
        else:
            # The int8 codes stay as stored (384 MB at 1M instead of 1.5 GB of float32, and no 1.5 GB
            # conversion at load); only the shortlist is converted, per search.
            self._int8 = codes
            # squared norms summed in int32 straight from the int8 rows (exact; 14 ms at 100k): float32 copies of
            # 65,536-row blocks cost 0.35 s in a bench process, most of it the page faults of fresh memory
            norms = np.sqrt(np.einsum("ij,ij->i", codes, codes, dtype=np.int32).astype(np.float32))
            self._scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            self._mean, packed = self._signs(vectors, ids, codes)
            self._codes = sign_columns(packed)
        self._version = version

    def _signs(self, vectors, ids: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, packed sign rows aligned with `ids`): the database's own (storage/vector_signs.py), read in
        0.1 s at a million rows, else computed here (Postgres keeps none)."""
        signs = getattr(vectors, "signs", None)
        mean = signs.mean(codes.shape[1]) if signs is not None else None
        if signs is not None and mean is not None:
            stored = signs.everything(codes.shape[1])
            if stored is not None and len(stored[0]) == len(ids):
                signed, packed = stored
                if not np.array_equal(signed, ids):
                    order, at = np.argsort(signed), np.argsort(ids)
                    if not np.array_equal(signed[order], ids[at]):
                        return self._computed(codes)
                    aligned = np.empty_like(packed)
                    aligned[at] = packed[order]
                    packed = aligned
                return mean, packed
        return self._computed(codes)

    def _computed(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = np.zeros(codes.shape[1], dtype=np.float64)
        for start in range(0, len(codes), BLOCK):
            total += vector_codec.decode(codes[start : start + BLOCK]).sum(axis=0)
        mean = (total / max(len(codes), 1)).astype(np.float32)
        packed = np.concatenate([vector_signs.pack(vector_codec.decode(codes[start : start + BLOCK]), mean)
                                 for start in range(0, len(codes), BLOCK)])
        return mean, packed

    def _rows(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The n best rows by exact cosine (among the shortlist when codes are kept), best first, with scores."""
        if self._codes is None:
            assert self._matrix is not None  # search() returns early before the first load
            rows = np.arange(len(self._matrix))
            sims = self._matrix @ query
        else:
            assert self._mean is not None and self._int8 is not None and self._scale is not None
            # The whole Hamming shortlist is scored exactly. The one-shot search's second stage (sign_search.py)
            # would score a quarter of it, and on real MiniLM vectors at a million's share it keeps 0.977 of the
            # top 10 (bench/binary_loss.py) where this keeps 0.995; here the rows are in memory and cheap.
            distance = hamming(self._codes, binary_codes(query, self._mean)[:, 0])
            size = shortlist_size(len(distance), n)
            rows = nearest_rows(distance, size) if size < len(distance) else np.arange(len(distance))
            # int8 rows times the float query, no float copy of the rows: 7.5 ms for 32,000 rows against 11 ms
            # converting them first and 14-17 ms gathering float32 rows (numpy 2.4 here)
            sims = np.einsum("ij,j->i", self._int8[rows], query) * self._scale[rows]
        take = min(n, len(sims))
        best = np.argpartition(-sims, take - 1)[:take] if take < len(sims) else np.arange(len(sims))
        best = best[np.lexsort((rows[best], -sims[best]))]  # by score, then row: the same order either path
        return rows[best], sims[best]

    def search(self, vectors, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(memory id, cosine similarity) of the best chunks, best first, one entry per memory, at most k."""
        self._refresh(vectors)
        if self._owners is None or not len(self._owners):
            return []
        query = np.asarray(query, dtype=np.float32)
        rows, sims = self._rows(query, max(k * 2, k + 16))  # a memory with several chunks takes several rows
        assert self._owners is not None  # loaded together with the matrix
        seen: dict[int, float] = {}
        for row, sim in zip(rows, sims):
            owner = int(self._owners[row])
            if owner not in seen:
                seen[owner] = float(sim)
                if len(seen) == k:
                    break
        return list(seen.items())

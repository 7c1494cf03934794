"""Vectors held in memory for processes that search many times: batch recall, the MCP server, benchmarks.

A one-shot `memcli recall` scans sqlite-vec: reading every vector once from disk is all it needs. A process that
searches again and again loads the vectors once and answers with one matrix product instead: still exact, and
several times faster than the vec0 scan (bench/scale.py measures both). The copy is reloaded when the database
changed since it was taken (another connection's commit moves PRAGMA data_version; this connection's vector writes
move Store.vector_writes), so a long-lived process never searches vectors of memories it has forgotten.
"""

from __future__ import annotations

import numpy as np


class ResidentVectors:
    def __init__(self):
        self._version: tuple | None = None
        self._owners: np.ndarray | None = None  # memory id per row
        self._matrix: np.ndarray | None = None  # float32 unit vectors, one row per chunk

    def _refresh(self, store) -> None:
        version = store.version()
        if version != self._version:
            self._owners, self._matrix = store.all_vectors()
            self._version = version

    def search(self, store, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(memory id, cosine similarity) of the best chunks, best first, one entry per memory, at most k."""
        self._refresh(store)
        if self._matrix is None or not len(self._matrix):
            return []
        sims = self._matrix @ np.asarray(query, dtype=np.float32)
        n = min(len(sims), max(k * 2, k + 16))  # a memory with several chunks takes several rows
        top = np.argpartition(-sims, n - 1)[:n] if n < len(sims) else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")]
        seen: dict[int, float] = {}
        for row in top:
            owner = int(self._owners[row])
            if owner not in seen:
                seen[owner] = float(sims[row])
                if len(seen) == k:
                    break
        return list(seen.items())

"""The two searches recall fuses: FTS5 full text (bm25) and sqlite-vec cosine, both filtered by Filters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..types import Filters
from . import vec0_layout, vector_codec
from .database import Database
from .filters import marks, where
from .vectors import Vectors

FTS_SLACK = 32  # extra FTS rows fetched so a few inactive memories among the top ones cost no second query
VEC_MAX_K = 4096  # sqlite-vec's largest k for a KNN query


class Search:
    def __init__(self, db: Database, vectors: Vectors):
        self.db = db
        self.vectors = vectors

    def words(self, terms: Sequence[str], filters: Filters, limit: int,
              weights: tuple[float, float] = (1.0, 0.3)) -> list[tuple[int, float]]:
        """(memory_id, bm25) best first for memories holding any of `terms`; bm25 is negated so larger is better.

        Without narrowing filters, FTS5 ranks on its own and only the top rows are checked against the status:
        joining every match to its memory first doubled the cost (a common word matches most memories). When too
        many of the top rows are not active, the joined query runs instead, so the result is the same either way.
        """
        from ..retrieval.fts_query import or_expression

        match = or_expression(list(terms))
        if match is None:
            return []
        if not filters.narrowing:
            take = limit + FTS_SLACK
            rows = self.db.conn.execute(
                "SELECT rowid, -bm25(memories_fts, ?, ?) AS score FROM memories_fts WHERE memories_fts MATCH ? "
                "ORDER BY score DESC, rowid LIMIT ?", [weights[0], weights[1], match, take]).fetchall()
            hits = self.matching(rows, filters)
            if len(hits) >= limit or len(rows) < take:
                return hits[:limit]
        return self.words_joined(match, filters, limit, weights)

    def matching(self, ranked: Sequence[tuple[int, float]], filters: Filters) -> list[tuple[int, float]]:
        """The (memory id, score) pairs whose memory passes `filters`, in the given order."""
        if not ranked:
            return []
        sql, params = where(filters, "m")
        keep = {r[0] for r in self.db.conn.execute(
            f"SELECT m.id FROM memories m WHERE m.id IN ({marks(ranked)}) AND {sql}",
            [r[0] for r in ranked] + params)}
        return [(i, score) for i, score in ranked if i in keep]

    def words_joined(self, match: str, filters: Filters, limit: int,
                     weights: tuple[float, float]) -> list[tuple[int, float]]:
        sql, params = where(filters, "m")
        rows = self.db.conn.execute(
            "SELECT m.id, -bm25(memories_fts, ?, ?) AS score FROM memories_fts "
            "JOIN memories m ON m.id = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND {sql} ORDER BY score DESC, m.id LIMIT ?",
            [weights[0], weights[1], match, *params, limit])
        return [(r[0], r[1]) for r in rows]

    def ubiquitous_terms(self, terms: Sequence[str], min_rows: int) -> set[str]:
        """Terms found in at least half of all indexed memories (none when there are fewer than `min_rows`).

        FTS5's bm25 clamps the idf of such a term to 1e-6 (idf = log((N - n + 0.5) / (n + 0.5)) <= 0), so it
        adds nothing to any score, yet scoring it visits half the index: a speaker's name in a two-person chat
        matches every memory. Counting stops at N/2, so the check costs at most half a doclist scan per term.
        """
        total = self.db.one("SELECT count(*) FROM memories")[0]
        if total < max(min_rows, 1):
            return set()
        half = (total + 1) // 2
        common = set()
        for term in terms:
            expr = '"' + term.replace('"', '""') + '"'
            n = self.db.one("SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)",
                            [expr, half])[0]
            if n >= half:
                common.add(term)
        return common

    def nearest(self, query: np.ndarray, filters: Filters, limit: int, resident: Any = None,
                signs: bool = True) -> list[tuple[int, float]]:
        """(memory_id, cosine similarity) best first; a memory's score is that of its best chunk (of those scored:
        with a shortlist, a chunk outside it is not). `resident` (retrieval.resident.ResidentVectors) answers
        unfiltered searches from memory. Without it, a large database's sign codes choose the rows scored
        (nearest_by_signs); signs=False scans every vector (the reference benchmarks and tests compare with)."""
        if self.vectors.model() is None:
            return []
        query = vector_codec.as_stored(query)
        qbytes = vector_codec.to_blob(query)
        sql, params = where(filters, "m")
        if resident is not None and not filters.narrowing:
            return self.matching(resident.search(self.vectors, query, max(limit * 3, limit + 16)), filters)[:limit]
        k = max(limit * 3, limit + 16)
        if signs and not filters.narrowing:
            signed = self.nearest_by_signs(query, k)
            if signed is not None:
                return self.matching(signed, filters)[:limit]
        if filters.narrowing or k > VEC_MAX_K:
            # Exact scan over the filtered set, so selective filters never starve the result list (and any limit
            # works: sqlite-vec's KNN takes at most 4,096 neighbours).
            rows = self.db.conn.execute(
                # a vec0 column read outside MATCH loses its int8 subtype: vec_int8() restores it
                "SELECT c.memory_id, min(vec_distance_cosine(vec_int8(v.embedding), vec_int8(?))) AS d "
                "FROM vec_chunks v JOIN chunks c ON c.id = v.rowid JOIN memories m ON m.id = c.memory_id "
                f"WHERE {sql} GROUP BY c.memory_id ORDER BY d LIMIT ?", [qbytes, *params, limit]).fetchall()
        else:
            rows = self.db.conn.execute(
                "SELECT c.memory_id, min(knn.distance) AS d FROM "
                "(SELECT rowid, distance FROM vec_chunks WHERE embedding MATCH vec_int8(?) AND k = ?) knn "
                "JOIN chunks c ON c.id = knn.rowid JOIN memories m ON m.id = c.memory_id "
                f"WHERE {sql} GROUP BY c.memory_id ORDER BY d LIMIT ?", [qbytes, k, *params, limit]).fetchall()
        # A stored vector with no direction (all zeros: an old import, an edited file) has no cosine: sqlite-vec
        # gives NULL. It is skipped here and reported by `memcli doctor`, never a traceback.
        return [(r[0], 1.0 - r[1]) for r in rows if r[1] is not None and math.isfinite(r[1])]

    def nearest_by_signs(self, query: np.ndarray, k: int) -> list[tuple[int, float]] | None:
        """The k best memories (exact cosine of their best chunk among the rows the sign codes shortlist,
        retrieval/sign_search.py), or None when no signs are kept or the corpus is small enough to scan. Reads
        48 bytes a vector and a few thousand vectors by rowid, instead of every vector (0.1 s at 100,000)."""
        from ..retrieval.resident import sign_columns
        from ..retrieval.sign_search import candidates, exact_rows
        from .vector_signs import FAST_FROM, pack

        signs, model = self.vectors.signs, self.vectors.model()
        if signs is None or model is None:
            return None
        dim = model[1]
        frozen = signs.frozen(dim)
        if frozen is None:
            return None
        mean, spread = frozen
        read = signs.everything(dim)
        if read is None or len(read[0]) < FAST_FROM or exact_rows(len(read[0]), k) > len(read[0]) // 8:
            return None  # small, or so many rows wanted that reading them one by one would cost more than a scan
        ids, packed = read
        if vec0_layout.count_live(self.db, "vec_chunks") != len(ids):
            return None  # codes missing or left over (an edited file): only the scan sees every vector
        chosen = candidates(sign_columns(packed), packed, query, pack(query, mean)[0], spread, k)
        chunk_ids = sorted(int(i) for i in ids[chosen])
        found, blobs = [], []
        for cid in chunk_ids:  # one lookup each: `rowid IN (...)` cost a fixed ~0.3 s at 1M vectors here
            row = self.db.one("SELECT embedding FROM vec_chunks WHERE rowid = ?", [cid])
            # a vector with no direction has no cosine: skipped, as sqlite-vec's NULL distance is below
            if row is not None and isinstance(row[0], bytes) and len(row[0]) == dim and any(row[0]):
                found.append(cid)
                blobs.append(row[0])
        if not found:
            return []
        sims = self.vectors.rows(blobs, dim) @ query
        owners = self.vectors.owners(np.array(found, dtype=np.int64))
        best: dict[int, float] = {}
        for at in np.lexsort((np.array(found), -sims)):  # best first; ties by chunk id, as the resident copy
            owner, sim = int(owners[at]), float(sims[at])
            if owner >= 0 and math.isfinite(sim) and owner not in best:
                best[owner] = sim
                if len(best) == k:
                    break
        return list(best.items())

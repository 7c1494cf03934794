"""The full-text half of recall answered from memory, for processes that recall many times (the MCP server,
batch recall, benchmarks): the same ranked list FTS5 returns, score for score, without FTS5's cost.

FTS5 computes bm25() for every row that matches any query word, and a question's OR query matches a large share
of memories (the context column holds five turns): 24 ms at 100k memories, 245 ms at 1M (bench/scale.py). Here
each query word's postings are read once from FTS5's own index (storage/lexicon.py) and kept; a search is a few
numpy operations over them. The score is FTS5's bm25, reproduced operation for operation so the numbers are the
same to the last bit:

    idf    = log((N - n + 0.5) / (n + 0.5)), at least 1e-6       N rows, n rows holding the word
    f      = the column weights added once per occurrence, text column first (FTS5's aFreq)
    score  = sum over the query's words of idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl))
             k1 = 1.2, b = 0.75, D the row's tokens in all columns, avgdl FTS5's own average

Ranked by score, then rowid, as Search.words orders. The copy is dropped whenever the index may have changed
(Lexicon.version: another connection's commit, or any write of this one), so a forgotten memory is never found
through it. Filtered searches, searches inside an open change, and query words FTS5 reads as several tokens go
to FTS5 (None here).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

K1, B = 1.2, 0.75
SLACK = 32  # as Search.words: rows taken past the limit so a few inactive memories cost no second pass
MAX_POSTINGS = 16_000_000  # postings kept at most (8 bytes each: 128 MB); past it the least recently used go


class ResidentWords:
    def __init__(self) -> None:
        self._version: tuple | None = None
        self._postings: OrderedDict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._tokens: dict[str, list[str]] = {}  # the tokenizer never changes: kept across versions
        self._lengths = np.zeros(1)
        self._rows = 0
        self._avgdl = 0.0
        self._memories: int | None = None
        self._kept = 0  # postings held in _postings

    def drop_if_stale(self, store: Any) -> None:
        if self._version is not None and store.lexicon.version() != self._version:
            self._postings.clear()
            self._kept = 0
            self._lengths = np.zeros(1)
            self._memories = None
            self._version = None

    def _refresh(self, store: Any) -> None:
        version = store.lexicon.version()
        if version != self._version:
            ids, lengths = store.lexicon.row_lengths()
            self._lengths = np.zeros(int(ids.max()) + 1 if len(ids) else 1)
            self._lengths[ids] = lengths
            rows, tokens = store.lexicon.totals()
            self._rows, self._avgdl = rows, (tokens / rows if rows else 0.0)
            self._postings.clear()
            self._kept = 0
            self._memories = None
            self._version = version

    def _token(self, store: Any, word: str) -> str | None:
        tokens = self._tokens.get(word)
        if tokens is None:
            tokens = self._tokens[word] = store.lexicon.tokens(word)
        return tokens[0] if len(tokens) == 1 else None  # a phrase of several tokens needs positions: FTS5's

    def _posting(self, store: Any, token: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found = self._postings.get(token)
        if found is not None:
            self._postings.move_to_end(token)
            return found
        found = store.lexicon.postings(token)
        while self._postings and self._kept + len(found[0]) > MAX_POSTINGS:
            _, evicted = self._postings.popitem(last=False)  # the least recently searched word
            self._kept -= len(evicted[0])
        self._postings[token] = found
        self._kept += len(found[0])
        return found

    def search(self, store: Any, terms: Sequence[str], filters: Any, limit: int, weights: tuple[float, float],
               prune_min_rows: int) -> list[tuple[int, float]] | None:
        """What recall.search_words returns (ubiquitous words dropped, then Search.words), or None when this
        search must go to FTS5."""
        if filters.narrowing or store.db.in_change or not store.lexicon.usable():
            return None
        tokens = [self._token(store, t) for t in terms]
        if any(t is None for t in tokens):
            return None
        self._refresh(store)
        words = [t for t in tokens if t is not None]
        if len(words) > 1:  # recall.search_words's pruning, from the postings' lengths
            if self._memories is None:
                self._memories = store.memories.count()
            if self._memories >= max(prune_min_rows, 1):
                half = (self._memories + 1) // 2
                common = [len(self._posting(store, w)[0]) >= half for w in words]
                if sum(common) < len(words):  # per query word, as the SQL path counts: two words may share a stem
                    words = [w for w, c in zip(words, common) if not c]
        take = limit + SLACK
        ids, scores, more = self.ranked(store, words, weights, top=take)
        hits = store.search.matching([(int(i), float(s)) for i, s in zip(ids, scores)], filters)
        if len(hits) < limit and more:  # many of the best rows are not active: rank them all, as FTS5 would
            ids, scores, _ = self.ranked(store, words, weights)
            hits = []
            for start in range(0, len(ids), take):
                hits += store.search.matching([(int(i), float(s)) for i, s in zip(ids[start:start + take],
                                                                                 scores[start:start + take])],
                                              filters)
                if len(hits) >= limit:
                    break
        return hits[:limit]

    def ranked(self, store: Any, tokens: Sequence[str], weights: tuple[float, float],
               top: int | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
        """The rows holding any of `tokens`, best first: (rowids, bm25 scores, whether rows were left out).
        With `top`, only the best `top` rows and any tied with the last of them."""
        self._refresh(store)
        if not self._rows or not tokens:
            return np.zeros(0, dtype=np.int64), np.zeros(0), False
        acc = np.zeros(len(self._lengths))
        hit = np.zeros(len(self._lengths), dtype=bool)
        for token in tokens:
            docs, in_text, in_context = self._posting(store, token)
            if not len(docs):
                continue
            n = len(docs)
            idf = math.log((self._rows - n + 0.5) / (n + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            freq = np.zeros(n)
            for counts, weight in ((in_text, weights[0]), (in_context, weights[1])):
                rows, k = np.flatnonzero(counts), 1
                while rows.size:  # one addition per occurrence, in FTS5's order: as much work as FTS5 does
                    freq[rows] += weight
                    k += 1
                    rows = rows[counts[rows] >= k]
            length = self._lengths[docs]
            acc[docs] += idf * ((freq * (K1 + 1.0)) / (freq + K1 * (1 - B + B * length / self._avgdl)))
            hit[docs] = True
        ids = np.flatnonzero(hit)
        scores = acc[ids]
        more = False
        if top is not None and len(ids) > top:  # a partial sort, then the few kept in full order
            cut = scores[np.argpartition(-scores, top - 1)[top - 1]]
            keep = scores >= cut
            more = not keep.all()
            ids, scores = ids[keep], scores[keep]
        order = np.lexsort((ids, -scores))
        return ids[order], scores[order], more

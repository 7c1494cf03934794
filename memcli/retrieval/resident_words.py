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

Ranked by score, then rowid, as Search.words orders; filters (a scope, tags, dates, statuses) keep the best rows
that pass, as FTS5's joined query does. The copy is dropped whenever the index may have changed (Lexicon.version:
another connection's commit, or any write of this one), so a forgotten memory is never found through it, and is
built again only once the index has stayed the same for two searches. FTS5 answers (None here) inside an open
change, on a read-only database, for query words it reads as several tokens, and when rowids are too sparse for
arrays indexed by them.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

K1, B = 1.2, 0.75
SLACK = 32  # as Search.words: rows taken past the limit so a few inactive memories cost no second pass
MAX_POSTINGS = 16_000_000  # postings kept at most (8 bytes each, 16 past 2**31 rowids); then the least recently used go
MAX_WORDS = 50_000  # query words whose tokens are kept
SPARSE = 4  # rowids this many times the rows (plus a million): a migrated or imported id space; FTS5 answers


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
        self._seen: tuple | None = None  # the index version the last search saw
        self._sparse = False  # rowids too far apart for arrays indexed by them

    def drop_if_stale(self, store: Any) -> None:
        if self._version is not None and store.lexicon.version() != self._version:
            self._postings.clear()
            self._kept = 0
            self._lengths = np.zeros(1)
            self._memories = None
            self._version = None

    def _settled(self, version: tuple) -> bool:
        """The copy is (re)built only once the index has stayed the same for two searches: reading it back
        costs more than one FTS5 search (65 ms of row lengths at 100k), so an agent that writes between every
        recall keeps FTS5's cost instead of paying a rebuild each time."""
        if version == self._version:
            return True
        settled = version == self._seen
        self._seen = version
        return settled

    def _refresh(self, store: Any, version: tuple | None = None) -> None:
        version = version or store.lexicon.version()
        if version != self._version:
            ids, lengths = store.lexicon.row_lengths()
            top = int(ids.max()) + 1 if len(ids) else 1
            self._sparse = top > SPARSE * len(ids) + 1_000_000  # arrays are indexed by rowid
            self._lengths = np.zeros(1 if self._sparse else top)
            if not self._sparse:
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
            if len(self._tokens) >= MAX_WORDS:
                self._tokens.clear()
            tokens = self._tokens[word] = store.lexicon.tokens(word)
        return tokens[0] if len(tokens) == 1 else None  # a phrase of several tokens needs positions: FTS5's

    def _posting(self, store: Any, token: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found = self._postings.get(token)
        if found is not None:
            self._postings.move_to_end(token)
            return found
        found = store.lexicon.postings(token)
        size = len(found[0]) + 1  # a word nobody used still holds an entry
        while self._postings and self._kept + size > MAX_POSTINGS:
            _, evicted = self._postings.popitem(last=False)  # the least recently searched word
            self._kept -= len(evicted[0]) + 1
        self._postings[token] = found
        self._kept += size
        return found

    def search(self, store: Any, terms: Sequence[str], filters: Any, limit: int, weights: tuple[float, float],
               prune_min_rows: int) -> list[tuple[int, float]] | None:
        """What recall.search_words returns (ubiquitous words dropped, then Search.words), or None when this
        search must go to FTS5."""
        if store.db.in_change or store.read_only or not store.lexicon.usable():
            return None  # read-only: even fts5vocab's temp table cannot be made under query_only
        tokens = [self._token(store, t) for t in terms]
        version = store.lexicon.version()
        if any(t is None for t in tokens) or not self._settled(version):
            return None
        self._refresh(store, version)
        if self._sparse:
            return None
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
        ids, scores, more = self._ranked(store, words, weights, top=None if filters.narrowing else take)
        if filters.narrowing:  # a scope, tags, dates: the best rows that pass, as FTS5's joined query finds them
            take = 4 * take
        hits: list[tuple[int, float]] = []
        start = 0
        while len(hits) < limit:
            if start >= len(ids):
                if not more:
                    break
                ids, scores, more = self._ranked(store, words, weights)  # the partial sort left rows out
                continue  # the rows before `start` are the same, in the same order
            end = min(start + take, len(ids))
            hits += store.search.matching([(int(i), float(s)) for i, s in zip(ids[start:end], scores[start:end])],
                                          filters)
            start = end
            take = min(8 * take, 20_000)  # few queries even when most of the best rows do not pass
        return hits[:limit]

    def _ranked(self, store: Any, tokens: Sequence[str], weights: tuple[float, float],
               top: int | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
        """The rows holding any of `tokens`, best first: (rowids, bm25 scores, whether rows were left out).
        With `top`, only the best `top` rows and any tied with the last of them. search() refreshes the copy
        first."""
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

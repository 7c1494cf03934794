"""Hybrid recall: full-text and vector candidates, fused by reciprocal rank, then re-weighted by priors (speaker
named, length, the question's dates), supersession and, on request, retention. The ranking lives here."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from ..changes import Op
from ..errors import InputError
from ..ingest.parse import require_utf8
from ..timeparse import to_iso
from ..types import Filters, Hit
from ..validate import query as check_query
from .fts_query import query_terms
from .fusion import rrf
from .priors import TimeProximity, length_factor, named_speaker
from .time_query import parse_time_query

if TYPE_CHECKING:
    from ..context import Context


def keep_vectors_resident(ctx: "Context", *, exact: bool = False, words: bool = True) -> None:
    """Search vectors from an in-memory copy (faster per query, costs a load and ~1.5 KB RAM per vector): for
    batch recall and servers, not for one-shot commands. From 20,000 vectors on, a binary-code shortlist is
    re-ranked exactly (resident.py); `exact` scores every vector instead. With `words`, the full-text half too:
    FTS5's postings of each query word, kept once read (resident_words.py; the same ranking as FTS5's)."""
    from .resident import ResidentVectors

    if ctx.resident is None or ctx.resident.exact != exact:
        ctx.resident = ResidentVectors(exact=exact)
    if words and ctx.resident_words is None:
        from .resident_words import ResidentWords

        ctx.resident_words = ResidentWords()
    elif not words:
        ctx.resident_words = None


def search_words(ctx: "Context", terms: list[str], filters: Filters, depth: int) -> list[tuple[int, float]]:
    """The full-text half of recall: (memory id, bm25) best first. Terms found in half of all memories are
    dropped first (their bm25 weight is nil; see Search.ubiquitous_terms) unless every term is one."""
    opts, store = ctx.recall_options, ctx.store
    if ctx.resident_words is not None:
        found = ctx.resident_words.search(store, terms, filters, depth, opts.fts_weights, opts.prune_min_rows)
        if found is not None:
            return found
    if len(terms) > 1:
        common = store.search.ubiquitous_terms(terms, opts.prune_min_rows)
        if len(common) < len(terms):
            terms = [t for t in terms if t not in common]
    return store.search.words(terms, filters, depth, opts.fts_weights) if terms else []


def recall(ctx: "Context", query: str, *, limit: int = 10, filters: Filters | None = None, touch: bool = True,
           fresh: bool = False, asked_at: datetime | None = None, rerank: bool = True) -> list[Hit]:
    """`fresh` weights each fused score by (0.5 + 0.5 × retention), so memories that are used and recent rank above
    stale ones of equal relevance. `asked_at` (default: now) is when the question is asked from: 'last week' and
    retention are read against it (a replayed conversation, a benchmark). `rerank=False` skips a configured
    reranker: what `forget --query` selects must not depend on a model's time budget."""
    if not query or not query.strip():
        raise InputError("empty query")
    require_utf8(query, "the query")
    check_query(query)
    if limit < 1:
        raise InputError("--limit must be at least 1")
    filters = filters or Filters()
    opts = ctx.recall_options
    store = ctx.store
    depth = max(opts.depth, limit)
    lists: dict[str, list[int]] = {}
    similarity: dict[int, float] = {}
    bm25: dict[int, float] = {}

    terms = query_terms(query)
    reranker = ctx.models.reranker if rerank else None  # loaded before the snapshot: a bad spec fails first
    query_vec = None
    if store.vectors.model() is not None:
        embedder = ctx.embedder
        store.vectors.check_model(embedder.model_id, embedder.dimension, getattr(embedder, "sha256", None))
        query_vec = embedder.embed_query(query)  # outside the snapshot: no lock held while the model runs
    # One read snapshot from search to records: a concurrent forget or consolidation cannot remove a hit
    # between finding it and reading it.
    with store.snapshot():
        if terms:
            fts = search_words(ctx, terms, filters, depth)
            lists["fts"] = [mid for mid, _ in fts]
            bm25 = dict(fts)
        if query_vec is not None and not (not lists.get("fts") and _noise(ctx, terms)):
            vec = store.search.nearest(query_vec, filters, depth, resident=ctx.resident)
            similarity = dict(vec)
            lists["vector"] = [mid for mid, sim in vec if sim >= opts.min_similarity]
        fused = rrf(lists, {"fts": opts.weight_fts, "vector": opts.weight_vector}, k=opts.rrf_k)
        _apply_priors(ctx, query, fused, asked_at or ctx.now())
        superseded = store.links.superseded_among([f.memory_id for f in fused])
        if superseded:  # history stays recallable, but current facts come first
            for f in fused:
                if f.memory_id in superseded:
                    f.score *= 0.5
            fused.sort(key=lambda f: -f.score)
        if fresh:
            from ..retention import retention

            now = asked_at or ctx.now()
            rows = {r.id: r for r in store.memories.retention_rows([f.memory_id for f in fused])}
            for f in fused:
                r = rows[f.memory_id]
                f.score *= 0.5 + 0.5 * retention(now, r.created_at, r.last_recalled_at, r.strength,
                                                 pinned=bool(r.pinned))
            fused.sort(key=lambda f: -f.score)
        if reranker is None:
            fused = fused[:limit]
        else:  # the texts the reranker reads, fetched in the snapshot; the model runs after it
            fused = fused[: max(limit, opts.rerank_depth)]
        records = store.memories.records([f.memory_id for f in fused])
    rerank_scores: dict[int, float] = {}
    if reranker is not None:
        from .rerank import rerank as second_stage

        fused, rerank_scores = second_stage(ctx, reranker, query, fused, records)
        fused = fused[:limit]
    hits = []
    for f in fused:
        rec = records[f.memory_id]
        hits.append(Hit(
            id=rec["id"], text=rec["text"], score=round(f.score, 6), kind=rec["kind"], scope=rec["scope"],
            speaker=rec["speaker"], tags=rec["tags"], occurred_at=rec["occurred_at"], created_at=rec["created_at"],
            sources=[{"source_id": s["source_id"], "message_id": s["message_id"]} for s in rec["sources"]],
            match={
                "fts_rank": f.ranks.get("fts"),
                "vector_rank": f.ranks.get("vector"),
                "similarity": None if f.memory_id not in similarity else round(similarity[f.memory_id], 4),
                "bm25": None if f.memory_id not in bm25 else round(bm25[f.memory_id], 4),
                **({"rerank": round(rerank_scores[f.memory_id], 4) if f.memory_id in rerank_scores else None}
                   if reranker is not None else {}),
            },
            flags=rec["flags"],
            valid_until=rec["valid_until"],
            expires_at=rec["expires_at"],
        ))
    if store.read_only:  # a backup on read-only media can be searched; the recall is just not recorded
        return hits
    from ..settings import recall_logging

    if (touch and hits) or recall_logging(ctx):
        # The query itself is not logged: a digest is enough to match accesses, and a logged query would keep
        # words of memories the user later forgets.
        with ctx.change(Op.RECALL, [h.id for h in hits],
                        {"query_sha256": hashlib.sha256(query.encode()).hexdigest(), "hits": len(hits),
                         "touched": touch}):
            if touch:
                store.memories.touch([h.id for h in hits], to_iso(ctx.now()))
    return hits


def _noise(ctx: "Context", terms: list[str]) -> bool:
    """No stored word matched the query (the caller checks), and one of its content words is letter noise to the
    embedding model: at least `noise_pieces` vocabulary pieces of under `noise_chars_per_piece` letters on average
    ('zzzqqq': 5 pieces of 1.2; a real word the model spells out, 'allergies' or 'kubernetes', has pieces of 2.5-3
    letters). Such a query asks about something memory has never seen, and its vector carries no meaning: cosines
    of 0.25-0.45 with anything (bench/abstain.py), above what real paraphrases score ('where do I live?' ~ 'I moved
    to Lisbon': 0.24), so a similarity floor cannot tell them apart; the words can. Abstain."""
    pieces = getattr(ctx.embedder, "word_pieces", None)
    if pieces is None or not terms:
        return False
    opts = ctx.recall_options
    for term in terms:
        n = pieces(term)
        if n >= opts.noise_pieces and len(term) / n < opts.noise_chars_per_piece:
            return True
    return False


def _apply_priors(ctx: "Context", query: str, fused: list, asked_at: datetime) -> None:
    """Re-weight fused candidates by speaker named, length and the question's dates; re-sort in place."""
    opts = ctx.recall_options
    if not fused or not (opts.speaker_boost or opts.length_exponent or opts.time_boost):
        return
    rows = ctx.store.memories.ranking_rows([f.memory_id for f in fused])
    speaker = named_speaker(query, (r.speaker for r in rows.values())) if opts.speaker_boost else None
    when = None
    if opts.time_boost:
        tq = parse_time_query(query, asked_at)
        # 1..9998: a yearless day is expanded over these years, and a span may end in the next year
        years = [min(max(int(r.occurred_at[:4]), 1), 9998) for r in rows.values()
                 if r.occurred_at and r.occurred_at[:4].isdigit()]
        if tq and years:
            when = TimeProximity(tq.iso_spans(min(years), max(years)), opts.time_boost, opts.time_pad_days)
    for f in fused:
        who, n_chars, occurred = rows[f.memory_id]
        f.score *= length_factor(n_chars, opts.length_exponent)
        if speaker is not None and who == speaker:
            f.score *= 1.0 + opts.speaker_boost
        if when is not None:
            f.score *= when.factor(occurred)
    fused.sort(key=lambda f: -f.score)

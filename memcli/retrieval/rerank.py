"""Recall's optional second stage: a cross-encoder re-orders the fused top N (models/reranker.py).

Off unless a reranker is configured: none ships on PyPI, and on the default install nothing could be measured to
pay for it (docs/ranking.md). It only ever permutes the candidates the first stage found, so it cannot bring in
what the filters, scopes or statuses left out. Failures and a spent time budget fall back to the first stage's
order: the pairs it scored come first in its order, the rest follow in the fused order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ingest.keys import labelled

if TYPE_CHECKING:
    from ..context import Context
    from ..types import Hit
    from .fusion import Fused


def best_first(hit: "Hit") -> tuple[int, float]:
    """Sort key that keeps recall's order when hits of several recalls are merged (one per agent scope): hits the
    reranker scored first, by its score (one model, one question: comparable across recalls), then the rest by
    the first stage's score."""
    scored = hit.match.get("rerank")
    return (0, -scored) if scored is not None else (1, -hit.score)


def rerank(ctx: "Context", reranker: Any, query: str, fused: "list[Fused]",
           records: dict[int, dict]) -> tuple["list[Fused]", dict[int, float]]:
    """(`fused` re-ordered, {memory id: reranker score}) for its first `rerank_depth` candidates."""
    opts = ctx.recall_options
    head = fused[: opts.rerank_depth]
    if not head:
        return fused, {}
    docs = [labelled(records[f.memory_id]["speaker"], records[f.memory_id]["text"]) for f in head]
    try:
        scores = reranker.score(query, docs, budget_s=opts.rerank_budget_s)
    except Exception as exc:  # a model that fails mid-way costs the rerank, never the recall
        if ctx.progress:
            ctx.progress(f"reranker failed, first-stage order kept: {exc}")
        return fused, {}
    scored = {f.memory_id: s for f, s in zip(head, scores) if s is not None}
    reached = [f for f in head if f.memory_id in scored]
    reached.sort(key=lambda f: -scored[f.memory_id])  # stable: ties keep the first stage's order
    rest = [f for f in fused if f.memory_id not in scored]
    return reached + rest, scored

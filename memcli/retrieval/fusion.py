"""Reciprocal-rank fusion (Cormack et al. 2009): score = sum over lists of w / (k + rank).

Ranks, not raw scores, are fused because BM25 and cosine live on incomparable scales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Fused:
    memory_id: int
    score: float
    ranks: dict[str, int] = field(default_factory=dict)


def rrf(lists: Mapping[str, Sequence[int]], weights: Mapping[str, float], k: float = 60.0) -> list[Fused]:
    """Fuse ranked id lists (best first). Ties keep the order of first appearance, so results are deterministic."""
    fused: dict[int, Fused] = {}
    for name, ids in lists.items():
        w = weights.get(name, 1.0)
        for rank, mid in enumerate(ids, 1):
            item = fused.setdefault(mid, Fused(mid, 0.0))
            item.score += w / (k + rank)
            item.ranks[name] = rank
    return sorted(fused.values(), key=lambda f: -f.score)

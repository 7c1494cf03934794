"""The types the library, its storage, the CLI and plugins share: inputs, filters, rows and results.

Every result turns into JSON the same way, through `Result.to_json`, so the CLI, the MCP server and Python callers
all print the same fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

DEFAULT_SCOPE = "default"
KINDS = ("episodic", "fact", "summary", "profile")  # what remember, extraction and consolidation write
STATUSES = ("active", "archived", "quarantined", "merged")


def to_json(value: Any) -> Any:
    """Plain JSON data from results: dataclasses become dicts, tuples lists, and mapping keys strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


class Result:
    """Base of every result type: one to_json for all."""

    def to_json(self) -> dict:
        out = to_json(self)
        assert isinstance(out, dict)
        return out


# -- inputs --------------------------------------------------------------------------------------------------------
@dataclass
class RawInput:
    """One thing to remember: bytes from a file or stdin (or a Spool for a large one), or a str from the command
    line."""

    origin: str
    data: Any  # bytes | str | memcli.ingest.stream.Spool


@dataclass
class Filters:
    """Which memories: recall filters and forget selections alike. Criteria combine with AND; times are
    ISO-8601 UTC strings compared as text, on the event time (or the creation time, with time_field).
    storage/filters.py turns them into SQL."""

    scope: str | None = None
    tags: Sequence[str] = ()
    kinds: Sequence[str] = ()
    since: str | None = None
    until: str | None = None
    ids: Sequence[int] = ()
    source_id: int | None = None
    time_field: str = "occurred_at"  # or created_at
    active_only: bool = True  # recall sees active memories; forget may select archived and quarantined ones

    @property
    def narrowing(self) -> bool:
        """Any criterion beyond the status: vector search then scans the filtered set exactly."""
        return bool(self.scope is not None or self.tags or self.kinds or self.since or self.until or self.ids
                    or self.source_id is not None)


@dataclass
class RecallOptions:
    """Ranking knobs; defaults chosen on the REALTALK tuning split (bench/realtalk.py)."""

    rrf_k: float = 40.0
    weight_fts: float = 1.0
    weight_vector: float = 0.75
    depth: int = 100  # candidates taken from each list before fusion
    fts_weights: tuple[float, float] = (1.0, 0.3)  # bm25 column weights: message, context
    min_similarity: float = 0.2  # vector-only candidates below this are not relevant (abstain)
    # A query no stored word matches, with a word the model reads as letter noise (this many pieces or more, of
    # under this many letters on average), asks about what memory never saw: no vector candidates (abstain.py)
    noise_pieces: int = 3
    noise_chars_per_piece: float = 1.8
    prune_min_rows: int = 5000  # from this size on, drop query terms in half of all memories (rank-preserving)
    # Priors on the fused score (retrieval/priors.py); 0 turns one off.
    speaker_boost: float = 0.25  # × (1 + this) for the turns of the one speaker a question names
    length_exponent: float = 0.3  # × (length / 60 chars) ^ this, for 60..240 characters
    time_boost: float = 0.6  # × (1 + this) inside a date the question names ('on 17.01.2024', 'in May')
    time_pad_days: float = 2.0  # ... fading to × 1 over this many days outside it
    # The second stage, when a reranker is configured (retrieval/rerank.py): how many fused candidates it
    # re-orders, and the seconds it may take before the rest keep the first stage's order.
    rerank_depth: int = 50
    rerank_budget_s: float = 2.0


@dataclass
class NewMemory:
    """A memory about to be written: its text and the keys it is found by."""

    kind: str
    text: str
    speaker: str | None
    scope: str
    occurred_at: str
    content_hash: str
    key_text: str
    context: str
    fts_text: str
    tags: list[str] = field(default_factory=list)
    strength: float = 1.0
    expires_at: str | None = None


# -- rows storage returns ------------------------------------------------------------------------------------------
class RankingRow(NamedTuple):
    """What recall's priors look at."""

    speaker: str | None
    n_chars: int
    occurred_at: str | None


class RetentionRow(NamedTuple):
    """What the forgetting curve looks at."""

    id: int
    created_at: str
    last_recalled_at: str | None
    strength: float
    pinned: int


class SummaryRef(NamedTuple):
    """A recorded day summary or profile."""

    memory_id: int
    scope: str
    period: str  # 'day' or 'profile'
    period_key: str


class Erasure(NamedTuple):
    """What one erasure removed or emptied, and the facts made current again (their correction was erased)."""

    erased_ids: list[int]
    derived_deleted: list[int]
    derived_stale: list[int]
    sources_deleted: list[int]
    sources_redacted: list[int]
    reinstated: list[int] = []


@dataclass
class AuditRecord(Result):
    id: int
    at: str
    actor: str
    op: str
    memory_ids: list[int]
    detail: dict
    hash: str


# -- results -------------------------------------------------------------------------------------------------------
@dataclass
class RememberResult(Result):
    created: list[int] = field(default_factory=list)
    existing: list[int] = field(default_factory=list)  # re-ingested content that was already stored
    sources: list[int] = field(default_factory=list)
    skipped_sources: list[int] = field(default_factory=list)
    messages: int = 0
    flagged: dict[int, list[dict]] = field(default_factory=dict)  # new memories the scanner flagged


@dataclass
class Hit(Result):
    id: int
    text: str
    score: float
    kind: str
    scope: str
    speaker: str | None
    tags: list[str]
    occurred_at: str
    created_at: str
    sources: list[dict]
    match: dict
    flags: list[dict] | None = None
    valid_until: str | None = None  # set on a fact a newer one superseded
    expires_at: str | None = None  # remember --expires


@dataclass
class ForgetResult(Result):
    ids: list[int]
    archived: bool = False
    derived_deleted: list[int] = field(default_factory=list)
    derived_stale: list[int] = field(default_factory=list)
    sources_deleted: list[int] = field(default_factory=list)
    sources_redacted: list[int] = field(default_factory=list)
    files_scrubbed: bool = True
    reinstated: list[int] = field(default_factory=list)  # superseded memories current again: their successor went


@dataclass
class ExtractResult(Result):
    proposed: int = 0
    accepted: list[int] = field(default_factory=list)
    rejected: int = 0
    reasons: dict = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)

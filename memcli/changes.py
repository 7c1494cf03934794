"""The one way to change state: `change(ctx, Op.X)` opens a (nested) transaction and writes exactly one audit record
in it, so a change and its record commit together or not at all.

    with change(ctx, Op.PIN, ids) as ch:
        ch.memory_ids = ctx.store.memories.set_pinned(ids, True)
        ch.detail["reason"] = "..."

The record names the operation (one of `Op`, a closed set the audit CLI, its help and docs are generated from), the
actor, the time from the context's clock, the memory ids and a JSON detail of ids and counts (never memory text).
A change that wrote nothing leaves no record (SQLite's change counter says whether it wrote), except the
operations in RECORDED_ALWAYS. Changes nest:
an inner change commits with the outer one and has its record of its own; an exception rolls back its own level.

Outside a change every write to memcli's tables is refused by SQLite (storage/database.py), so there is no way
around this. The one documented exception is in what is recorded, not in what may be written: a recall's
reinforcement (the `recall` access record) is recorded only while recall logging is on (`audit recall-log`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from .timeparse import to_iso

if TYPE_CHECKING:
    from .context import Context


class Op(str, Enum):
    """Every operation the audit log can name; OP_HELP says what each means (docs/audit.md is checked against it)."""

    REMEMBER = "remember"
    IMPORT = "import"
    FORGET = "forget"
    ARCHIVE = "archive"
    RESTORE = "restore"
    PIN = "pin"
    UNPIN = "unpin"
    SCAN = "scan"
    QUARANTINE = "quarantine"
    UPDATE = "update"
    DERIVE = "derive"
    EXTRACT = "extract"
    MERGE = "merge"
    SUMMARIZE = "summarize"
    SUPERSEDE = "supersede"
    CONSOLIDATE = "consolidate"
    REINDEX = "reindex"
    MODEL = "model"
    CONFIG = "config"
    RECALL = "recall"


OP_HELP: dict[Op, str] = {
    Op.REMEMBER: "new memories and sources from input; restated tags and importance on existing ones",
    Op.IMPORT: "memories, sources and messages from a memcli export",
    Op.FORGET: "memories erased, with what rested on them (detail: derived, sources deleted or redacted)",
    Op.ARCHIVE: "memories hidden from recall (reversible)",
    Op.RESTORE: "archived or quarantined memories made recallable again",
    Op.PIN: "memories protected from decay",
    Op.UNPIN: "pins removed",
    Op.SCAN: "scanner flags recomputed on stored memories",
    Op.QUARANTINE: "flagged memories kept out of recall",
    Op.UPDATE: "a memory corrected: a new memory supersedes it, the old one kept as history",
    Op.DERIVE: "a memory derived from others through the Python API",
    Op.EXTRACT: "grounded facts stored from a batch of memories (detail: proposed, accepted, rejected)",
    Op.MERGE: "near-duplicates merged into the memory they repeat",
    Op.SUMMARIZE: "a day summary or profile written, replacing the previous one",
    Op.SUPERSEDE: "older facts marked superseded by newer ones (kept as history)",
    Op.CONSOLIDATE: "a consolidation run finished (detail: its counts)",
    Op.REINDEX: "every vector recomputed with another embedding model",
    Op.MODEL: "the embedding model recorded for a new database",
    Op.CONFIG: "a setting changed (recall logging, the configured models)",
    Op.RECALL: "memories returned by a recall and reinforced (an access; off with 'audit recall-log off')",
}


# Recorded even when they wrote nothing: what an extraction batch proposed and rejected, and that a consolidation ran.
RECORDED_ALWAYS = frozenset({Op.EXTRACT, Op.CONSOLIDATE})


@dataclass
class Change:
    """What the record will say; the operation fills it in as it learns the ids."""

    op: Op
    memory_ids: list[int] = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    record_id: int | None = None  # set once written


@contextmanager
def change(ctx: "Context", op: Op, memory_ids: Iterable[int] = (), detail: dict | None = None) -> Iterator[Change]:
    """Open a change: a transaction (or savepoint) that ends with its audit record."""
    store = ctx.store
    db = store.db
    with db.atomic():
        before = db.total_changes()
        db.inner.append(0)  # what changes nested in this one write is theirs, records included
        db.created.append([])
        popped = False
        try:
            ch = Change(Op(op), [int(i) for i in memory_ids], dict(detail or {}))
            yield ch
            inner = db.inner.pop()
            created = db.created.pop()
            popped = True
            if created:  # what each new memory says, committed in the record (storage/seals.py)
                from .storage.seals import seals_of

                ch.detail["seals"] = {str(k): v for k, v in sorted(seals_of(db, created).items())}
            wrote = db.total_changes() - before - inner > 0 or ch.op in RECORDED_ALWAYS
            if ch.op is Op.RECALL:
                from .settings import recall_logging

                wrote = recall_logging(ctx)
            if wrote:
                ch.record_id = store.audit.append(at=to_iso(ctx.now()), actor=ctx.actor, op=ch.op.value,
                                                  memory_ids=ch.memory_ids, detail=ch.detail)
        finally:
            if not popped:
                db.inner.pop()
                db.created.pop()
            if db.inner:  # the enclosing change counts everything this one wrote as nested
                db.inner[-1] += db.total_changes() - before
    if not db.in_change:  # committed: in-memory copies of what it changed go now, not at their next search
        ctx.drop_stale_copies()

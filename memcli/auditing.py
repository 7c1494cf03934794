"""Reading the audit trail: the log, the story of one memory, chain verification and statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .changes import Op
from .errors import InputError
from .timeparse import option_time
from .types import AuditRecord

if TYPE_CHECKING:
    from .context import Context


def audit_log(ctx: "Context", *, op: str | None = None, since: str | None = None, memory_id: int | None = None,
              limit: int | None = None) -> list[AuditRecord]:
    if op is not None and op not in {o.value for o in Op}:
        raise InputError(f"unknown operation {op!r}; choose one of {', '.join(o.value for o in Op)}")
    return ctx.store.audit.records(op=op, since=option_time(since, "since"), memory_id=memory_id, limit=limit)


def audit_verify(ctx: "Context") -> dict:
    checked, broken, reason, last_hash = ctx.store.audit.verify()
    return {"records": checked, "ok": broken is None, "first_broken": broken, "reason": reason,
            "last_hash": last_hash}


def audit_show(ctx: "Context", memory_id: int) -> dict:
    """Everything known about one memory: its row, verbatim evidence, links and every audit record."""
    store = ctx.store
    row = store.memories.row(memory_id)
    records = [r.to_json() for r in store.audit.records(memory_id=memory_id)]
    if row is None:
        if not records:
            raise InputError(f"no memory with id {memory_id}, and no audit record mentions it")
        return {"id": memory_id, "exists": False, "audit": records}
    row.pop("key_text", None)
    row["flags"] = json.loads(row["flags"]) if row.get("flags") else None
    rec = store.memories.records([memory_id])[memory_id]
    links = store.links.of(memory_id)
    return {"id": memory_id, "exists": True, "memory": {**row, "tags": rec["tags"]},
            "evidence": store.sources.evidence(memory_id),
            "links": {"out": [{"relation": r, "memory_id": t} for r, t in links["out"]],
                      "in": [{"relation": r, "memory_id": t} for r, t in links["in"]]},
            "audit": records}


def audit_stats(ctx: "Context") -> dict:
    from .maintenance import stats
    from .settings import recall_logging

    stats_ = {**stats(ctx), **ctx.store.maintenance.stats_by()}
    path = ctx.db_path
    size = 0
    for suffix in ("", "-wal", "-shm") if path else ():
        p = Path(str(path) + suffix)
        if p.exists():
            size += p.stat().st_size
    stats_["database"] = str(path)
    stats_["database_bytes"] = size
    stats_["log_recalls"] = recall_logging(ctx)
    return stats_

"""Reading the audit trail: the log, the story of one memory, chain verification and statistics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import validate
from .changes import Op
from .storage.seals import broken_seal
from .errors import InputError, NotFound
from .timeparse import option_time
from .types import AuditRecord

if TYPE_CHECKING:
    from .context import Context


def audit_log(ctx: "Context", *, op: str | None = None, since: str | None = None, memory_id: int | None = None,
              limit: int | None = None) -> list[AuditRecord]:
    if op is not None and op not in {o.value for o in Op}:
        raise InputError(f"unknown operation {op!r}; choose one of {', '.join(o.value for o in Op)}")
    if memory_id is not None:
        validate.memory_id(memory_id)
    return ctx.store.audit.records(op=op, since=option_time(since, "since"), memory_id=memory_id, limit=limit)


def audit_verify(ctx: "Context", expect_hash: str | None = None) -> dict:
    """The chain, the memory index, the append-only triggers, a record for every stored memory, and (given the
    last hash saved somewhere else, e.g. consolidate's cron log) that no record after it was cut off."""
    audit = ctx.store.audit
    if expect_hash is not None and (len(expect_hash.strip()) < 16
                                    or any(c not in "0123456789abcdefABCDEF" for c in expect_hash.strip())):
        raise InputError("--expect-hash takes the last hash audit verify printed (at least its first 16 hex "
                         "digits)")
    with ctx.store.snapshot():
        checked, broken, reason, last_hash = audit.verify()
        if broken is None:
            missing = audit.missing_guards()
            orphan = audit.unrecorded_memory()
            if missing:
                reason = f"the append-only triggers are gone ({', '.join(missing)}): the log could have been edited"
            elif orphan is not None:
                reason = (f"memory {orphan} has no audit record: the log was emptied or its newest records cut off"
                          if checked else "the log is empty but the database holds memories")
            elif (edited := broken_seal(ctx.store.db, audit.seals())) is not None:
                reason = (f"memory {edited} does not say what its audit record sealed: its row was edited outside "
                          "memcli")
            elif expect_hash and not audit.has_hash(expect_hash.strip().lower()):
                reason = (f"the saved hash {expect_hash.strip()[:16]}… is not in the log: records were cut off or "
                          "rewritten since it was saved")
    ok = broken is None and reason == "ok"
    return {"records": checked, "ok": ok, "first_broken": broken, "reason": reason, "last_hash": last_hash}


def audit_show(ctx: "Context", memory_id: int) -> dict:
    """Everything known about one memory: its row, verbatim evidence, links and every audit record."""
    validate.memory_id(memory_id)
    store = ctx.store
    row = store.memories.row(memory_id)
    records = [r.to_json() for r in store.audit.records(memory_id=memory_id)]
    if row is None:
        if not records:
            raise NotFound(f"no memory with id {memory_id}, and no audit record mentions it")
        return {"id": memory_id, "exists": False, "audit": records}
    row.pop("key_text", None)
    from .storage.memories import read_flags

    row["flags"] = read_flags(row.get("flags"))
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
    size = ctx.store.maintenance.size_bytes() or 0
    for suffix in ("", "-wal", "-shm") if path else ():
        p = Path(str(path) + suffix)
        if p.exists():
            size += p.stat().st_size
    stats_["database"] = ctx.shown
    stats_["database_bytes"] = size
    stats_["log_recalls"] = recall_logging(ctx)
    return stats_

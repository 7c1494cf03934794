"""Reading the audit trail: log, the story of one memory, chain verification, stats, and the content scanner."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError
from .timeparse import now_utc, option_time, to_iso

META_LOG_RECALLS = "log_recalls"
ENV_LOG_RECALLS = "MEMCLI_LOG_RECALLS"


class AuditMixin:
    def recall_logging(self) -> bool:
        """Recalls are logged as accesses unless turned off ($MEMCLI_LOG_RECALLS=0 or `audit recall-log off`)."""
        env = os.environ.get(ENV_LOG_RECALLS)
        if env is not None:
            return env.strip().lower() not in ("0", "off", "false", "no")
        return self.store.meta(META_LOG_RECALLS) != "0"

    def set_recall_logging(self, on: bool) -> None:
        store = self.store
        with store.transaction():
            store.set_meta(META_LOG_RECALLS, "1" if on else "0")
            store.audit.append(at=to_iso(now_utc()), actor=self.actor, op="config", memory_ids=[],
                               detail={"log_recalls": on})

    def audit_log(self, *, op: str | None = None, since: str | None = None, memory_id: int | None = None,
                  limit: int | None = None) -> list:
        return self.store.audit.records(op=op, since=option_time(since, "since"), memory_id=memory_id, limit=limit)

    def audit_verify(self) -> dict:
        checked, broken, reason, last_hash = self.store.audit.verify()
        return {"records": checked, "ok": broken is None, "first_broken": broken, "reason": reason,
                "last_hash": last_hash}

    def audit_show(self, memory_id: int) -> dict:
        """Everything known about one memory: its row, verbatim evidence, links and every audit record."""
        store = self.store
        row = store.memory_row(memory_id)
        records = [r.to_json() for r in store.audit.records(memory_id=memory_id)]
        if row is None:
            if not records:
                raise InputError(f"no memory with id {memory_id}, and no audit record mentions it")
            return {"id": memory_id, "exists": False, "audit": records}
        import json

        row.pop("key_text", None)
        row["flags"] = json.loads(row["flags"]) if row.get("flags") else None
        rec = store.memories([memory_id])[memory_id]
        links = store.links(memory_id)
        return {"id": memory_id, "exists": True, "memory": {**row, "tags": rec["tags"]},
                "evidence": store.message_evidence(memory_id),
                "links": {"out": [{"relation": r, "memory_id": t} for r, t in links["out"]],
                          "in": [{"relation": r, "memory_id": t} for r, t in links["in"]]},
                "audit": records}

    def audit_stats(self) -> dict:
        store = self.store
        stats = {**self.stats(), **store.stats_by()}
        path = self.db_path
        size = 0
        for suffix in ("", "-wal", "-shm") if path else ():
            p = Path(str(path) + suffix)
            if p.exists():
                size += p.stat().st_size
        stats["database"] = str(path)
        stats["database_bytes"] = size
        stats["log_recalls"] = self.recall_logging()
        return stats

    def scan_memories(self, *, quarantine: bool = False) -> list[dict]:
        """Re-scan every stored memory; update flags; optionally quarantine flagged active ones."""
        from .scan import scan

        store = self.store
        flagged = []
        now = to_iso(now_utc())
        with store.transaction():
            for batch in store.active_texts():
                for mid, text, status in batch:
                    findings = [f.to_json() for f in scan(text)]
                    store.set_flags(mid, findings or None)
                    if findings:
                        flagged.append({"id": mid, "status": status, "findings": findings})
            if quarantine:
                ids = store.set_status([f["id"] for f in flagged], "quarantined", only_from=("active",))
                for f in flagged:
                    if f["id"] in ids:
                        f["status"] = "quarantined"
                if ids:
                    store.audit.append(at=now, actor=self.actor, op="quarantine", memory_ids=ids,
                                       detail={"rules": sorted({x["rule"] for f in flagged if f["id"] in ids
                                                                for x in f["findings"]})})
        return flagged

"""Re-scanning stored memories with the scanner (scan.py), and quarantining what it flags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .changes import Op
from .scan import scan

if TYPE_CHECKING:
    from .context import Context


def scan_memories(ctx: "Context", *, quarantine: bool = False) -> list[dict]:
    """Re-scan every stored memory and update its flags (one `scan` change, recorded when a flag changed);
    with `quarantine`, flagged active memories then leave recall (one `quarantine` change)."""
    store = ctx.store
    flagged: list[dict[str, Any]] = []
    with ctx.change(Op.SCAN) as ch:
        updated = []
        for batch in store.memories.texts():
            for mid, text, status in batch:
                findings = [f.to_json() for f in scan(text)]
                if store.memories.set_flags(mid, findings or None):
                    updated.append(mid)
                if findings:
                    flagged.append({"id": mid, "status": status, "findings": findings})
        ch.memory_ids, ch.detail = updated, {"flags_changed": len(updated), "flagged": len(flagged)}
    if quarantine:
        with ctx.change(Op.QUARANTINE) as q:
            ids = store.memories.set_status([f["id"] for f in flagged], "quarantined", only_from=("active",))
            for f in flagged:
                if f["id"] in ids:
                    f["status"] = "quarantined"
            q.memory_ids = ids
            q.detail = {"rules": sorted({x["rule"] for f in flagged if f["id"] in ids for x in f["findings"]})}
    return flagged

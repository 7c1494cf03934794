"""`consolidate`: the maintenance pass cron runs. Idempotent and incremental (only memories newer than the last
run, tracked in the database), one run at a time (a file lock), short transactions so remember/recall go on.

Steps in this version:
1. near-duplicates: a new episodic memory whose vector is within cosine 0.97 of an older active one in the same
   scope, from the same speaker, is merged into it (status 'merged', a merged_into link, its provenance moved onto
   the kept memory). Exact duplicates never get this far: remember already stores them once.
2. day summaries: for each (scope, day) that received memories, an extractive summary — the most central messages
   of the day in time order — stored as a `summary` memory derived from all of that day's memories, and rebuilt
   when the day changes or when a forget marks it stale.
3. decay: memories whose retention fell below the threshold are counted (removal is `forget --decayed`).
Generated (LLM) summaries, the profile and supersession of contradicted facts are not done yet.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .timeparse import now_utc, option_time, to_iso

META_LAST_ID = "consolidated_through_id"
NEAR_DUPLICATE = 0.97
SUMMARY_SENTENCES = 5
SUMMARY_MIN_MEMORIES = 3


@contextmanager
def _exclusive(lock_path: Path):
    """Yields True when this process holds the lock, False when another consolidation does."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def extractive_summary(members: list[dict], vectors: dict[int, np.ndarray], limit: int = SUMMARY_SENTENCES) -> str:
    """The `limit` most central messages (closest to the day's mean vector), kept in time order."""
    with_vec = [m for m in members if m["id"] in vectors]
    if len(with_vec) > limit:
        mat = np.stack([vectors[m["id"]] for m in with_vec])
        centre = mat.mean(axis=0)
        scores = mat @ centre
        chosen = {with_vec[i]["id"] for i in np.argsort(-scores)[:limit]}
        members = [m for m in members if m["id"] in chosen]
    parts = [f"{m['speaker']}: {m['text']}" if m["speaker"] else m["text"] for m in members[:limit]]
    return " / ".join(" ".join(p.split())[:240] for p in parts)


class ConsolidateMixin:
    def consolidate(self, *, scope: str | None = None, since: str | None = None, dry_run: bool = False,
                    decay_threshold: float | None = None, progress=None) -> dict:
        path = self.path if isinstance(self.path, Path) else None
        from .paths import default_db_path

        lock = Path(str(path or default_db_path()) + ".consolidate.lock")
        with _exclusive(lock) as held:
            if not held:
                return {"skipped": "another consolidation is running"}
            return self._consolidate(scope, option_time(since, "since"), dry_run, decay_threshold, progress)

    def _consolidate(self, scope, since, dry_run, decay_threshold, progress) -> dict:
        store = self.store
        last_id = int(store.meta(META_LAST_ID) or 0)
        high_water = store.max_memory_id()
        new = store.episodic_since(last_id, scope, since)
        report = {"new_memories": len(new), "merged": [], "summaries_written": [], "summaries_regenerated": 0,
                  "decayed": 0, "dry_run": dry_run}
        # 1. near-duplicates
        from .storage.store import Filters

        vectors = store.memory_vectors([m["id"] for m in new])
        merges = []
        for i, m in enumerate(new):
            vec = vectors.get(m["id"])
            if vec is not None:
                for other, sim in store.search_vectors(vec, Filters(scope=m["scope"]), 5):
                    if other < m["id"] and sim >= NEAR_DUPLICATE:
                        row = store.memory_row(other)
                        if row and row["speaker"] == m["speaker"] and row["kind"] == "episodic":
                            merges.append((m["id"], other))
                            break
            if progress:
                progress(i + 1, len(new))
        report["merged"] = [{"merged": a, "into": b} for a, b in merges]
        # 2. day summaries for touched days, and stale ones
        days = {(m["scope"], m["occurred_at"][:10]) for m in new}
        stale = store.stale_summaries(scope)
        days |= {(s, key) for _mid, s, key in stale}
        report["decayed"] = self._count_decayed(decay_threshold)
        if dry_run:
            report["summaries_written"] = sorted(f"{s}/{d}" for s, d in days)
            return report
        now = to_iso(now_utc())
        with store.transaction():
            for dup, keep in merges:
                store.merge_into(dup, keep)
            if merges:
                store.audit.append(at=now, actor=self.actor, op="merge", memory_ids=[x for p in merges for x in p],
                                   detail={"pairs": [[a, b] for a, b in merges]})
        for s, day in sorted(days):
            written = self._summarize_day(s, day)
            if written:
                report["summaries_written"].append(f"{s}/{day}")
        report["summaries_regenerated"] = len(stale)
        with store.transaction():
            store.set_meta(META_LAST_ID, str(max(high_water, last_id)))
            store.audit.append(at=to_iso(now_utc()), actor=self.actor, op="consolidate", memory_ids=[],
                               detail={k: (len(v) if isinstance(v, list) else v) for k, v in report.items()})
        return report

    def _summarize_day(self, scope: str, day: str) -> bool:
        store = self.store
        members = store.day_members(scope, day)
        old = store.summary_for(scope, "day", day)
        if len(members) < SUMMARY_MIN_MEMORIES:
            if old is not None:
                self.forget([old])
            return False
        text = f"{day}: " + extractive_summary(members, store.memory_vectors([m["id"] for m in members]))
        if old is not None:
            row = store.memory_row(old)
            if row and row["text"] == text and not row["stale"]:
                return False
            self.forget([old])  # derived only: erasing it touches no user text
        new_id = self.derive("summary", text, [m["id"] for m in members], scope=scope, audit=False)
        with store.transaction():
            store.record_summary(new_id, scope, "day", day)
        return True

    def _count_decayed(self, threshold: float | None) -> int:
        from .retention import DEFAULT_THRESHOLD, retention

        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        now = now_utc()
        rows = self.store.retention_rows(self.store.select_ids(_all_active()))
        return sum(1 for _mid, created, last, strength, pinned in rows
                   if not pinned and retention(now, created, last, strength) < limit)


def _all_active():
    from .storage.store import Selection

    return Selection()


def cron_line(db: Path | None, schedule: str = "17 3 * * *") -> str:
    """A crontab entry with absolute paths: nightly at 03:17, logging to the cache dir."""
    import shutil
    import sys

    from .paths import cache_dir

    exe = shutil.which("memcli") or f"{sys.executable} -m memcli"
    db_arg = f" --db {Path(db).expanduser().resolve()}" if db else ""
    log = cache_dir() / "consolidate.log"
    return f"{schedule} {exe}{db_arg} --actor cron consolidate >> {log} 2>&1"



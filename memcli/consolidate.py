"""`consolidate`: the maintenance pass cron runs. Idempotent and incremental (only memories newer than the last
run, tracked in the database), one run at a time (a file lock), short transactions so remember/recall go on.

Steps in this version:
1. near-duplicates: a new episodic memory that says the same words as an older active one (case and punctuation
   aside; found by a cosine of 0.97 or more) in the same scope, from the same speaker, about the same day, is merged
   into it (status 'merged', a merged_into link, its provenance moved onto the kept memory). Exact duplicates never
   get this far: remember already stores them once.
2. day summaries: for each (scope, day) that received memories, an extractive summary — the most central messages
   of the day in time order — stored as a `summary` memory derived from all of that day's memories, and rebuilt
   when the day changes or when a forget marks it stale.
3. profile: per scope, an extractive `profile` memory of the most recent first-person self-descriptions
   ("I live…", "I work…", "I love…"), rebuilt when they change.
4. updates: a newer fact with the same opening (its first three words, e.g. "Ana lives in") and a different
   ending supersedes the older one: the older gets `valid_until` and a superseded_by link, stays stored, and
   recall ranks it below current facts. A crude rule that needs short, well-formed facts (an instruction-tuned
   generator); it never deletes anything.
5. with `llm=True` only: the generator proposes facts for the new memories (grounded as in `remember --extract`)
   and drafts each day summary; a drafted sentence is kept only if it passes the same lexical grounding check
   against the day's messages, and a day whose draft keeps nothing falls back to the extractive summary.
   Off by default: with the default 270M model extraction costs about 55 minutes per 1,000 messages for almost
   nothing kept.
6. decay: memories whose retention fell below the threshold are counted (removal is `forget --decayed`).
"""

from __future__ import annotations

import fcntl
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .ingest.keys import labelled
from .timeparse import now_utc, option_time, to_iso

META_LAST_ID = "consolidated_through_id"
NEAR_DUPLICATE = 0.97
SUMMARY_SENTENCES = 5
SUMMARY_MIN_MEMORIES = 3
PROFILE_ITEMS = 8
SUMMARY_SHOT = """Messages:
Tom: We finally bought the blue house on Elm Street.
Sue: Congrats! When do you move?
Tom: In June, right after my daughter's graduation.
Summary: Tom bought the blue house on Elm Street. Tom moves in June, after his daughter's graduation.

"""
SELF_WORDS = ("i'm", "i am", "i live", "i work", "i love", "i like", "i prefer", "i hate", "i have", "my name",
              "i moved", "i grew up", "i study")


@dataclass
class _Rebuild:
    scope: str
    period: str  # 'day' or 'profile'
    key: str
    old: int | None  # the summary it replaces
    text: str | None  # None: drop the old one, write nothing
    members: list[int]


def _report(new_memories: int, dry_run: bool) -> dict:
    return {"new_memories": new_memories, "merged": [], "summaries_written": [], "summaries_regenerated": 0,
            "profiles_written": [], "superseded": [], "facts_accepted": 0, "decayed": 0, "dry_run": dry_run}


_WORDS = re.compile(r"\w+")


def same_telling(a: dict, b: dict) -> bool:
    """The same words (case, punctuation and spacing aside) about the same day. A cosine of 0.97 alone also joins
    'the meeting is at 3pm' with its correction 'at 4pm', and the same swim told of 1 June and of 1 July: merging
    those would hide a newer value or an event behind an older one."""
    return ((a["occurred_at"] or "")[:10] == (b["occurred_at"] or "")[:10]
            and _WORDS.findall(a["text"].lower()) == _WORDS.findall(b["text"].lower()))


@contextmanager
def _exclusive(lock_path: Path | None):
    """Yields True when this process holds the lock, False when another consolidation does.
    No path (an in-memory database) means no other process can reach it: nothing to lock."""
    if lock_path is None:
        yield True
        return
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
    parts = [labelled(m["speaker"], m["text"]) for m in members[:limit]]
    return " / ".join(" ".join(p.split())[:240] for p in parts)


class ConsolidateMixin:
    def consolidate(self, *, scope: str | None = None, since: str | None = None, dry_run: bool = False,
                    decay_threshold: float | None = None, llm: bool = False, progress=None) -> dict:
        lock = Path(str(self.db_path) + ".consolidate.lock") if self.db_path else None
        if self.store.read_only:  # a dry run may read a read-only database; it needs no lock file either
            if not dry_run:
                self.store.require_writable()
            lock = None
        with _exclusive(lock) as held:
            if not held:  # the usual keys, empty, so a script reading --json needs no special case
                return {**_report(0, dry_run), "skipped": "another consolidation is running"}
            return self._consolidate(scope, option_time(since, "since"), dry_run, decay_threshold, llm, progress)

    def _consolidate(self, scope, since, dry_run, decay_threshold, llm, progress) -> dict:
        store = self.store
        last_id = int(store.meta(META_LAST_ID) or 0)
        high_water = store.max_memory_id()
        new = store.episodic_since(last_id, scope, since)
        report = _report(len(new), dry_run)
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
                        if (row and row["speaker"] == m["speaker"] and row["kind"] == "episodic"
                                and same_telling(row, m)):
                            merges.append((m["id"], other))
                            break
            if progress:
                progress(i + 1, len(new))
        report["merged"] = [{"merged": a, "into": b} for a, b in merges]
        # 2. day summaries for touched days, and stale ones
        days = {(m["scope"], m["occurred_at"][:10]) for m in new}
        stale = store.stale_summaries(scope)
        days |= {(s, key) for _mid, s, period, key in stale if period == "day"}
        profile_scopes = {m["scope"] for m in new} | {s for _mid, s, period, _k in stale if period == "profile"}
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
        plans = [p for p in (self._plan_day(s, day, llm) for s, day in sorted(days)) if p]
        report["summaries_regenerated"] = len(stale)
        if llm and new:
            active_new = [m["id"] for m in new if m["id"] not in {a for a, _ in merges}]
            report["facts_accepted"] = len(self.extract_facts(active_new).accepted)
        plans += [p for p in (self._plan_profile(s) for s in sorted(profile_scopes)) if p]
        self._apply_rebuilds(plans)
        report["summaries_written"] = [f"{p.scope}/{p.key}" for p in plans if p.period == "day" and p.text]
        report["profiles_written"] = [p.scope for p in plans if p.period == "profile" and p.text]
        report["superseded"] = self._supersede(scope)
        with store.transaction():
            if scope is None and since is None:  # a narrowed run did not look at everything up to high_water
                store.set_meta(META_LAST_ID, str(max(high_water, last_id)))
            store.audit.append(at=to_iso(now_utc()), actor=self.actor, op="consolidate", memory_ids=[],
                               detail={k: (len(v) if isinstance(v, list) else v) for k, v in report.items()})
        return report

    def _plan_rebuild(self, scope: str, period: str, key: str, text: str | None,
                      members: list[int]) -> _Rebuild | None:
        """What to do with one summary or profile: nothing when its text is unchanged and not stale."""
        old = self.store.summary_for(scope, period, key)
        if old is not None and text is not None:
            row = self.store.memory_row(old)
            if row and row["text"] == text and not row["stale"]:
                return None
        if old is None and text is None:
            return None
        return _Rebuild(scope, period, key, old, text, members)

    def _apply_rebuilds(self, plans: list[_Rebuild]) -> None:
        """New summaries first, each recorded in place of the old one; then the replaced ones go in one erasure
        (one audit record, one WAL truncation). Erasing first lost a day's summary for good when the run stopped
        in between (the day was no longer new, nor its summary stale); now a stop leaves at worst a duplicate."""
        for p in plans:
            if p.text:
                new_id = self.derive("summary" if p.period == "day" else "profile", p.text, p.members,
                                     scope=p.scope, audit=False)
                with self.store.transaction():
                    self.store.record_summary(new_id, p.scope, p.period, p.key)
        old = [p.old for p in plans if p.old is not None]
        if old:
            self.forget(old)

    def _plan_day(self, scope: str, day: str, llm: bool = False) -> _Rebuild | None:
        store = self.store
        members = store.day_members(scope, day)
        if len(members) < SUMMARY_MIN_MEMORIES:
            return self._plan_rebuild(scope, "day", day, None, [])
        body = self._drafted_summary(members) if llm else ""
        text = f"{day}: " + (body or extractive_summary(members, store.memory_vectors([m["id"] for m in members])))
        return self._plan_rebuild(scope, "day", day, text, [m["id"] for m in members])

    def _drafted_summary(self, members: list[dict]) -> str:
        """Generator draft, kept sentence by sentence only where the day's messages support it."""
        import re

        from .extract import check_grounding

        labels = [labelled(m["speaker"], m["text"]) for m in members]
        lines = "\n".join(" ".join(label.split())[:300] for label in labels[:40])
        draft = self.generator.complete(SUMMARY_SHOT + f"Messages:\n{lines}\nSummary:", max_tokens=120,
                                        stop=["\n\n", "Messages:"], deadline_s=60)
        kept = [s.strip() for s in re.split(r"(?<=[.!?])\s+", draft.strip())
                if len(s.split()) >= 3 and check_grounding(s, labels)[0]]
        return " ".join(kept)

    def _plan_profile(self, scope: str) -> _Rebuild | None:
        items = list(reversed(self.store.self_statements(scope, SELF_WORDS, PROFILE_ITEMS)))
        if not items:
            return self._plan_rebuild(scope, "profile", "", None, [])
        text = f"Profile ({scope}): " + " / ".join(
            " ".join(labelled(m["speaker"], m["text"]).split())[:200] for m in items)
        return self._plan_rebuild(scope, "profile", "", text, [m["id"] for m in items])

    def _supersede(self, scope: str | None) -> list[dict]:
        store = self.store
        latest: dict[tuple[str, tuple[str, ...]], dict] = {}
        pairs = []
        for fact in store.facts(scope):
            words = fact["text"].lower().rstrip(".!").split()
            if len(words) < 4 or len(words) > 12:
                continue
            key = (fact["scope"], tuple(words[:3]))
            prev = latest.get(key)
            if prev is not None and prev["text"].lower().rstrip(".!") != fact["text"].lower().rstrip(".!"):
                pairs.append((prev, fact))
            latest[key] = fact
        if not pairs:
            return []
        now = to_iso(now_utc())
        with store.transaction():
            for old, new in pairs:
                store.supersede(old["id"], new["id"], new["occurred_at"])
            store.audit.append(at=now, actor=self.actor, op="supersede",
                               memory_ids=[x["id"] for p in pairs for x in p],
                               detail={"pairs": [[o["id"], n["id"]] for o, n in pairs]})
        return [{"old": o["id"], "new": n["id"]} for o, n in pairs]

    def _count_decayed(self, threshold: float | None) -> int:
        from .storage.store import Filters

        return len(self.decayed_among(self.store.select_ids(Filters(active_only=True)), threshold))

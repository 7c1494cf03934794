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

from typing import TYPE_CHECKING

import numpy as np

from .changes import Op
from .ingest.keys import labelled
from .timeparse import option_time, to_iso
from .types import Filters

if TYPE_CHECKING:
    from .context import Context

META_LAST_ID = "consolidated_through_id"
META_LAST_RUN = "consolidated_at"
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


def consolidate(ctx: "Context", *, scope: str | None = None, since: str | None = None, dry_run: bool = False,
                decay_threshold: float | None = None, llm: bool = False, progress=None) -> dict:
    lock = Path(str(ctx.db_path) + ".consolidate.lock") if ctx.db_path else None
    if ctx.store.read_only:  # a dry run may read a read-only database; it needs no lock file either
        if not dry_run:
            ctx.store.require_writable()
        lock = None
    with _exclusive(lock) as held:
        if not held:  # the usual keys, empty, so a script reading --json needs no special case
            return {**_report(0, dry_run), "skipped": "another consolidation is running"}
        return _consolidate(ctx, scope, option_time(since, "since"), dry_run, decay_threshold, llm, progress)


def _consolidate(ctx: "Context", scope, since, dry_run, decay_threshold, llm, progress) -> dict:
    store = ctx.store
    last_id = int(store.meta.get(META_LAST_ID) or 0)
    high_water = store.memories.max_id()
    new = store.memories.episodic_since(last_id, scope, since)
    report = _report(len(new), dry_run)
    # 1. near-duplicates
    vectors = store.vectors.first_of([m["id"] for m in new])
    merges = []
    for i, m in enumerate(new):
        vec = vectors.get(m["id"])
        if vec is not None:
            for other, sim in store.search.nearest(vec, Filters(scope=m["scope"]), 5):
                if other < m["id"] and sim >= NEAR_DUPLICATE:
                    row = store.memories.row(other)
                    if (row and row["speaker"] == m["speaker"] and row["kind"] == "episodic"
                            and same_telling(row, m)):
                        merges.append((m["id"], other))
                        break
        if progress:
            progress(i + 1, len(new))
    report["merged"] = [{"merged": a, "into": b} for a, b in merges]
    # 2. day summaries for touched days, and stale ones
    days = {(m["scope"], m["occurred_at"][:10]) for m in new}
    stale = store.summaries.stale(scope)
    days |= {(s.scope, s.period_key) for s in stale if s.period == "day"}
    profile_scopes = {m["scope"] for m in new} | {s.scope for s in stale if s.period == "profile"}
    report["decayed"] = _count_decayed(ctx, decay_threshold)
    if dry_run:
        report["summaries_written"] = sorted(f"{s}/{d}" for s, d in days)
        return report
    if merges:
        with ctx.change(Op.MERGE, [x for p in merges for x in p], {"pairs": [[a, b] for a, b in merges]}):
            for dup, keep in merges:
                store.links.merge_into(dup, keep)
    plans = [p for p in (_plan_day(ctx, s, day, llm) for s, day in sorted(days)) if p]
    report["summaries_regenerated"] = len(stale)
    if llm and new:
        from .extract import extract_facts

        active_new = [m["id"] for m in new if m["id"] not in {a for a, _ in merges}]
        report["facts_accepted"] = len(extract_facts(ctx, active_new).accepted)
    plans += [p for p in (_plan_profile(ctx, s) for s in sorted(profile_scopes)) if p]
    _apply_rebuilds(ctx, plans)
    report["summaries_written"] = [f"{p.scope}/{p.key}" for p in plans if p.period == "day" and p.text]
    report["profiles_written"] = [p.scope for p in plans if p.period == "profile" and p.text]
    report["superseded"] = _supersede(ctx, scope)
    counts = {k: (len(v) if isinstance(v, list) else v) for k, v in report.items()}
    with ctx.change(Op.CONSOLIDATE, detail=counts):
        store.meta.set(META_LAST_RUN, to_iso(ctx.now()))
        if scope is None and since is None:  # a narrowed run did not look at everything up to high_water
            store.meta.set(META_LAST_ID, str(max(high_water, last_id)))
    return report


def _plan_rebuild(ctx: "Context", scope: str, period: str, key: str, text: str | None,
                  members: list[int]) -> _Rebuild | None:
    """What to do with one summary or profile: nothing when its text is unchanged and not stale."""
    old = ctx.store.summaries.of(scope, period, key)
    if old is not None and text is not None:
        row = ctx.store.memories.row(old)
        if row and row["text"] == text and not row["stale"]:
            return None
    if old is None and text is None:
        return None
    return _Rebuild(scope, period, key, old, text, members)


def _apply_rebuilds(ctx: "Context", plans: list[_Rebuild]) -> None:
    """Each summary or profile is one change: the new one written and recorded in place of the old one, and the
    old one erased, together. A run stopped anywhere leaves exactly one summary per day and scope."""
    from .derived import write_derived

    store = ctx.store
    erased_any = False
    for p in plans:
        kind = "summary" if p.period == "day" else "profile"
        vectors = ctx.embedder.embed_chunks([p.text])[0] if p.text else None  # before the lock
        with ctx.change(Op.SUMMARIZE) as ch:
            erased: list[int] = []
            if p.old is not None:  # first: a stale one with the same text would otherwise be taken for the new one
                erased = store.erase([p.old], to_iso(ctx.now())).erased_ids
                erased_any = True
            new_id = None
            if p.text:
                new_id, _created = write_derived(ctx, kind, p.text, p.members, scope=p.scope, vectors=vectors)
                store.summaries.record(new_id, p.scope, p.period, p.key)
            ch.memory_ids = ([new_id] if new_id is not None else []) + erased + list(p.members)
            ch.detail = {"kind": kind, "scope": p.scope, "key": p.key, "summary": new_id, "erased": erased,
                         "from": len(p.members)}
    if erased_any:
        store.maintenance.scrub_files()


def _plan_day(ctx: "Context", scope: str, day: str, llm: bool = False) -> _Rebuild | None:
    store = ctx.store
    members = store.memories.day_members(scope, day)
    if len(members) < SUMMARY_MIN_MEMORIES:
        return _plan_rebuild(ctx, scope, "day", day, None, [])
    body = _drafted_summary(ctx, members) if llm else ""
    text = f"{day}: " + (body or extractive_summary(members, store.vectors.first_of([m["id"] for m in members])))
    return _plan_rebuild(ctx, scope, "day", day, text, [m["id"] for m in members])


def _drafted_summary(ctx: "Context", members: list[dict]) -> str:
    """Generator draft, kept sentence by sentence only where the day's messages support it."""
    from .extract import check_grounding

    labels = [labelled(m["speaker"], m["text"]) for m in members]
    lines = "\n".join(" ".join(label.split())[:300] for label in labels[:40])
    draft = ctx.generator.complete(SUMMARY_SHOT + f"Messages:\n{lines}\nSummary:", max_tokens=120,
                                   stop=["\n\n", "Messages:"], deadline_s=60)
    kept = [s.strip() for s in re.split(r"(?<=[.!?])\s+", draft.strip())
            if len(s.split()) >= 3 and check_grounding(s, labels)[0]]
    return " ".join(kept)


def _plan_profile(ctx: "Context", scope: str) -> _Rebuild | None:
    items = list(reversed(ctx.store.memories.self_statements(scope, SELF_WORDS, PROFILE_ITEMS)))
    if not items:
        return _plan_rebuild(ctx, scope, "profile", "", None, [])
    text = f"Profile ({scope}): " + " / ".join(
        " ".join(labelled(m["speaker"], m["text"]).split())[:200] for m in items)
    return _plan_rebuild(ctx, scope, "profile", "", text, [m["id"] for m in items])


def _supersede(ctx: "Context", scope: str | None) -> list[dict]:
    store = ctx.store
    latest: dict[tuple[str, tuple[str, ...]], dict] = {}
    pairs = []
    for fact in store.memories.facts(scope):
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
    with ctx.change(Op.SUPERSEDE, [x["id"] for p in pairs for x in p],
                    {"pairs": [[o["id"], n["id"]] for o, n in pairs]}):
        for old, new in pairs:
            store.links.supersede(old["id"], new["id"], new["occurred_at"])
    return [{"old": o["id"], "new": n["id"]} for o, n in pairs]


def _count_decayed(ctx: "Context", threshold: float | None) -> int:
    from .forgetting import decayed_among

    return len(decayed_among(ctx, ctx.store.memories.select_ids(Filters(active_only=True)), threshold))

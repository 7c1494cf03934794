"""`consolidate`: the maintenance pass cron runs. Idempotent and incremental (only memories newer than the last
run, tracked in the database), one run at a time (a file lock), short transactions so remember/recall go on.

Steps in this version:
1. near-duplicates: a new episodic memory that says the same words as an older active one (case and punctuation
   aside, and a cosine of 0.97 or more) in the same scope, from the same speaker, about the same day, is merged
   into it (status 'merged', a merged_into link, its provenance moved onto the kept memory). Exact duplicates never
   get this far: remember already stores them once. Found by key (scope, day, speaker, words), not by a vector
   search per memory: linear in the touched days' memories (docs/consolidation.md has the figures).
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

Each merge batch, summary and profile is one change, planned outside the write lock and checked again inside it:
a forget committed by another process in between is never undone, quoted or tripped over (the day's members are
read again under the lock and the text rebuilt from them). A run stopped anywhere leaves every change whole, and the
next run redoes only what is missing: one summary per (scope, day), one profile per scope.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
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


def _report(new_memories: int, dry_run: bool) -> dict:
    return {"new_memories": new_memories, "merged": [], "summaries_written": [], "summaries_regenerated": 0,
            "profiles_written": [], "superseded": [], "facts_accepted": 0, "decayed": 0, "expired": [],
            "dry_run": dry_run}


_WORDS = re.compile(r"\w+")


def same_telling(a: dict, b: dict) -> bool:
    """The same words (case, punctuation and spacing aside) about the same day. A cosine of 0.97 alone also joins
    'the meeting is at 3pm' with its correction 'at 4pm', and the same swim told of 1 June and of 1 July: merging
    those would hide a newer value or an event behind an older one."""
    return ((a["occurred_at"] or "")[:10] == (b["occurred_at"] or "")[:10]
            and _WORDS.findall(a["text"].lower()) == _WORDS.findall(b["text"].lower()))


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
    if ctx.store.read_only and not dry_run:  # a dry run may read a read-only database
        ctx.store.require_writable()
    with ctx.store.maintenance.exclusive("consolidate") as held:  # a lock file, or the server's lock
        if not held:  # the usual keys, empty, so a script reading --json needs no special case
            return {**_report(0, dry_run), "skipped": "another consolidation is running"}
        return _consolidate(ctx, scope, option_time(since, "since"), dry_run, decay_threshold, llm, progress)


def _consolidate(ctx: "Context", scope, since, dry_run, decay_threshold, llm, progress) -> dict:
    store = ctx.store
    expired: list[int] = []
    if scope is None and since is None and not dry_run:
        # remember --expires: their time has come (recall hid them already). First, so that the summaries and
        # profiles quoting them are marked stale and rebuilt by this very run.
        from .forgetting import erase_expired

        expired = erase_expired(ctx)
    last_id = int(store.meta.get(META_LAST_ID) or 0)
    high_water = store.memories.max_id()
    new = store.memories.episodic_since(last_id, scope, since)
    report = _report(len(new), dry_run)
    report["expired"] = expired
    # 1. near-duplicates
    merges = _near_duplicates(ctx, new, progress)
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
        merges = _apply_merges(ctx, merges)
        report["merged"] = [{"merged": a, "into": b} for a, b in merges]
    erased_any = False
    for s, day in sorted(days):
        outcome = _rebuild_day(ctx, s, day, llm)
        erased_any |= outcome.erased
        if outcome.text:
            report["summaries_written"].append(f"{s}/{day}")
    report["summaries_regenerated"] = len(stale)
    if llm and new:
        from .extract import extract_facts

        merged = {a for a, _ in merges}
        active_new = store.memories.active_among([m["id"] for m in new if m["id"] not in merged])
        report["facts_accepted"] = len(extract_facts(ctx, sorted(active_new)).accepted)
    for s in sorted(profile_scopes):
        outcome = _rebuild_profile(ctx, s)
        erased_any |= outcome.erased
        if outcome.text:
            report["profiles_written"].append(s)
    if erased_any or (scope is None and since is None and store.maintenance.scrub_pending()):
        store.maintenance.scrub_files()  # also what an earlier forget could not finish (a server's snapshot)
    report["superseded"] = _supersede(ctx, scope)
    counts = {k: (len(v) if isinstance(v, list) else v) for k, v in report.items()}
    with ctx.change(Op.CONSOLIDATE, detail=counts):
        store.meta.set(META_LAST_RUN, to_iso(ctx.now()))
        if scope is None and since is None:  # a narrowed run did not look at everything up to high_water
            store.meta.set(META_LAST_ID, str(max(high_water, last_id)))
    return report


# -- 1. near-duplicates ---------------------------------------------------------------------------------------------
def _telling(row: dict) -> tuple:
    """What same_telling compares, with the speaker: memories with equal keys are the candidates of step 1."""
    return row["speaker"], tuple(_WORDS.findall(row["text"].lower()))


def _near_duplicates(ctx: "Context", new: list[dict], progress) -> list[tuple[int, int]]:
    """(duplicate, kept) pairs. same_telling needs the same scope, speaker, day and words, so the candidates are
    found by key: each touched (scope, day) is read once (the memories_scope index) and its active episodic
    memories grouped by speaker and words. Only a group that holds a new memory and something older costs a
    vector read, for the cosine check the vector search used to make. Linear in the touched days' memories."""
    store = ctx.store
    by_day: dict[tuple[str, str], set[int]] = {}
    for m in new:
        by_day.setdefault((m["scope"], m["occurred_at"][:10]), set()).add(m["id"])
    merges: list[tuple[int, int]] = []
    seen = 0
    for (scope, day), fresh in sorted(by_day.items()):
        groups: dict[tuple, list[dict]] = {}
        for row in store.memories.day_members(scope, day):
            if row["occurred_at"][:10] == day:
                groups.setdefault(_telling(row), []).append(row)
        for group in groups.values():
            told = [r["id"] for r in group if r["id"] in fresh]
            if told and min(r["id"] for r in group) < max(told):  # a new memory with an older telling
                merges += _merges_in(ctx, sorted(group, key=lambda r: r["id"]), fresh)
        seen += len(fresh)
        if progress:
            progress(seen, len(new))
    return sorted(merges)


def _merges_in(ctx: "Context", group: list[dict], fresh: set[int]) -> list[tuple[int, int]]:
    """Within one telling (rows by id): each new memory joins an older one whose vector is within NEAR_DUPLICATE
    of its own (its first chunk against the other's best chunk, as the vector search scored it): the closest,
    and among equals one that is not itself being merged, then the oldest."""
    store = ctx.store
    firsts = store.vectors.first_of([r["id"] for r in group if r["id"] in fresh])
    last = max(firsts, default=0)
    chunks = {r["id"]: store.vectors.of_memory(r["id"]) for r in group if r["id"] < last}
    out: list[tuple[int, int]] = []
    merged: set[int] = set()
    for row in group:
        vec = firsts.get(row["id"])
        if vec is None:
            continue
        best: tuple | None = None
        for other in group:
            if other["id"] >= row["id"]:
                break
            theirs = chunks.get(other["id"])
            if theirs is None or not len(theirs) or not same_telling(other, row):  # the key says so already
                continue
            sim = float(np.max(theirs @ vec))
            if sim >= NEAR_DUPLICATE:
                rank = (other["id"] in merged, -sim, other["id"])
                if best is None or rank < best:
                    best = rank
        if best is not None:
            out.append((row["id"], best[2]))
            merged.add(row["id"])
    return out


def _apply_merges(ctx: "Context", merges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """One change. Pairs found before it whose memories a concurrent forget or archive took away are dropped."""
    store = ctx.store
    with ctx.change(Op.MERGE) as ch:
        alive = store.memories.active_among([x for p in merges for x in p])
        done = [(a, b) for a, b in merges if a in alive and b in alive]
        for dup, keep in done:
            store.links.merge_into(dup, keep)
        ch.memory_ids = [x for p in done for x in p]
        ch.detail = {"pairs": [[a, b] for a, b in done]}
    return done


# -- 2./3. summaries and profiles -----------------------------------------------------------------------------------
@dataclass
class _Outcome:
    text: str | None = None  # what was written (None: nothing, or the old one dropped)
    erased: bool = False  # an older summary was erased (its pages are scrubbed from the WAL at the end)


def _rebuild_day(ctx: "Context", scope: str, day: str, llm: bool = False) -> _Outcome:
    store = ctx.store

    def compose(members: list[dict], body: str) -> str | None:
        if len(members) < SUMMARY_MIN_MEMORIES:
            return None
        return f"{day}: " + (body or extractive_summary(members, store.vectors.first_of([m["id"] for m in members])))

    def draft(members: list[dict]) -> str:
        return _drafted_summary(ctx, members) if llm and len(members) >= SUMMARY_MIN_MEMORIES else ""

    return _rebuild(ctx, scope, "day", day, lambda: store.memories.day_members(scope, day), compose, draft)


def _rebuild_profile(ctx: "Context", scope: str) -> _Outcome:
    def read() -> list[dict]:
        return list(reversed(ctx.store.memories.self_statements(scope, SELF_WORDS, PROFILE_ITEMS)))

    def compose(items: list[dict], _body: str) -> str | None:
        if not items:
            return None
        return f"Profile ({scope}): " + " / ".join(
            " ".join(labelled(m["speaker"], m["text"]).split())[:200] for m in items)

    return _rebuild(ctx, scope, "profile", "", read, compose)


def _current(ctx: "Context", scope: str, period: str, key: str, text: str | None) -> bool:
    """The recorded summary already says `text` (or there is none and there should be none)."""
    old = ctx.store.summaries.of(scope, period, key)
    if old is None or text is None:
        return old is None and text is None
    row = ctx.store.memories.row(old)
    return bool(row and row["text"] == text and not row["stale"])


def _rebuild(ctx: "Context", scope: str, period: str, key: str, read: Callable[[], list[dict]],
             compose: Callable[[list[dict], str], str | None],
             draft: Callable[[list[dict]], str] | None = None) -> _Outcome:
    """One summary or profile, as one change: the old one erased and the new one written and recorded together.

    Planned first, without the write lock: the members read, the generator's draft (llm) and the embedding of the
    text, the slow parts. Then, inside the change (so a forget in another process is either wholly before or wholly
    after), the members are read again and the text is built from what is there now: if they changed in between,
    the draft (which described the old members) gives way to the extractive text, and the text is embedded under
    the lock. Nothing is written when the recorded one already says the same, so a rerun after a run stopped
    anywhere redoes only what is missing, and leaves one summary per (scope, day) and one profile per scope."""
    from .derived import write_derived

    store = ctx.store
    kind = "summary" if period == "day" else "profile"
    planned = read()
    body = draft(planned) if draft else ""
    planned_text = compose(planned, body)
    if _current(ctx, scope, period, key, planned_text):
        return _Outcome()
    vectors = ctx.embedder.embed_chunks([planned_text])[0] if planned_text else None  # before the lock
    with ctx.change(Op.SUMMARIZE) as ch:
        members = read()
        text = planned_text if members == planned else compose(members, "")
        if _current(ctx, scope, period, key, text):
            return _Outcome()
        erased: list[int] = []
        old = store.summaries.of(scope, period, key)
        if old is not None:  # first: a stale one with the same text would otherwise be taken for the new one
            erased = store.erase([old], to_iso(ctx.now())).erased_ids
        new_id = None
        if text:
            if text != planned_text:  # the members changed since planning: embedded under the lock, rarely
                vectors = ctx.embedder.embed_chunks([text])[0]
            new_id, _created = write_derived(ctx, kind, text, [m["id"] for m in members], scope=scope,
                                             vectors=vectors)
            store.summaries.record(new_id, scope, period, key)
        evidence = [m["id"] for m in members] if text else []
        ch.memory_ids = ([new_id] if new_id is not None else []) + erased + evidence
        ch.detail = {"kind": kind, "scope": scope, "key": key, "summary": new_id, "erased": erased,
                     "from": len(evidence)}
    return _Outcome(text=text, erased=bool(erased))


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
    with ctx.change(Op.SUPERSEDE) as ch:
        # facts a concurrent forget took away since they were read are left out (a link to them would fail)
        alive = store.memories.active_among([x["id"] for p in pairs for x in p])
        pairs = [(o, n) for o, n in pairs if o["id"] in alive and n["id"] in alive]
        for old, new in pairs:
            store.links.supersede(old["id"], new["id"], new["occurred_at"])
        ch.memory_ids = [x["id"] for p in pairs for x in p]
        ch.detail = {"pairs": [[o["id"], n["id"]] for o, n in pairs]}
    return [{"old": o["id"], "new": n["id"]} for o, n in pairs]


def _count_decayed(ctx: "Context", threshold: float | None) -> int:
    """How many active memories `forget --decayed` would remove. SQL narrows the rows to those old enough to have
    decayed (retention exp(-days / (BASE_DAYS × strength)) is below the threshold only past BASE_DAYS × strength ×
    ln(1 / threshold) days), then forgetting.decayed_among decides exactly, as before, on those alone: an
    incremental run over 100k memories spent 90% of its time computing every memory's retention in Python."""
    from .forgetting import decayed_among
    from .retention import BASE_DAYS, DEFAULT_THRESHOLD

    limit = DEFAULT_THRESHOLD if threshold is None else threshold
    store = ctx.store
    if 0 < limit < 1:
        candidates = store.memories.maybe_decayed(to_iso(ctx.now()), BASE_DAYS * math.log(1 / limit))
    else:
        candidates = store.memories.select_ids(Filters(active_only=True))
    return len(decayed_among(ctx, candidates, threshold))

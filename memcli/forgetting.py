"""Forgetting: choosing what to forget, erasing it, archiving, restoring, pinning, and the decayed set.

Safety rules live here, not in the CLI, so the Python API cannot delete everything by accident either:
no selector is an error; `all_` needs an explicit scope or `everything`; unknown ids are an error and
nothing is deleted; a selection that matches nothing deletes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .changes import Op
from .errors import InputError, NotFound, UsageError
from .timeparse import option_time, to_iso
from .types import Filters, ForgetResult
from .validate import memory_id
from .validate import query as check_query

if TYPE_CHECKING:
    from .context import Context


def select_for_forget(ctx: "Context", *, ids: Sequence[int] = (), query: str | None = None, min_score: float = 0.0,
                      query_limit: int = 20, scope: str | None = None, tags: Sequence[str] = (),
                      before: str | None = None, after: str | None = None, time_field: str = "occurred_at",
                      source_id: int | None = None, decayed: bool = False, threshold: float | None = None,
                      all_: bool = False, everything: bool = False) -> list[int]:
    """Ids matching every given criterion. Raises InputError when the request is unsafe or ambiguous."""
    has_selector = bool(ids or query or tags or before or after or source_id is not None or decayed)
    if all_ and scope is None and not everything:
        raise UsageError("--all needs an explicit --scope, or --yes-really-everything to forget every memory")
    if not has_selector and not all_:
        raise UsageError("no selector: give memory ids, --query, --tag, --before/--after, --source or "
                         "--decayed (or --all --scope NAME for a whole scope)")
    sel = Filters(ids=[memory_id(i) for i in ids], scope=scope, tags=list(tags), until=option_time(before, "before"),
                  since=option_time(after, "after"), time_field=time_field, source_id=source_id,
                  # --decayed: only what recall can still return fades; an archived memory stays restorable,
                  # and a merged copy goes with the memory it was merged into
                  active_only=decayed)
    if ids:
        require_ids(ctx, ids)
    if query is not None:
        check_query(query)
    chosen = ctx.store.memories.select_ids(sel)
    if query is not None:
        from .retrieval.recall import recall

        hits = recall(ctx, query, limit=query_limit, filters=Filters(scope=scope, tags=list(tags)), touch=False,
                      rerank=False)
        matched = {h.id for h in hits if h.score >= min_score}
        chosen = [i for i in chosen if i in matched]
    if decayed:
        chosen = decayed_among(ctx, chosen, threshold)
    return chosen


def decayed_among(ctx: "Context", ids: Sequence[int], threshold: float | None = None) -> list[int]:
    """The ids whose retention fell below the threshold: never pinned ones, nor the evidence of a pinned derived
    memory (erasing all of a fact's evidence erases the fact, so a pinned fact keeps its evidence)."""
    from .retention import DEFAULT_THRESHOLD, retention

    limit = DEFAULT_THRESHOLD if threshold is None else threshold
    now = ctx.now()
    keep = {r.id for r in ctx.store.memories.retention_rows(ids)
            if not r.pinned and retention(now, r.created_at, r.last_recalled_at, r.strength) < limit}
    keep -= ctx.store.links.evidence_of_pinned(sorted(keep))
    return [i for i in ids if i in keep]


def forget(ctx: "Context", ids: Sequence[int], *, archive: bool = False,
           check: Callable[[], None] | None = None) -> ForgetResult:
    """Hard erasure by default (see storage/erasure.py); `archive` only hides from recall, reversibly. `check` runs
    inside the change, under the write lock, before anything is removed (an agent's budget is counted there, so two
    processes cannot both pass it)."""
    ids = sorted(set(memory_id(i) for i in ids))
    if not ids:
        return ForgetResult(ids=[], archived=archive)
    if archive:
        return _archive(ctx, ids, check)
    store = ctx.store
    # Ids only in the record: a content hash is a SHA-256 of the text with its speaker, time and id, and a short
    # secret ('my PIN is 4821') could be guessed back from it in seconds.
    with ctx.change(Op.FORGET) as ch:
        if check is not None:
            check()
        erased = store.erase(ids, to_iso(ctx.now()))
        rebuild_context(ctx, erased.sources_redacted)
        ch.memory_ids = erased.erased_ids + erased.reinstated
        ch.detail = {"derived_deleted": erased.derived_deleted, "derived_stale": erased.derived_stale,
                     "sources_deleted": erased.sources_deleted, "sources_redacted": erased.sources_redacted,
                     "reinstated": erased.reinstated}
    scrubbed = store.maintenance.scrub_files()
    result = ForgetResult(ids=ids, derived_deleted=erased.derived_deleted, derived_stale=erased.derived_stale,
                          sources_deleted=erased.sources_deleted, sources_redacted=erased.sources_redacted,
                          files_scrubbed=scrubbed, reinstated=erased.reinstated)
    from .plugins import notify

    notify(ctx, "after_forget", result=result)
    return result


def _archive(ctx: "Context", ids: list[int], check: Callable[[], None] | None = None) -> ForgetResult:
    store = ctx.store
    with ctx.change(Op.ARCHIVE) as ch:
        if check is not None:
            check()
        changed = store.memories.set_status(ids, "archived", only_from=("active", "quarantined"))
        # a day summary or profile quoting them would keep showing them: rebuilt without them
        stale = store.summaries.covering(changed)
        store.keys.mark_stale(stale)
        ch.memory_ids, ch.detail = changed, {"derived_stale": stale}
    return ForgetResult(ids=changed, archived=True, derived_stale=stale)


def rebuild_context(ctx: "Context", source_ids: Sequence[int]) -> None:
    """Neighbours carry each other's text in their context keys; after a forget, rebuild the keys of the
    messages left in each touched source so no neighbour still holds the forgotten words. Inside a change."""
    from .ingest.keys import build_keys
    from .ingest.parse import Message

    store = ctx.store
    for sid in source_ids:
        rows = store.sources.neighbourhood(sid)
        messages = [Message(text=r["text"], speaker=r["speaker"], occurred_at=r["occurred_at"],
                            external_id=r["external_id"]) for r in rows]
        keys = build_keys(messages, ctx.key_options, [r["memory_occurred_at"] for r in rows])
        for row, (key_text, fts_text, context) in zip(rows, keys):
            if context != row["context"]:
                store.keys.update_words(row["memory_id"], fts_text, context)
            if key_text != row["key_text"]:  # only when keys embed neighbours (KeyOptions.embed_context)
                store.keys.replace_vectors(row["memory_id"], key_text, ctx.embedder.embed_chunks([key_text])[0])


def restore(ctx: "Context", ids: Sequence[int]) -> list[int]:
    """Archived or quarantined memories become recallable again."""
    store = ctx.store
    require_ids(ctx, ids)
    with ctx.change(Op.RESTORE) as ch:
        changed = store.memories.set_status([int(i) for i in ids], "active", only_from=("archived", "quarantined"))
        stale = store.summaries.covering(changed, by_day=True) if changed else []
        store.keys.mark_stale(stale)  # rebuilt with them by the next consolidate
        ch.memory_ids, ch.detail = changed, {"derived_stale": stale}
    return changed


def pin(ctx: "Context", ids: Sequence[int], pinned: bool = True) -> list[int]:
    """Pinned memories never decay and are never removed by `forget --decayed`."""
    require_ids(ctx, ids)
    with ctx.change(Op.PIN if pinned else Op.UNPIN) as ch:
        ch.memory_ids = ctx.store.memories.set_pinned([int(i) for i in ids], pinned)
    return ch.memory_ids


def require_ids(ctx: "Context", ids: Sequence[int]) -> None:
    if not ids:
        raise InputError("no memory ids given")
    for i in ids:
        memory_id(i)
    found = set(ctx.store.memories.select_ids(Filters(ids=[int(i) for i in ids], active_only=False)))
    missing = sorted(set(int(i) for i in ids) - found)
    if missing:
        raise NotFound(f"no memory with id {', '.join(map(str, missing))}; nothing changed")


def is_expired(record: dict, now: str) -> bool:
    """A memory whose --expires time has come (`now`: ISO-8601 UTC). storage/filters.py says the same in SQL."""
    return bool(record.get("expires_at")) and record["expires_at"] <= now


def erase_expired(ctx: "Context") -> list[int]:
    """Erase the memories whose --expires time has come (consolidate runs this). Recall stopped returning them
    at that time already."""
    ids = ctx.store.memories.expired(to_iso(ctx.now()))
    return forget(ctx, ids).ids if ids else []

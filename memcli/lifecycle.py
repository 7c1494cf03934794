"""Forgetting, archiving, restoring and pinning memories, and recording derived ones.

Safety rules live here, not in the CLI, so the Python API cannot delete everything by accident either:
no selector is an error; `all_` needs an explicit scope or `everything`; unknown ids are an error and
nothing is deleted; a selection that matches nothing deletes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import InputError
from .storage.store import Filters
from .timeparse import now_utc, option_time, to_iso

STATUSES = ("active", "archived", "quarantined")


@dataclass
class ForgetResult:
    ids: list[int]
    archived: bool = False
    derived_deleted: list[int] = field(default_factory=list)
    derived_stale: list[int] = field(default_factory=list)
    sources_deleted: list[int] = field(default_factory=list)
    sources_redacted: list[int] = field(default_factory=list)
    files_scrubbed: bool = True

    def to_json(self) -> dict:
        return dict(self.__dict__)


class LifecycleMixin:
    def select_for_forget(self, *, ids: Sequence[int] = (), query: str | None = None, min_score: float = 0.0,
                          query_limit: int = 20, scope: str | None = None, tags: Sequence[str] = (),
                          before: str | None = None, after: str | None = None, time_field: str = "occurred_at",
                          source_id: int | None = None, decayed: bool = False, threshold: float | None = None,
                          all_: bool = False, everything: bool = False) -> list[int]:
        """Ids matching every given criterion. Raises InputError when the request is unsafe or ambiguous."""
        has_selector = bool(ids or query or tags or before or after or source_id is not None or decayed)
        if all_ and scope is None and not everything:
            raise InputError("--all needs an explicit --scope, or --yes-really-everything to forget every memory")
        if not has_selector and not all_:
            raise InputError("no selector: give memory ids, --query, --tag, --before/--after, --source or "
                             "--decayed (or --all --scope NAME for a whole scope)")
        store = self.store
        sel = Filters(ids=[int(i) for i in ids], scope=scope, tags=list(tags), until=option_time(before, "before"),
                      since=option_time(after, "after"), time_field=time_field, source_id=source_id,
                      # --decayed: only what recall can still return fades; an archived memory stays restorable,
                      # and a merged copy goes with the memory it was merged into
                      active_only=decayed)
        if ids:
            self._require_ids(ids)
        chosen = store.select_ids(sel)
        if query is not None:
            hits = self.recall(query, limit=query_limit, filters=Filters(scope=scope, tags=list(tags)), touch=False)
            matched = {h.id for h in hits if h.score >= min_score}
            chosen = [i for i in chosen if i in matched]
        if decayed:
            chosen = self.decayed_among(chosen, threshold)
        return chosen

    def decayed_among(self, ids: Sequence[int], threshold: float | None = None) -> list[int]:
        """The ids whose retention fell below the threshold: never pinned ones, nor the evidence of a pinned derived
        memory (erasing all of a fact's evidence erases the fact, so a pinned fact keeps its evidence)."""
        from .retention import DEFAULT_THRESHOLD, retention

        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        now = now_utc()
        keep = {mid for mid, created, last, strength, pinned in self.store.retention_rows(ids)
                if not pinned and retention(now, created, last, strength) < limit}
        keep -= self.store.evidence_of_pinned(sorted(keep))
        return [i for i in ids if i in keep]

    def forget(self, ids: Sequence[int], *, archive: bool = False) -> ForgetResult:
        """Hard erasure by default (see Store.erase); `archive` only hides from recall, reversibly."""
        ids = sorted(set(int(i) for i in ids))
        if not ids:
            return ForgetResult(ids=[], archived=archive)
        store = self.store
        now = to_iso(now_utc())
        with store.transaction():
            if archive:
                changed = store.set_status(ids, "archived", only_from=("active", "quarantined"))
                # a day summary or profile quoting them would keep showing them: rebuilt without them
                stale = store.summaries_covering(changed)
                store.mark_stale(stale)
                store.audit.append(at=now, actor=self.actor, op="archive", memory_ids=changed,
                                   detail={"derived_stale": stale})
                return ForgetResult(ids=changed, archived=True, derived_stale=stale)
            erased = store.erase(ids, now)
            self._rebuild_context(erased["sources_redacted"])
            all_ids = erased["erased_ids"]
            # Ids only: a content hash is a SHA-256 of the text with its speaker, time and id, and a short secret
            # ('my PIN is 4821') could be guessed back from it in seconds.
            store.audit.append(at=now, actor=self.actor, op="forget", memory_ids=all_ids, detail={
                "derived_deleted": erased["derived_deleted"], "derived_stale": erased["derived_stale"],
                "sources_deleted": erased["sources_deleted"], "sources_redacted": erased["sources_redacted"],
            })
        scrubbed = store.scrub_files()
        result = ForgetResult(ids=ids, derived_deleted=erased["derived_deleted"],
                              derived_stale=erased["derived_stale"], sources_deleted=erased["sources_deleted"],
                              sources_redacted=erased["sources_redacted"], files_scrubbed=scrubbed)
        self.plugins.hook.after_forget(memory=self, result=result)
        return result

    def _rebuild_context(self, source_ids: Sequence[int]) -> None:
        """Neighbours carry each other's text in their context keys; after a forget, rebuild the keys of the
        messages left in each touched source so no neighbour still holds the forgotten words."""
        from .ingest.keys import build_keys
        from .ingest.parse import Message

        store = self.store
        for sid in source_ids:
            rows = store.source_neighbourhood(sid)
            messages = [Message(text=r["text"], speaker=r["speaker"], occurred_at=r["occurred_at"],
                                external_id=r["external_id"]) for r in rows]
            keys = build_keys(messages, self.key_options, [r["memory_occurred_at"] for r in rows])
            for row, (key_text, fts_text, context) in zip(rows, keys):
                if context != row["context"]:
                    store.update_keys(row["memory_id"], fts_text, context)
                if key_text != row["key_text"]:  # only when keys embed neighbours (KeyOptions.embed_context)
                    store.replace_vectors(row["memory_id"], key_text, self.embedder.embed_chunks([key_text])[0])

    def restore(self, ids: Sequence[int]) -> list[int]:
        """Archived or quarantined memories become recallable again."""
        store = self.store
        self._require_ids(ids)
        with store.transaction():
            changed = store.set_status([int(i) for i in ids], "active", only_from=("archived", "quarantined"))
            if changed:
                stale = store.summaries_covering(changed, by_day=True)  # rebuilt with them by the next consolidate
                store.mark_stale(stale)
                store.audit.append(at=to_iso(now_utc()), actor=self.actor, op="restore", memory_ids=changed,
                                   detail={"derived_stale": stale})
        return changed

    def pin(self, ids: Sequence[int], pinned: bool = True) -> list[int]:
        """Pinned memories never decay and are never removed by `forget --decayed`."""
        store = self.store
        self._require_ids(ids)
        with store.transaction():
            changed = store.set_pinned([int(i) for i in ids], pinned)
            if changed:
                store.audit.append(at=to_iso(now_utc()), actor=self.actor, op="pin" if pinned else "unpin",
                                   memory_ids=changed, detail={})
        return changed

    def derive(self, kind: str, text: str, from_ids: Sequence[int], *, scope: str | None = None,
               audit: bool = True, vectors=None) -> int:
        """Store a memory built from others (a summary, an extracted fact) with derived_from links, so that
        forgetting all of its evidence removes it and forgetting part of it marks it stale."""
        import hashlib
        import json

        from .storage.store import NewMemory

        store = self.store
        self._require_ids(from_ids)
        now = to_iso(now_utc())
        records = store.memories(list(from_ids))
        scope = scope or next(iter(records.values()))["scope"]
        occurred = max(r["occurred_at"] for r in records.values())
        digest = hashlib.sha256(json.dumps([kind, scope, text, sorted(from_ids)]).encode()).hexdigest()
        existing = store.existing_memories([digest])
        if existing:  # idempotent: the same derivation from the same evidence is one memory
            return existing[digest]
        draft = NewMemory(kind=kind, text=text, speaker=None, scope=scope, occurred_at=occurred,
                          content_hash=digest, key_text=text, context="", fts_text=text)
        if vectors is None:  # the caller may already have embedded the text (grounding does)
            vectors = self.embedder.embed_chunks([text])[0]
        with store.transaction():
            self._ensure_model(store, now)
            memory_id = store.insert_memory(draft, now, vectors)
            for target in from_ids:
                store.add_link(memory_id, "derived_from", int(target))
            # what its evidence was flagged for (injection, secrets) stays visible on what is built from it
            inherited = sorted({(f["kind"], f["rule"]) for r in records.values() for f in r["flags"] or []})
            if inherited:
                store.set_flags(memory_id, [{"kind": kind, "rule": rule} for kind, rule in inherited])
            if audit:
                store.audit.append(at=now, actor=self.actor, op="derive", memory_ids=[memory_id, *from_ids],
                                   detail={"kind": kind, "derived": memory_id, "from": sorted(from_ids)})
        return memory_id

    def _require_ids(self, ids: Sequence[int]) -> None:
        if not ids:
            raise InputError("no memory ids given")
        found = set(self.store.select_ids(Filters(ids=[int(i) for i in ids], active_only=False)))
        missing = sorted(set(int(i) for i in ids) - found)
        if missing:
            raise InputError(f"no memory with id {', '.join(map(str, missing))}; nothing changed")

"""The library's front door: `Memory(path).remember(...)`, `.recall(...)`, `.forget(...)` and the rest.

`Memory` holds a Context (memcli/context.py) and hands each call to the module that does the work; it has no logic
of its own. Where each verb lives:

    remember                  ingest/remember.py        recall, ranking      retrieval/recall.py
    forget/archive/restore    forgetting.py             pin/unpin            forgetting.py
    derive                    derived.py                extract_facts        extract.py
    consolidate               consolidate.py            ask                  ask.py
    audit log/show/verify     auditing.py               scan --quarantine    quarantine.py
    export/import             transfer.py               reindex/backup       maintenance.py
    recall logging setting    settings.py               the change unit      changes.py
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from . import ask as _ask
from . import auditing, derived, extract, forgetting, maintenance, settings, transfer
from . import consolidate as _consolidate
from .quarantine import scan_memories as _scan_memories
from .context import Context, Models
from .ingest import remember as _remember
from .errors import InputError
from .ingest.keys import KeyOptions
from .ingest.remember import content_hash
from .retrieval import recall as _recall
from .storage.store import Store
from .types import (DEFAULT_SCOPE, AuditRecord, ExtractResult, Filters, ForgetResult, Hit, RawInput, RecallOptions,
                    RememberResult)

__all__ = ["Memory", "RawInput", "RememberResult", "RecallOptions", "Hit", "Filters", "DEFAULT_SCOPE",
           "content_hash"]


class Memory:
    def __init__(self, path: str | Path | None = None, *, embedder: Any = None, embedder_spec: str | None = None,
                 progress: Callable[[str], None] | None = None, key_options: KeyOptions | None = None,
                 recall_options: RecallOptions | None = None, db: Any = None, create: bool = True,
                 actor: str | None = None, generator: Any = None, generator_spec: str | None = None,
                 plugins: Any = None, resident_vectors: bool = False, clock: Callable[[], datetime] | None = None,
                 migrate: bool = True, reranker: Any = None, reranker_spec: str | None = None):
        from .paths import database

        # a file path, ":memory:", or a postgresql:// URL (kept a string: a Path would fold its '//')
        self.path: str | Path | None = database(path) if path is not None else None
        clock_arg: dict[str, Any] = {"clock": clock} if clock is not None else {}  # else Context's default
        self.ctx = Context(self.path, db=db, create=create, plugins=plugins, migrate=migrate,
                           actor=actor or os.environ.get("MEMCLI_ACTOR") or "user",
                           key_options=key_options, recall_options=recall_options, progress=progress,
                           **clock_arg)
        self.ctx.models = Models(lambda: self.ctx.plugins, embedder=embedder, embedder_spec=embedder_spec,
                                 generator=generator, generator_spec=generator_spec, reranker=reranker,
                                 reranker_spec=reranker_spec, progress=progress)
        if resident_vectors:
            self.keep_vectors_resident()

    # -- what the context holds -------------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def plugins(self) -> Any:
        return self.ctx.plugins

    @property
    def embedder(self) -> Any:
        return self.ctx.embedder

    @property
    def generator(self) -> Any:
        return self.ctx.generator

    @property
    def db_path(self) -> Path | None:
        return self.ctx.db_path

    @property
    def actor(self) -> str:
        return self.ctx.actor

    @actor.setter
    def actor(self, value: str) -> None:
        self.ctx.actor = value

    @property
    def key_options(self) -> KeyOptions:
        return self.ctx.key_options

    @key_options.setter
    def key_options(self, value: KeyOptions) -> None:
        self.ctx.key_options = value

    @property
    def recall_options(self) -> RecallOptions:
        return self.ctx.recall_options

    @recall_options.setter
    def recall_options(self, value: RecallOptions) -> None:
        self.ctx.recall_options = value

    @property
    def resident(self) -> Any:
        return self.ctx.resident

    @resident.setter
    def resident(self, value: Any) -> None:
        self.ctx.resident = value

    def close(self) -> None:
        self.ctx.close()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- remember and recall ----------------------------------------------------------------------------------------
    def remember(self, inputs: Sequence[RawInput], *, fmt: str = "auto", scope: str = DEFAULT_SCOPE,
                 tags: Iterable[str] = (), at: str | None = None, kind: str = "episodic",
                 progress: Callable[[int, int], None] | None = None, importance: float = 0.0,
                 expires: str | None = None) -> RememberResult:
        return _remember.remember(self.ctx, inputs, fmt=fmt, scope=scope, tags=tags, at=at, kind=kind,
                                  progress=progress, importance=importance, expires=expires)

    def recall(self, query: str, *, limit: int = 10, filters: Filters | None = None, touch: bool = True,
               fresh: bool = False, asked_at: datetime | None = None, rerank: bool = True) -> list[Hit]:
        return _recall.recall(self.ctx, query, limit=limit, filters=filters, touch=touch, fresh=fresh,
                              asked_at=asked_at, rerank=rerank)

    def search_words(self, terms: list[str], filters: Filters, depth: int) -> list[tuple[int, float]]:
        with self.ctx.store.snapshot():  # one state of the database for every statement of the search
            return _recall.search_words(self.ctx, terms, filters, depth)

    def get(self, ids: Sequence[int]) -> dict[int, dict]:
        """Full records (text, tags, provenance) of these memories, by id; unknown ids are left out."""
        from .validate import memory_id

        wanted = [memory_id(i) for i in ids]
        with self.store.snapshot():
            return self.store.memories.records(wanted)

    def recent(self, filters: Filters | None = None, *, limit: int = 20, before_id: int | None = None) -> list[dict]:
        """Memories matching `filters`, newest first, as full records; page with before_id = the last id seen."""
        from .validate import memory_id

        if not 1 <= limit <= 1000:
            raise InputError("limit must be between 1 and 1000")
        if before_id is not None:
            memory_id(before_id, "before_id")
        with self.store.snapshot():
            ids = self.store.memories.page(filters or Filters(), limit, before_id)
            records = self.store.memories.records(ids)
        return [records[i] for i in ids]

    def keep_vectors_resident(self, *, exact: bool = False, words: bool = True) -> None:
        _recall.keep_vectors_resident(self.ctx, exact=exact, words=words)

    # -- forgetting -------------------------------------------------------------------------------------------------
    def select_for_forget(self, **criteria: Any) -> list[int]:
        return forgetting.select_for_forget(self.ctx, **criteria)

    def decayed_among(self, ids: Sequence[int], threshold: float | None = None) -> list[int]:
        return forgetting.decayed_among(self.ctx, ids, threshold)

    def forget(self, ids: Sequence[int], *, archive: bool = False) -> ForgetResult:
        return forgetting.forget(self.ctx, ids, archive=archive)

    def restore(self, ids: Sequence[int]) -> list[int]:
        return forgetting.restore(self.ctx, ids)

    def pin(self, ids: Sequence[int], pinned: bool = True) -> list[int]:
        return forgetting.pin(self.ctx, ids, pinned)

    def update(self, memory_id: int, text: str) -> int:
        """Correct a memory: the new text becomes a memory that supersedes it (updating.py). Returns its id."""
        from .updating import update

        return update(self.ctx, memory_id, text)

    # -- derived memories and the local models ----------------------------------------------------------------------
    def derive(self, kind: str, text: str, from_ids: Sequence[int], *, scope: str | None = None,
               vectors: Any = None) -> int:
        return derived.derive(self.ctx, kind, text, from_ids, scope=scope, vectors=vectors)

    def extract_facts(self, memory_ids: Sequence[int], *, batch_size: int = 4,
                      progress: Callable[[int, int], None] | None = None) -> ExtractResult:
        return extract.extract_facts(self.ctx, memory_ids, batch_size=batch_size, progress=progress)

    def ask(self, question: str, *, limit: int = 8) -> dict:
        return _ask.ask(self.ctx, question, limit=limit)

    def consolidate(self, *, scope: str | None = None, since: str | None = None, dry_run: bool = False,
                    decay_threshold: float | None = None, llm: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> dict:
        return _consolidate.consolidate(self.ctx, scope=scope, since=since, dry_run=dry_run,
                                        decay_threshold=decay_threshold, llm=llm, progress=progress)

    # -- audit ------------------------------------------------------------------------------------------------------
    def audit_log(self, *, op: str | None = None, since: str | None = None, memory_id: int | None = None,
                  limit: int | None = None) -> list[AuditRecord]:
        return auditing.audit_log(self.ctx, op=op, since=since, memory_id=memory_id, limit=limit)

    def audit_verify(self, expect_hash: str | None = None) -> dict:
        return auditing.audit_verify(self.ctx, expect_hash)

    def audit_show(self, memory_id: int) -> dict:
        return auditing.audit_show(self.ctx, memory_id)

    def audit_stats(self) -> dict:
        return auditing.audit_stats(self.ctx)

    def scan_memories(self, *, quarantine: bool = False) -> list[dict]:
        return _scan_memories(self.ctx, quarantine=quarantine)

    def recall_logging(self) -> bool:
        return settings.recall_logging(self.ctx)

    def set_recall_logging(self, on: bool) -> None:
        settings.set_recall_logging(self.ctx, on)

    def configure(self, key: str, value: str | None) -> tuple[Path, str | None]:
        """Change a config-file setting, recorded in this database's audit log when it can take the record:
        (the file, why it was not recorded or None). See settings.configure."""
        return settings.configure(self.ctx, key, value)

    # -- moving and keeping ------------------------------------------------------------------------------------------
    def export(self, fmt: str, out: TextIO, options: dict | None = None) -> dict:
        return transfer.export(self.ctx, fmt, out, options)

    def export_jsonl(self, out: TextIO, *, vectors: bool = True) -> dict:
        return transfer.export(self.ctx, "jsonl", out, {"vectors": vectors})

    def import_jsonl(self, lines: Iterable[str], origin: str = "import") -> dict:
        return transfer.import_jsonl(self.ctx, lines, origin)

    def migrate_to(self, target: "Memory") -> dict:
        return transfer.migrate_to(self.ctx, target.ctx)

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> int:
        return maintenance.reindex(self.ctx, progress)

    def backup(self, target: str | Path) -> Path:
        return maintenance.backup(self.ctx, target)

    def stats(self) -> dict:
        return maintenance.stats(self.ctx)

    def scrub(self) -> bool:
        return maintenance.scrub(self.ctx)


"""Export to and import from JSONL: memories with their provenance, sources and (optionally) vectors.

One JSON object per line, each with a "type": "meta" (first), "source", "message", "memory". Import validates
every line before writing anything, maps ids onto the target database, skips what is already there (sources by
content hash and scope, memories by content hash), and writes in one transaction. With vectors from the same
embedding model, an import reproduces recall exactly; otherwise memories are re-embedded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from . import validate
from .changes import Op
from .errors import InputError, UsageError
from .ingest.keys import label
from .ingest.parse import Message
from .timeparse import now_utc, to_iso

if TYPE_CHECKING:
    from .context import Context

FORMAT_VERSION = 1
_REQUIRED = {
    "source": ("id", "origin", "format", "scope", "sha256", "received_at", "raw", "n_messages"),
    "message": ("id", "source_id", "seq", "text"),
    "memory": ("id", "kind", "text", "scope", "occurred_at", "created_at", "content_hash", "key_text", "messages"),
}


class ExportSource:
    """What an exporter plugin is given: read-only iterators over one database's records (register_exporters)."""

    def __init__(self, ctx: "Context"):
        self._store = ctx.store

    def embedding_model(self) -> tuple[str, int] | None:
        return self._store.vectors.model()

    def sources(self) -> Iterator[dict]:
        return self._store.sources.rows()

    def messages(self) -> Iterator[dict]:
        return self._store.sources.message_rows()

    def id_mark(self) -> int:
        """The highest memory id this database ever handed out."""
        return self._store.memories.id_mark()

    def memories(self, with_vectors: bool = True) -> Iterator[dict]:
        from .storage.portable import memory_records

        return memory_records(self._store, with_vectors)


def export(ctx: "Context", fmt: str, out: TextIO, options: dict | None = None) -> dict:
    """Write with a registered exporter (built-in: jsonl; plugins add more through register_exporters)."""
    from .plugins import collect

    exporters = collect(ctx.plugins, "register_exporters")
    if fmt not in exporters:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(sorted(exporters))}")
    with ctx.store.snapshot():  # one consistent state, even while others write
        return exporters[fmt](ExportSource(ctx), out, options or {})


def export_jsonl(source: ExportSource, out: TextIO, *, vectors: bool = True, id_mark: bool = False) -> dict:
    """`id_mark`: also the highest memory id ever used (migrate_to keeps ids, and must not hand out again an
    id forgotten in the source)."""
    model = source.embedding_model()
    counts = {"sources": 0, "messages": 0, "memories": 0}
    meta = {"type": "meta", "version": FORMAT_VERSION, "exported_at": to_iso(now_utc()),
            "embedding_model": model[0] if model else None, "embedding_dim": model[1] if model else None}
    if id_mark:
        meta["memory_id_mark"] = source.id_mark()
    out.write(json.dumps(meta) + "\n")
    for kind, rows in (("source", source.sources()), ("message", source.messages()),
                       ("memory", source.memories(vectors))):
        for row in rows:
            out.write(json.dumps({"type": kind, **row}, ensure_ascii=False) + "\n")
            counts[kind + "s" if kind != "memory" else "memories"] += 1
    return counts


def import_jsonl(ctx: "Context", lines: Iterable[str], origin: str = "import", *, keep_ids: bool = False,
                 provenance: dict | None = None) -> dict:
    """`keep_ids` (migrate_to, into an empty memory): every memory keeps the id it had, so ids agents noted still
    name the same memories. `provenance` goes into the import's audit record."""
    meta, sources, messages, memories = _validate(lines, origin)
    store = ctx.store
    store.require_writable()  # before re-embedding anything
    if keep_ids and store.memories.id_mark():  # checked again under the writer lock, below
        raise InputError("the target holds or held memories before: ids can be kept only in a new, empty memory "
                         "(use export and import to merge)")
    vec_model = (meta.get("embedding_model"), meta.get("embedding_dim"))
    current = store.vectors.model()
    loaded = ctx.models.loaded_embedder
    # A stale memory (emptied by a forget, rebuilt by the next consolidate) has no vector, and gets none here.
    use_vectors = (all(m.get("vectors") for m in memories if not m.get("stale")) and vec_model[0] is not None
                   and (current is None or current == tuple(vec_model))
                   and (loaded is None or loaded.model_id == vec_model[0]))
    fresh_vectors = {}
    # A summary or profile is the one of its (scope, period, key): an imported one whose place is taken here
    # would be a second, never rebuilt; a stale one (emptied by a forget) is rebuilt by consolidate, not imported.
    memories = [m for m in memories if not (m.get("summary_of") and (
        m.get("stale") or store.summaries.of(m["scope"], *m["summary_of"]) is not None))]
    known = store.memories.existing(m["content_hash"] for m in memories)
    todo = [m for m in memories if m["content_hash"] not in known]
    keyed = [m for m in todo if not m.get("stale")]
    if keyed and not use_vectors:
        embedded = ctx.embedder.embed_chunks([m["key_text"] for m in keyed])
        fresh_vectors = {m["id"]: v for m, v in zip(keyed, embedded)}
    result = {"sources": 0, "messages": 0, "memories": 0, "skipped_memories": len(memories) - len(todo),
              "reembedded": bool(fresh_vectors)}
    with ctx.change(Op.IMPORT) as ch:
        if keep_ids and store.memories.id_mark():
            raise InputError("the target holds or held memories before: ids can be kept only in a new, empty "
                             "memory (use export and import to merge)")
        if todo:
            if use_vectors:
                with ctx.change(Op.MODEL, detail={"embedding_model": vec_model[0], "dim": int(vec_model[1])}):
                    store.vectors.ensure_model(vec_model[0], int(vec_model[1]))
            else:
                from .ingest.remember import ensure_model

                ensure_model(ctx)
        source_map, message_map = {}, {}
        new_sources = set()
        for src in sources:
            existing = store.sources.find(src["sha256"], src["scope"], src["format"], src["stated_at"] or "")
            if existing is None:
                source_map[src["id"]] = store.sources.insert(**_known(src, SOURCE_FIELDS))
                new_sources.add(src["id"])
                result["sources"] += 1
            else:
                source_map[src["id"]] = existing
        for msg in messages:
            target = source_map[msg["source_id"]]
            if msg["source_id"] in new_sources:
                message_map[msg["id"]] = store.sources.insert_message(**_known(msg, MESSAGE_FIELDS), source_id=target)
                result["messages"] += 1
            else:
                found = store.sources.message_at(target, msg["seq"])
                if found is None:  # forgotten here since the export: it comes back with its memory
                    found = store.sources.insert_message(**_known(msg, MESSAGE_FIELDS), source_id=target)
                    result["messages"] += 1
                message_map[msg["id"]] = found
        memory_map = {m["id"]: known[m["content_hash"]] for m in memories if m["content_hash"] in known}
        for rec in memories:  # already stored: still link the imported messages, or forget could not find them
            if rec["id"] in memory_map:
                for old_msg in rec["messages"]:
                    if message_map.get(old_msg) is not None:
                        store.sources.link(memory_map[rec["id"]], message_map[old_msg])
        for rec in todo:
            # The same full-text key remember builds, so imported memories rank as they did.
            row = {c: rec[c] for c in MEMORY_COLUMNS}
            vectors = None if rec.get("stale") else (
                np.asarray(rec["vectors"], dtype=np.float32) if use_vectors else fresh_vectors[rec["id"]])
            mid = store.memories.insert_row(row, fts_text=label(Message(text=rec["text"], speaker=rec["speaker"])),
                                            context=rec["context"], vectors=vectors,
                                            memory_id=int(rec["id"]) if keep_ids else None)
            memory_map[rec["id"]] = mid
            store.memories.add_tags(mid, rec.get("tags") or [])
            for old_msg in rec["messages"]:
                if message_map.get(old_msg) is not None:
                    store.sources.link(mid, message_map[old_msg])
            if rec.get("summary_of"):
                period, key = rec["summary_of"]
                if store.summaries.of(rec["scope"], period, key) is None:
                    store.summaries.record(mid, rec["scope"], period, key)
            result["memories"] += 1
        for rec in todo:
            for relation, target in rec.get("links") or []:
                if target in memory_map:
                    store.links.add(memory_map[rec["id"]], relation, memory_map[target])
        if keep_ids and isinstance(meta.get("memory_id_mark"), int):  # ids forgotten there stay unused here
            store.memories.raise_id_mark(meta["memory_id_mark"])
        ch.memory_ids = [memory_map[m["id"]] for m in todo]
        ch.detail = {"origin": origin, **result, **(provenance or {})}
    return result


def migrate_to(ctx: "Context", target: "Context") -> dict:
    """Copy this whole memory into an empty one elsewhere (a postgresql:// server, or a file): every memory with
    its id, vectors, tags, links, sources and messages, read from one snapshot. The target's audit log starts
    with the import's record, which names the source and the hash of the source's last record, so the two
    chains can be tied together later. The source is left as it was."""
    import tempfile

    _ = ctx.store  # the source first: a missing or unusable one must not leave a new, empty target behind
    if target.store.memories.id_mark():
        raise InputError(f"{target.shown} holds or held memories before; migrate-to fills a new, empty memory, so "
                         "that every id still names the memory it named (use export and import to merge)")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:  # owner-only, unlinked: a disk copy, not RAM
        with ctx.store.snapshot():
            counts = export_jsonl(ExportSource(ctx), spool, vectors=True, id_mark=True)
            head = ctx.store.audit.records(limit=1)
        spool.seek(0)
        provenance = {"migrated_from": ctx.shown, "source_audit_head": head[-1].hash if head else None}
        result = import_jsonl(target, spool, origin="migrate-to", keep_ids=True, provenance=provenance)
    return {"exported": counts, "imported": result, **provenance, "target": target.shown}


SOURCE_FIELDS = ("origin", "format", "scope", "sha256", "received_at", "raw", "n_messages", "stated_at",
                 "redacted_at")
MESSAGE_FIELDS = ("seq", "text", "speaker", "role", "occurred_at", "external_id")


def _known(record: dict, fields: tuple[str, ...]) -> dict:
    """Only the columns memcli knows: a record's other keys are ignored, never passed on as arguments."""
    return {k: record[k] for k in fields if k in record}


# The memory columns an import writes (the id is always new; the context lives in the FTS row).
MEMORY_COLUMNS = ("kind", "text", "speaker", "scope", "occurred_at", "created_at", "strength", "recall_count",
                  "last_recalled_at", "status", "content_hash", "key_text", "pinned", "stale", "flags",
                  "valid_until", "expires_at")


_SCHEMAS = {"source": validate.SOURCE, "message": validate.MESSAGE, "memory": validate.MEMORY}


def _validate(lines: Iterable[str], origin: str):
    from .ingest.parse import json_lines

    meta = None
    sources: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    memories: list[dict[str, Any]] = []
    for lineno, obj in json_lines(lines, origin):
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "meta":
            if obj.get("version") != FORMAT_VERSION:
                raise InputError(f"{origin}:{lineno}: unsupported export version {obj.get('version')!r}")
            meta = obj
            continue
        if kind not in _REQUIRED:
            raise InputError(f"{origin}:{lineno}: expected a record with type meta, source, message or memory")
        validate.check_record(obj, _SCHEMAS[kind], f"{origin}:{lineno}", f"{kind} record", _REQUIRED[kind])
        {"source": sources, "message": messages, "memory": memories}[kind].append(obj)
    if meta is None:
        raise InputError(f"{origin}: not a memcli export (no meta line)")
    validate.check_record(meta, {"embedding_dim": validate.optional(validate.integer(1, 65536)),
                                 "embedding_model": validate.optional(validate.string),
                                 "memory_id_mark": validate.optional(validate.integer(0, 2**62))}, origin,
                          "meta line")
    for kind, records in (("source", sources), ("message", messages), ("memory", memories)):
        ids = [r["id"] for r in records]
        if len(set(ids)) != len(ids):
            raise InputError(f"{origin}: two {kind} records share an id")
    dims = {len(v) for m in memories for v in (m.get("vectors") or [])}
    if len(dims) > 1 or (dims and meta.get("embedding_dim") not in (None, *dims)):
        raise InputError(f"{origin}: vectors of different lengths, or not the meta line's embedding_dim")
    source_ids = {s["id"] for s in sources}
    message_ids = {m["id"] for m in messages}
    for m in messages:
        if m["source_id"] not in source_ids:
            raise InputError(f"{origin}: message {m['id']} refers to missing source {m['source_id']}")
    for mem in memories:
        if not isinstance(mem["messages"], list) or any(x not in message_ids for x in mem["messages"]):
            raise InputError(f"{origin}: memory {mem['id']} refers to a missing message")
        for field in ("strength", "recall_count", "status", "pinned", "stale"):
            mem.setdefault(field, {"strength": 1.0, "recall_count": 0, "status": "active"}.get(field, 0))
        for field in ("speaker", "last_recalled_at", "flags", "valid_until", "expires_at"):
            mem.setdefault(field, None)
        mem.setdefault("context", "")
    for src in sources:
        src.setdefault("stated_at", "")
        src.setdefault("redacted_at", None)
    for msg in messages:
        for field in ("speaker", "role", "occurred_at", "external_id"):
            msg.setdefault(field, None)
    return meta, sources, messages, memories

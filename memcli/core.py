"""The library behind the CLI: `Memory(path).remember(...)`, `.recall(...)`, `.reindex()`.

The embedder is created only when a vector is needed, so commands that never embed never load llama.cpp.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .auditing import AuditMixin
from .consolidate import ConsolidateMixin
from .errors import InputError
from .lifecycle import LifecycleMixin
from .pipeline import PipelineMixin
from .transfer import TransferMixin
from .ingest.keys import KeyOptions, build_keys
from .ingest.parse import Message, decode, parse, require_utf8
from .paths import default_db_path
from .retrieval.fts_query import or_expression, query_terms
from .retrieval.fusion import rrf
from .retrieval.priors import TimeProximity, length_factor, named_speaker
from .retrieval.time_query import parse_time_query
from .storage.store import Filters, NewMemory, Store
from .timeparse import now_utc, parse_time, to_iso

DEFAULT_SCOPE = "default"


@dataclass
class RawInput:
    """One thing to remember: bytes from a file or stdin, or a str given on the command line."""

    origin: str
    data: bytes | str


@dataclass
class RememberResult:
    created: list[int] = field(default_factory=list)
    existing: list[int] = field(default_factory=list)  # re-ingested content that was already stored
    sources: list[int] = field(default_factory=list)
    skipped_sources: list[int] = field(default_factory=list)
    messages: int = 0
    flagged: dict[int, list[dict]] = field(default_factory=dict)  # new memories the scanner flagged


@dataclass
class RecallOptions:
    """Ranking knobs; defaults chosen on the REALTALK tuning split (bench/realtalk.py)."""

    rrf_k: float = 40.0
    weight_fts: float = 1.0
    weight_vector: float = 0.75
    depth: int = 100  # candidates taken from each list before fusion
    fts_weights: tuple[float, float] = (1.0, 0.3)  # bm25 column weights: message, context
    min_similarity: float = 0.2  # vector-only candidates below this are not relevant (abstain)
    prune_min_rows: int = 5000  # from this size on, drop query terms in half of all memories (rank-preserving)
    # Priors on the fused score (retrieval/priors.py); 0 turns one off.
    speaker_boost: float = 0.25  # × (1 + this) for the turns of the one speaker a question names
    length_exponent: float = 0.3  # × (length / 60 chars) ^ this, for 60..240 characters
    time_boost: float = 0.6  # × (1 + this) inside a date the question names ('on 17.01.2024', 'in May')
    time_pad_days: float = 2.0  # ... fading to × 1 over this many days outside it


@dataclass
class Hit:
    id: int
    text: str
    score: float
    kind: str
    scope: str
    speaker: str | None
    tags: list[str]
    occurred_at: str
    created_at: str
    sources: list[dict]
    match: dict
    flags: list[dict] | None = None
    valid_until: str | None = None  # set on a fact a newer one superseded

    def to_json(self) -> dict:
        return asdict(self)


def content_hash(kind: str, scope: str, msg: Message, stated_time: str | None = None) -> str:
    """Identity of a memory: same text, speaker, stated time and id in the same scope is the same memory.

    The stated time is the record's own, the one it inherits from an earlier line of its transcript, or --at
    ('Bob: yes' told on two dated days is two memories); the implicit 'now' is left out so that remembering the
    same note twice does not store it twice.
    """
    when = msg.occurred_at or stated_time or ""
    payload = json.dumps([kind, scope, msg.speaker or "", msg.text, when, msg.external_id or ""])
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class _Batch:
    """What every part of one remember call shares."""

    scope: str
    tags: list[str]
    kind: str
    default_time: str
    stated_at: str
    strength: float
    created_at: str


class Memory(LifecycleMixin, AuditMixin, PipelineMixin, ConsolidateMixin, TransferMixin):
    def __init__(self, path: str | Path | None = None, *, embedder=None, embedder_spec: str | None = None,
                 progress: Callable[[str], None] | None = None, key_options: KeyOptions | None = None,
                 recall_options: RecallOptions | None = None, db=None, create: bool = True,
                 actor: str | None = None, generator=None, generator_spec: str | None = None, plugins=None,
                 resident_vectors: bool = False):
        self.path = Path(path) if path not in (None, ":memory:") else path
        self._db = db
        self._create = create  # False: a missing database is an error, not a new empty one
        self._store: Store | None = None
        self._embedder = embedder
        self._embedder_spec = embedder_spec
        self._progress = progress
        self.key_options = key_options or KeyOptions()
        self.recall_options = recall_options or RecallOptions()
        self.actor = actor or os.environ.get("MEMCLI_ACTOR") or "user"
        self._generator = generator
        self._generator_spec = generator_spec
        self._plugins = plugins
        self.resident = None  # retrieval.resident.ResidentVectors, for processes that recall many times
        if resident_vectors:
            self.keep_vectors_resident()

    # -- lazily opened resources ------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        if self._store is None:
            if self._db is None:
                from .storage import open_database

                self._db = open_database(self.db_path or ":memory:", create=self._create, notice=self._progress)
            self._store = Store(self._db)
            self.plugins.hook.on_connect(conn=self._db.conn)
        return self._store

    @property
    def plugins(self):
        """The pluggy manager (built-in formats plus installed plugins), created on first use."""
        if self._plugins is None:
            from .plugins import plugin_manager

            self._plugins = plugin_manager()
        return self._plugins

    @property
    def db_path(self) -> Path | None:
        """The database file: the given path, else the per-user default; None for an in-memory database."""
        if self.path == ":memory:":
            return None
        return self.path if self.path is not None else default_db_path()

    def _load_model(self, hook: str, spec: str | None, default_loader):
        """A model by name from a plugin's register_* hook, else a GGUF path/spec or the built-in default."""
        if spec:
            from .plugins import collect

            registered = collect(self.plugins, hook)
            if spec in registered:
                return registered[spec]()
        return default_loader(spec, progress=self._progress)

    @property
    def embedder(self):
        if self._embedder is None:
            from .models.embedder import load_embedder

            self._embedder = self._load_model("register_embedders", self._embedder_spec, load_embedder)
        return self._embedder

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None
            self._store = None
            if self.resident is not None:  # its version stamp belonged to the closed connection
                from .retrieval.resident import ResidentVectors

                self.resident = ResidentVectors(exact=self.resident.exact)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- remember -----------------------------------------------------------------------------------------------
    def remember(self, inputs: Sequence[RawInput], *, fmt: str = "auto", scope: str = DEFAULT_SCOPE,
                 tags: Iterable[str] = (), at: str | None = None, kind: str = "episodic",
                 progress: Callable[[int, int], None] | None = None, importance: float = 0.0) -> RememberResult:
        """Parse everything first, embed, then write it all in one transaction: all or nothing. A large input
        (a Spool, see ingest/stream.py) is checked in full first, then written in parts of one transaction each.

        `importance` (0..1) raises the starting strength (1 + 4 × importance), so important memories decay slower.
        """
        if not 0.0 <= importance <= 1.0:
            raise InputError("--importance must be between 0 and 1")
        if not inputs:
            raise InputError("nothing to remember: give text, '-' for stdin, or --file")
        scope = _clean_label(scope, "scope")
        tags = sorted({_clean_label(t, "tag") for t in tags})
        now = now_utc()
        try:
            default_time = to_iso(parse_time(at, now=now)) if at else to_iso(now)
        except ValueError as exc:
            raise InputError(f"--at: {exc}") from None
        stated_at = default_time if at else ""

        from .ingest.stream import Spool
        from .plugins import collect

        importers = collect(self.plugins, "register_importers")
        batch = _Batch(scope, tags, kind, default_time, stated_at, 1.0 + 4.0 * importance, to_iso(now))
        parsed, streams = [], []
        for item in inputs:
            if isinstance(item.data, Spool):
                streams.append(self._plan_stream(item.data, fmt, importers))
                continue
            text = (decode(item.data, item.origin) if isinstance(item.data, bytes)
                    else require_utf8(item.data, item.origin))
            if not text.strip():
                raise InputError(f"{item.origin}: input is empty; nothing to remember")
            item_fmt, messages = parse(text, fmt, item.origin, importers)
            parsed.append((item.origin, text, item_fmt, messages))

        result = RememberResult()
        if parsed:
            self._store_parsed(parsed, batch, result, progress)
        for plan in streams:  # validated in full above: nothing below fails on the input itself
            plan(batch, result, progress)
        self.plugins.hook.after_remember(memory=self, result=result)
        return result

    def _plan_stream(self, spool, fmt: str, importers: dict):
        """Check a large input in full (every line parsed) and return the function that stores it in parts."""
        from .ingest.parse import STREAMING, iter_jsonl
        from .ingest.stream import iter_parts, stream_format

        item_fmt = stream_format(spool, fmt)
        if item_fmt not in importers:
            raise InputError(f"unknown format {item_fmt!r}; choose one of auto, {', '.join(sorted(importers))}")
        line_parser = STREAMING.get(importers[item_fmt])
        if line_parser is None:
            text = decode(spool.read_all(), spool.origin)
            whole = parse(text, item_fmt, spool.origin, importers)
            return lambda batch, result, progress: self._store_parsed(
                [(spool.origin, text, *whole)], batch, result, progress)
        fragment = line_parser is not iter_jsonl  # a JSON line must be read whole; prose lines may come in pieces

        def parts():
            return iter_parts(spool, line_parser, fragment)

        sizes = [len(msgs) for _, _, msgs in parts()]  # the full parse: errors surface here
        total, n_parts = sum(sizes), len(sizes)
        if not total:
            raise InputError(f"{spool.origin}: no message with text found ({item_fmt}); nothing stored")

        def store(batch, result, progress):
            done, lead_time = 0, None
            for k, (start, end, msgs) in enumerate(parts(), 1):
                origin = f"{spool.origin} (part {k} of {n_parts})"
                step = (lambda d, t, base=done, n=len(msgs): progress(base + d * n // max(t, 1), total)) \
                    if progress else None
                # a message without its own time inherits the last one before it, across parts as in one piece
                self._store_parsed([(origin, spool.read_range(start, end), item_fmt, msgs)], batch, result, step,
                                   lead_time=lead_time)
                lead_time = next((m.occurred_at for m in reversed(msgs) if m.occurred_at), lead_time)
                done += len(msgs)

        return store

    def _store_parsed(self, parsed: list, batch: "_Batch", result: RememberResult, progress=None,
                      lead_time: str | None = None) -> None:
        """Embed (no lock held), then write in one transaction: all of `parsed` or none of it. `lead_time`: the
        last stated time before these messages (an earlier part of the same streamed input)."""
        store = self.store
        store.require_writable()  # before minutes of embedding, not after
        scope, stated_at, created_at = batch.scope, batch.stated_at, batch.created_at
        created_before, existing_before = len(result.created), len(result.existing)
        sources_before, messages_before = len(result.sources), result.messages
        plans = []  # (origin, text, fmt, sha, messages, drafts)
        pending_hashes: dict[str, NewMemory] = {}
        listed = set(result.created) | set(result.existing)

        def skip_source(source_id: int) -> None:
            result.skipped_sources.append(source_id)
            for i in store.source_memory_ids(source_id):
                if i not in listed:
                    listed.add(i)
                    result.existing.append(i)

        for origin, text, item_fmt, messages in parsed:
            sha = hashlib.sha256(text.encode()).hexdigest()
            existing_source = store.find_source(sha, scope, item_fmt, stated_at)
            if existing_source is not None:
                skip_source(existing_source)
                continue
            drafts = self._drafts(messages, scope, batch.tags, batch.kind, batch.default_time,
                                  stated_time=stated_at or None, lead_time=lead_time)
            for d in drafts:
                d.strength = batch.strength
            plans.append((origin, text, item_fmt, sha, messages, drafts))
            for d in drafts:
                pending_hashes.setdefault(d.content_hash, d)

        known = store.existing_memories(pending_hashes)
        to_embed = [d for h, d in pending_hashes.items() if h not in known]
        vectors = {}
        if to_embed:
            embedder = self.embedder
            store.check_embedding_model(embedder.model_id, embedder.dimension)
            for d, vecs in zip(to_embed, embedder.embed_chunks([d.key_text for d in to_embed], progress)):
                vectors[d.content_hash] = vecs

        from .scan import scan

        with store.transaction():
            if to_embed:
                self._ensure_model(store, created_at)
            # Another process may have stored the same content since we looked (we held no lock while
            # embedding): look again under the write lock, so concurrent identical ingests never duplicate.
            ids_by_hash = store.existing_memories(pending_hashes)
            for origin, text, item_fmt, sha, messages, drafts in plans:
                raced = store.find_source(sha, scope, item_fmt, stated_at)
                if raced is not None:
                    skip_source(raced)
                    continue
                source_id = store.insert_source(origin=origin, fmt=item_fmt, scope=scope, sha256=sha,
                                                received_at=created_at, raw=text, n_messages=len(messages),
                                                stated_at=stated_at)
                result.sources.append(source_id)
                for seq, (msg, draft) in enumerate(zip(messages, drafts)):
                    message_id = store.insert_message(source_id=source_id, seq=seq, speaker=msg.speaker,
                                                      role=msg.role, text=msg.text, occurred_at=msg.occurred_at,
                                                      external_id=msg.external_id)
                    result.messages += 1
                    memory_id = ids_by_hash.get(draft.content_hash)
                    if memory_id is None:
                        if draft.content_hash not in vectors:  # was stored when we looked, forgotten since
                            self._ensure_model(store, created_at)
                            vectors[draft.content_hash] = self.embedder.embed_chunks([draft.key_text])[0]
                        memory_id = store.insert_memory(draft, created_at, vectors[draft.content_hash])
                        ids_by_hash[draft.content_hash] = memory_id
                        result.created.append(memory_id)
                        listed.add(memory_id)
                        findings = [f.to_json() for f in scan(draft.text)]
                        if findings:  # marked and reported, never silently dropped
                            store.set_flags(memory_id, findings)
                            result.flagged[memory_id] = findings
                    elif memory_id not in listed:
                        listed.add(memory_id)
                        result.existing.append(memory_id)
                    store.link_message(memory_id, message_id)
                    store.add_tags(memory_id, draft.tags)
            new_ids = result.created[created_before:]
            new_set = set(new_ids)
            # Told again, with tags or importance this time (also an input stored before, whole): they apply.
            again = result.existing[existing_before:]
            restated = bool(again and (batch.tags or batch.strength > 1.0))
            if restated:
                for memory_id in again:
                    store.add_tags(memory_id, batch.tags)
                store.raise_strength(again, batch.strength)
            if new_ids or len(result.sources) > sources_before or restated:
                store.audit.append(at=created_at, actor=self.actor, op="remember",
                                   memory_ids=new_ids + again,
                                   detail={"created": len(new_ids),
                                           "existing": len(again),
                                           "sources": result.sources[sources_before:],
                                           "messages": result.messages - messages_before, "scope": scope,
                                           "tags": batch.tags,
                                           "flagged": sorted(i for i in result.flagged if i in new_set)})

    def _ensure_model(self, store: Store, now: str) -> None:
        """Record the embedding model on first use, audited as a model change."""
        first = store.embedding_model() is None
        store.ensure_embedding_model(self.embedder.model_id, self.embedder.dimension)
        if first:
            store.audit.append(at=now, actor=self.actor, op="model", memory_ids=[],
                               detail={"embedding_model": self.embedder.model_id, "dim": self.embedder.dimension})

    def _drafts(self, messages: list[Message], scope: str, tags: list[str], kind: str,
                default_time: str, stated_time: str | None = None, lead_time: str | None = None) -> list[NewMemory]:
        times, stated = [], []
        last_time = lead_time
        for msg in messages:
            # A message without its own time inherits the previous one in the same transcript.
            last_time = msg.occurred_at or last_time
            times.append(last_time or default_time)
            stated.append(last_time or stated_time)  # what the input says (the implicit 'now' is not stated)
        keys = build_keys(messages, self.key_options, times)
        return [
            NewMemory(kind=kind, text=msg.text, speaker=msg.speaker, scope=scope, occurred_at=when,
                      content_hash=content_hash(kind, scope, msg, said), key_text=key_text, context=context,
                      fts_text=fts_text, tags=list(tags))
            for msg, when, said, (key_text, fts_text, context) in zip(messages, times, stated, keys)
        ]

    # -- recall -------------------------------------------------------------------------------------------------
    def keep_vectors_resident(self, *, exact: bool = False) -> None:
        """Search vectors from an in-memory copy (faster per query, costs a load and ~1.5 KB RAM per vector): for
        batch recall and servers, not for one-shot commands. From 20,000 vectors on, a binary-code shortlist is
        re-ranked exactly (retrieval/resident.py); `exact` scores every vector instead."""
        from .retrieval.resident import ResidentVectors

        if self.resident is None or self.resident.exact != exact:
            self.resident = ResidentVectors(exact=exact)

    def search_words(self, terms: list[str], filters: Filters, depth: int) -> list[tuple[int, float]]:
        """The full-text half of recall: (memory id, bm25) best first. Terms found in half of all memories are
        dropped first (their bm25 weight is nil; see Store.ubiquitous_terms) unless every term is one."""
        opts, store = self.recall_options, self.store
        if len(terms) > 1:
            common = store.ubiquitous_terms(terms, opts.prune_min_rows)
            if len(common) < len(terms):
                terms = [t for t in terms if t not in common]
        match = or_expression(terms)
        return store.search_fts(match, filters, depth, opts.fts_weights) if match else []

    def recall(self, query: str, *, limit: int = 10, filters: Filters | None = None, touch: bool = True,
               fresh: bool = False, asked_at: datetime | None = None) -> list[Hit]:
        """Hybrid recall. `fresh` weights each fused score by (0.5 + 0.5 × retention), so memories that are
        used and recent rank above stale ones of equal relevance. `asked_at` (default: now) is when the question
        is asked from: 'last week' and retention are read against it (a replayed conversation, a benchmark)."""
        if not query or not query.strip():
            raise InputError("empty query")
        require_utf8(query, "the query")
        if limit < 1:
            raise InputError("--limit must be at least 1")
        filters = filters or Filters()
        opts = self.recall_options
        store = self.store
        depth = max(opts.depth, limit)
        lists: dict[str, list[int]] = {}
        similarity: dict[int, float] = {}
        bm25: dict[int, float] = {}

        terms = query_terms(query)
        query_vec = None
        if store.embedding_model() is not None:
            embedder = self.embedder
            store.check_embedding_model(embedder.model_id, embedder.dimension)
            query_vec = embedder.embed_query(query)  # outside the snapshot: no lock held while the model runs
        # One read snapshot from search to records: a concurrent forget or consolidation cannot remove a hit
        # between finding it and reading it.
        with store.snapshot():
            if terms:
                fts = self.search_words(terms, filters, depth)
                lists["fts"] = [mid for mid, _ in fts]
                bm25 = dict(fts)
            if query_vec is not None:
                vec = store.search_vectors(query_vec, filters, depth, resident=self.resident)
                similarity = dict(vec)
                lists["vector"] = [mid for mid, sim in vec if sim >= opts.min_similarity]
            fused = rrf(lists, {"fts": opts.weight_fts, "vector": opts.weight_vector}, k=opts.rrf_k)
            self._apply_priors(query, fused, asked_at or now_utc())
            superseded = store.superseded_among([f.memory_id for f in fused])
            if superseded:  # history stays recallable, but current facts come first
                for f in fused:
                    if f.memory_id in superseded:
                        f.score *= 0.5
                fused.sort(key=lambda f: -f.score)
            if fresh:
                from .retention import retention

                now = asked_at or now_utc()
                rows = {r[0]: r for r in store.retention_rows([f.memory_id for f in fused])}
                for f in fused:
                    _mid, created, last, strength, pinned = rows[f.memory_id]
                    f.score *= 0.5 + 0.5 * retention(now, created, last, strength, pinned=bool(pinned))
                fused.sort(key=lambda f: -f.score)
            fused = fused[:limit]
            records = store.memories([f.memory_id for f in fused])
        hits = []
        for f in fused:
            rec = records[f.memory_id]
            hits.append(Hit(
                id=rec["id"], text=rec["text"], score=round(f.score, 6), kind=rec["kind"], scope=rec["scope"],
                speaker=rec["speaker"], tags=rec["tags"], occurred_at=rec["occurred_at"],
                created_at=rec["created_at"],
                sources=[{"source_id": s["source_id"], "message_id": s["message_id"]} for s in rec["sources"]],
                match={
                    "fts_rank": f.ranks.get("fts"),
                    "vector_rank": f.ranks.get("vector"),
                    "similarity": None if f.memory_id not in similarity else round(similarity[f.memory_id], 4),
                    "bm25": None if f.memory_id not in bm25 else round(bm25[f.memory_id], 4),
                },
                flags=rec["flags"],
                valid_until=rec["valid_until"],
            ))
        if store.read_only:  # a backup on read-only media can be searched; the recall is just not recorded
            return hits
        log = self.recall_logging()
        if (touch and hits) or log:
            now = to_iso(now_utc())
            with store.transaction():
                if touch:
                    store.touch([h.id for h in hits], now)
                if log:
                    # The query itself is not logged: a digest is enough to match accesses, and a logged query
                    # would keep words of memories the user later forgets.
                    store.audit.append(at=now, actor=self.actor, op="recall", memory_ids=[h.id for h in hits],
                                       detail={"query_sha256": hashlib.sha256(query.encode()).hexdigest(),
                                               "hits": len(hits), "touched": touch})
        return hits

    def _apply_priors(self, query: str, fused: list, asked_at: datetime) -> None:
        """Re-weight fused candidates by speaker named, length and the question's dates; re-sort in place."""
        opts = self.recall_options
        if not fused or not (opts.speaker_boost or opts.length_exponent or opts.time_boost):
            return
        rows = self.store.ranking_rows([f.memory_id for f in fused])
        speaker = named_speaker(query, (r[0] for r in rows.values())) if opts.speaker_boost else None
        when = None
        if opts.time_boost:
            tq = parse_time_query(query, asked_at)
            # 1..9998: a yearless day is expanded over these years, and a span may end in the next year
            years = [min(max(int(r[2][:4]), 1), 9998) for r in rows.values() if r[2] and r[2][:4].isdigit()]
            if tq and years:
                when = TimeProximity(tq.iso_spans(min(years), max(years)), opts.time_boost, opts.time_pad_days)
        for f in fused:
            who, n_chars, occurred = rows[f.memory_id]
            f.score *= length_factor(n_chars, opts.length_exponent)
            if speaker is not None and who == speaker:
                f.score *= 1.0 + opts.speaker_boost
            if when is not None:
                f.score *= when.factor(occurred)
        fused.sort(key=lambda f: -f.score)

    # -- maintenance --------------------------------------------------------------------------------------------
    def reindex(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Re-embed every memory with the current embedder, replacing all vectors in one transaction."""
        store = self.store
        store.require_writable()
        embedder = self.embedder
        total = store.counts()["memories"]
        batches = []
        done = 0
        for batch in store.iter_memory_keys():
            vecs = embedder.embed_chunks([k for _, k in batch])
            batches.append([(mid, v) for (mid, _), v in zip(batch, vecs)])
            done += len(batch)
            if progress:
                progress(done, total)
        with store.transaction():
            previous = store.embedding_model()
            store.reset_vectors(embedder.model_id, embedder.dimension)
            for batch in batches:
                for mid, v in batch:
                    store.add_vectors(mid, v)
            store.audit.append(at=to_iso(now_utc()), actor=self.actor, op="reindex", memory_ids=[],
                               detail={"from": list(previous) if previous else None,
                                       "embedding_model": embedder.model_id, "dim": embedder.dimension,
                                       "memories": done})
        return done

    def backup(self, target: str | Path) -> Path:
        """A consistent copy through SQLite's online backup API, safe while other processes write."""
        target = Path(target).expanduser()
        if target.exists():
            raise InputError(f"{target} exists; choose a new path")
        if not target.parent.is_dir():
            raise InputError(f"{target.parent} is not a directory")
        self.store.backup_to(target)
        return target

    def stats(self) -> dict:
        store = self.store
        model = store.embedding_model()
        return {**store.counts(), "embedding_model": model[0] if model else None,
                "embedding_dim": model[1] if model else None}


def _clean_label(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InputError(f"empty {what}")
    if len(value) > 200 or any(ord(c) < 32 for c in value):
        raise InputError(f"invalid {what} {value[:40]!r}: at most 200 printable characters")
    return require_utf8(value, f"the {what}")

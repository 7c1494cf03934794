"""Keeping a database in shape: re-embedding every memory, online backups, counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .changes import Op
from .errors import InputError

if TYPE_CHECKING:
    from .context import Context


def reindex(ctx: "Context", progress: Callable[[int, int], None] | None = None) -> int:
    """Re-embed every memory with the current embedder, replacing all vectors in one change."""
    store = ctx.store
    store.require_writable()
    embedder = ctx.embedder
    total = store.memories.count()
    batches = []
    done = 0
    for batch in store.keys.iter_embedding_keys():
        vecs = embedder.embed_chunks([k for _, k in batch])
        batches.append([(mid, v) for (mid, _), v in zip(batch, vecs)])
        done += len(batch)
        if progress:
            progress(done, total)
    previous = store.vectors.model()
    with ctx.change(Op.REINDEX, detail={"from": list(previous) if previous else None,
                                        "embedding_model": embedder.model_id, "dim": embedder.dimension,
                                        "memories": done}):
        store.vectors.reset(embedder.model_id, embedder.dimension, getattr(embedder, "sha256", None))
        for vectors in batches:
            for mid, v in vectors:
                store.vectors.add(mid, v)
    return done


def backup(ctx: "Context", target: str | Path) -> Path:
    """A consistent copy through SQLite's online backup API, safe while other processes write."""
    target = Path(target).expanduser()
    if target.exists():
        raise InputError(f"{target} exists; choose a new path")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent} is not a directory")
    ctx.store.maintenance.backup_to(target)
    return target


def stats(ctx: "Context") -> dict:
    store = ctx.store
    model = store.vectors.model()
    return {**store.maintenance.counts(), "embedding_model": model[0] if model else None,
            "embedding_dim": model[1] if model else None}


def scrub(ctx: "Context") -> bool:
    """Fold the write-ahead log into the database and truncate it, so pages that held forgotten text are
    overwritten on disk. False while another process keeps an older snapshot open."""
    ctx.store.require_writable()
    return ctx.store.maintenance.scrub_files()

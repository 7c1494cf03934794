"""What every service is handed: the store, the models, the plugins, who is acting and what time it is.

Services are plain functions of a Context (`recall(ctx, query)`, `forget(ctx, ids)`), so each one's dependencies are
its imports and this object, nothing else. Resources open lazily: a command that never embeds never loads
llama.cpp, and one that never touches the database never opens it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from .changes import Change, Op, change
from .ingest.keys import KeyOptions
from .paths import database, server_url
from .storage.store import Store
from .timeparse import now_utc
from .types import RecallOptions


class Models:
    """The embedder and the generator, each loaded on first use: a plugin's registered name, a GGUF path or spec,
    or the built-in default."""

    def __init__(self, plugins: Callable[[], Any], *, embedder: Any = None, embedder_spec: str | None = None,
                 generator: Any = None, generator_spec: str | None = None, reranker: Any = None,
                 reranker_spec: str | None = None, progress: Callable[[str], None] | None = None):
        self._plugins = plugins
        self._embedder = embedder
        self._generator = generator
        self._reranker = reranker
        self.embedder_spec = embedder_spec
        self.generator_spec = generator_spec
        self.reranker_spec = reranker_spec
        self._progress = progress

    def _load(self, hook: str, spec: str | None, default_loader: Callable) -> Any:
        if spec:
            from .plugins import collect

            registered = collect(self._plugins(), hook)
            if spec in registered:
                return registered[spec]()
        return default_loader(spec, progress=self._progress)

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from .models.embedder import load_embedder

            self._embedder = self._load("register_embedders", self.embedder_spec, load_embedder)
        return self._embedder

    @property
    def generator(self) -> Any:
        if self._generator is None:
            from .models.generator import load_generator

            self._generator = self._load("register_generators", self.generator_spec, load_generator)
        return self._generator

    @property
    def reranker(self) -> Any:
        """The cross-encoder of recall's second stage, or None: there is none unless one is configured (no
        reranker ships on PyPI). 'off' turns a configured one off for a command."""
        if self._reranker is None and self.reranker_spec:
            from .config import reranker_off

            if reranker_off(self.reranker_spec):
                return None
            from .models.reranker import load_reranker

            self._reranker = load_reranker(self.reranker_spec, progress=self._progress)
        return self._reranker

    @property
    def loaded_embedder(self) -> Any:
        """The embedder if it is loaded already, else None (without loading it)."""
        return self._embedder

    @property
    def loaded_generator(self) -> Any:
        return self._generator


class Context:
    def __init__(self, path: str | Path | None = None, *, db: Any = None, create: bool = True,
                 models: Models | None = None, plugins: Any = None, actor: str = "user",
                 clock: Callable[[], datetime] = now_utc, key_options: KeyOptions | None = None,
                 recall_options: RecallOptions | None = None, progress: Callable[[str], None] | None = None,
                 migrate: bool = True):
        self.path = path
        self._location: str | Path | None = None  # resolved on first use (the default reads environment and config)
        self._migrate = migrate  # False: open the database as it is (no schema upgrade)
        self._db = db
        self._create = create  # False: a missing database is an error, not a new empty one
        self._store: Store | None = None
        self._plugins = plugins
        self.models = models or Models(lambda: self.plugins, progress=progress)
        self.actor = actor
        self.clock = clock
        self.key_options = key_options or KeyOptions()
        self.recall_options = recall_options or RecallOptions()
        self.progress = progress
        self.resident: Any = None  # retrieval.resident.ResidentVectors, for processes that recall many times
        self.resident_words: Any = None  # retrieval.resident_words.ResidentWords, the same for full text

    def _where(self) -> str | Path:
        """The given path or URL, else the per-user default (a file, or a server named by MEMCLI_DB or config)."""
        if self._location is None:
            self._location = ":memory:" if str(self.path) == ":memory:" else database(self.path)
        return self._location

    @property
    def url(self) -> str | None:
        """The postgresql:// URL of a memory kept on a server, else None."""
        where = self._where()
        return where if isinstance(where, str) and server_url(where) else None

    @property
    def db_path(self) -> Path | None:
        """The database file; None for an in-memory database or one on a server (`url`)."""
        where = self._where()
        return where if isinstance(where, Path) else None

    @property
    def shown(self) -> str:
        """The database as messages name it (a URL without its password)."""
        from .paths import redact_url

        path = self.db_path
        return redact_url(self.url) if self.url else str(path) if path else ":memory:"

    @property
    def store(self) -> Store:
        if self._store is not None and self.url is not None and self._db is not None and self._db.conn.broken:
            # a long-lived process (the MCP server) outlives a server restart or a dropped connection: open a
            # new one, once, between calls (never inside a change: that one failed with its connection)
            self.close()
        if self._store is None:
            if self._db is None:
                url = self.url
                if url is not None:
                    from .storage.postgres import open_server

                    self._db = open_server(url, create=self._create, notice=self.progress, migrate=self._migrate)
                else:
                    from .storage import open_database

                    self._db = open_database(self.db_path or ":memory:", create=self._create, notice=self.progress,
                                             migrate=self._migrate)
            self._store = Store(self._db)
            self.plugins.hook.on_connect(conn=self._db.conn)
        return self._store

    @property
    def plugins(self) -> Any:
        """The pluggy manager (built-in formats plus installed plugins), created on first use."""
        if self._plugins is None:
            from .plugins import plugin_manager

            self._plugins = plugin_manager()
        return self._plugins

    @property
    def embedder(self) -> Any:
        return self.models.embedder

    @property
    def generator(self) -> Any:
        return self.models.generator

    def now(self) -> datetime:
        return self.clock()

    def change(self, op: Op, memory_ids: Iterable[int] = (), detail: dict | None = None) -> AbstractContextManager[Change]:
        """memcli.changes.change on this context."""
        return change(self, op, memory_ids, detail)

    def drop_stale_copies(self) -> None:
        """Let go of resident copies (vectors, full-text postings) that no longer match the database, so a
        forgotten memory's vector or postings do not stay in this process's memory until the next search."""
        if self._store is None:
            return
        if self.resident is not None:
            self.resident.drop_if_stale(self._store.vectors)
        if self.resident_words is not None:
            self.resident_words.drop_if_stale(self._store)

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None
            self._store = None
            if self.resident is not None:  # its version stamp belonged to the closed connection
                from .retrieval.resident import ResidentVectors

                self.resident = ResidentVectors(exact=self.resident.exact)
            if self.resident_words is not None:
                from .retrieval.resident_words import ResidentWords

                self.resident_words = ResidentWords()

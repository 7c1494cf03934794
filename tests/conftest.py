"""Shared fixtures: temporary real databases, a deterministic embedder for ranking logic, and the real model."""

from __future__ import annotations

import pytest

from memcli.core import Memory
from memcli.models.hashing import HashEmbedder  # noqa: F401 - re-exported for tests


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "memory.db"


@pytest.fixture(scope="session")
def real_embedder():
    """The default all-MiniLM-L6-v2 GGUF, prepared once into the user cache (or $MEMCLI_CACHE_DIR)."""
    from memcli.models.embedder import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def real_generator():
    """The default gemma-3-270m GGUF, assembled once from its PyPI packages into the cache."""
    from memcli.models.generator import load_generator

    return load_generator()


class ScriptedGenerator:
    """Returns fixed text: lets tests drive the grounding check with known good and bad proposals."""

    model_id = "scripted"

    def __init__(self, *outputs):
        self.outputs = list(outputs)
        self.prompts = []

    def complete(self, prompt, **_kwargs):
        self.prompts.append(prompt)
        return self.outputs.pop(0) if self.outputs else ""


@pytest.fixture
def real_memory(db_path, real_embedder):
    with Memory(db_path, embedder=real_embedder) as mem:
        yield mem


@pytest.fixture
def cli(tmp_path, monkeypatch, real_embedder):
    """Run the real CLI in-process against a temporary database; returns (runner, invoke)."""
    from typer.testing import CliRunner

    from memcli.cli.app import app

    monkeypatch.setenv("MEMCLI_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("MEMCLI_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("MEMCLI_EMBEDDER", raising=False)
    monkeypatch.delenv("MEMCLI_GENERATOR", raising=False)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(app, list(args), input=input)

    return invoke


def outside(mem):
    """A second, raw connection to mem's database file: edits through it are what an attacker, another program or
    time passing would do. memcli's own connection refuses writes outside a change (storage/database.py).
    On Postgres: another session as the same role, with the same `?` parameters (no guard on it)."""
    if mem.ctx.url is not None:
        from memcli.storage.postgres.connection import connect

        return connect(mem.ctx.url)
    import sqlean
    import sqlite_vec

    conn = sqlean.connect(str(mem.db_path), isolation_level=None, timeout=10)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def pytest_collection_modifyitems(config, items):
    """A test marked sqlite_only runs once, on SQLite: it is about SQLite's own files."""
    keep = [i for i in items if not (i.get_closest_marker("sqlite_only") and "[postgres" in i.nodeid)]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


# -- PostgreSQL: a real server (pgserver: PostgreSQL 16 + pgvector from PyPI), one per test session ---------------
_roles = iter(range(1, 1_000_000))


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A private PostgreSQL with pgvector, started once. Skips where none can start, unless CI requires it
    ($MEMCLI_REQUIRE_POSTGRES, set by .ci/run)."""
    import os

    try:
        import pgserver
        import psycopg
    except ImportError as exc:
        if os.environ.get("MEMCLI_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"no PostgreSQL for these tests: {exc}")
    srv = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield srv


def pg_role(server, name: str | None = None) -> str:
    """A new login role that may create its memory schema (as a server's admin grants it); its URL."""
    import psycopg

    name = name or f"t{next(_roles)}"
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
        conn.execute(f'GRANT CREATE ON DATABASE postgres TO "{name}"')
    return server.get_uri().replace("postgres:@", f"{name}@", 1)


@pytest.fixture
def pg_url(pg_server):
    """An empty memory on the test server: a role of its own, so its schema is new."""
    return pg_role(pg_server)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request):
    """The storage-contract tests run once per backend: the same test on a SQLite file, then on Postgres."""
    return request.param


@pytest.fixture
def make_target(request, backend, tmp_path):
    """A function giving a new, empty memory location of this backend each call."""
    count = iter(range(1, 1_000_000))
    if backend == "sqlite":
        return lambda: tmp_path / f"memory{next(count)}.db"
    server = request.getfixturevalue("pg_server")
    return lambda: pg_role(server)


@pytest.fixture
def target(make_target):
    """Where a storage-contract test keeps its memory: a SQLite file, then a Postgres schema (same test)."""
    return make_target()


@pytest.fixture
def hash_memory(target):
    with Memory(target, embedder=HashEmbedder()) as mem:
        yield mem

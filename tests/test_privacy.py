"""Owner-only files, no network in normal operation, and hostile text through parsers and the query path."""

import json
import socket
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memcli.core import RawInput
from memcli.errors import InputError
from memcli.ingest.parse import parse


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_model_cache_and_config_are_owner_only(tmp_path, monkeypatch, real_embedder):
    from memcli.config import set_value
    from memcli.models import minilm

    weights = minilm.locate_weights(lambda _m: None)
    monkeypatch.setenv(minilm.ENV_WEIGHTS, str(weights))
    monkeypatch.setenv("MEMCLI_CACHE_DIR", str(tmp_path / "deep" / "cache"))
    path = minilm.prepare()
    for directory in (tmp_path / "deep", tmp_path / "deep" / "cache", path.parent):
        assert mode(directory) == 0o700, directory
    assert mode(path) == 0o600 and mode(path.with_suffix(".sha256")) == 0o600
    monkeypatch.setenv("MEMCLI_CONFIG", str(tmp_path / "cfg" / "config.toml"))
    cfg = set_value("generator", "/x.gguf")
    assert mode(cfg) == 0o600 and mode(cfg.parent) == 0o700


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_main_commands_work_with_networking_disabled(cli, no_network, tmp_path):
    steps = [
        ("remember", "--tag", "t", "-", "I keep my bike in the shed"),
        ("recall", "where is the bike", "--json"),
        ("ask", "what is my blood type?", "--json"),
        ("consolidate", "--json"),
        ("audit", "verify"),
        ("audit", "scan"),
        ("export", "-o", str(tmp_path / "e.jsonl")),
        ("forget", "--tag", "t", "--yes"),
    ]
    for step in steps:
        args, stdin = (step[:-1], step[-1]) if step[0] == "remember" else (step, None)
        r = cli(*args, input=stdin)
        assert r.exit_code == 0, (step, r.output)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=400), fmt=st.sampled_from(["auto", "text", "chat", "jsonl", "json"]))
def test_parsers_either_parse_or_raise_input_error(text, fmt):
    try:
        resolved, messages = parse(text, fmt, "h")
    except InputError:
        return
    assert resolved in ("text", "chat", "jsonl", "json") and all(m.text.strip() for m in messages)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=80))
def test_any_query_is_answered_or_refused_cleanly(hash_memory, query):
    if hash_memory.stats()["memories"] == 0:
        hash_memory.remember([RawInput("a", 'He said "NEAR" OR (maybe) AND * not -- DROP TABLE memories;')])
    try:
        hits = hash_memory.recall(query, touch=False)
    except InputError:
        assert not query.strip()
        return
    assert isinstance(hits, list)
    assert hash_memory.stats()["memories"] == 1


@settings(max_examples=40, deadline=None)
@given(records=st.lists(st.dictionaries(st.sampled_from(["id", "text", "speaker", "timestamp", "role"]),
                                        st.one_of(st.text(max_size=30), st.integers(), st.none(),
                                                  st.floats(allow_nan=False)), max_size=5), max_size=5))
def test_jsonl_records_of_any_shape(records):
    text = "\n".join(json.dumps(r) for r in records)
    try:
        parse(text, "jsonl", "h")
    except InputError:
        pass

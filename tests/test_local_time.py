"""Times are the user's: a time without a zone is local (TZ), people see local time with its offset, JSON keeps
ISO-8601 UTC; --since/--until read the phrases recall's question reader reads, and refuse ambiguous units."""

from __future__ import annotations

import json
import time

import pytest


@pytest.fixture
def lisbon(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Lisbon")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


@pytest.fixture
def run(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from memcli.cli.app import app

    monkeypatch.setenv("MEMCLI_DB", str(tmp_path / "m.db"))
    monkeypatch.setenv("MEMCLI_EMBEDDER", "hash")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_a_time_without_a_zone_is_local_and_shown_back_local(lisbon, run):
    from memcli.cli.output import local_time

    assert run("remember", "dinner with Ana at the harbour", "--at", "2024-05-03 15:00").exit_code == 0
    hit = json.loads(run("recall", "dinner harbour", "--json").stdout)[0]
    assert hit["occurred_at"] == "2024-05-03T14:00:00Z"  # Lisbon is UTC+1 in May; JSON stays UTC
    assert local_time(hit["occurred_at"]) == "2024-05-03 15:00 +01:00"
    shown = run("audit", "show", str(hit["id"])).stdout
    assert "occurred: 2024-05-03 15:00 +01:00" in shown


@pytest.mark.parametrize("phrase", ["last week", "2 months ago", "3mo", "in May", "yesterday", "7d"])
def test_since_and_until_read_the_question_phrases(run, phrase):
    assert run("remember", "a note").exit_code == 0
    r = run("recall", "note", "--since", phrase)
    assert r.exit_code == 0, r.stderr
    assert run("recall", "note", "--until", phrase).exit_code == 0


def test_an_ambiguous_unit_is_refused(run):
    assert run("remember", "a note").exit_code == 0
    r = run("recall", "note", "--since", "2m")
    assert r.exit_code == 1 and "could be minutes or months; write 2min or 2mo" in r.stderr


def test_a_query_of_letter_noise_returns_nothing(tmp_path, real_embedder):
    """'zzzqqq nothing' returned a one-character memory at similarity 0.26; real questions still find their
    memory without a shared word ('where do I live?' ~ 'I moved to Lisbon', cosine 0.24)."""
    from memcli.core import Memory, RawInput

    with Memory(tmp_path / "m.db", embedder=real_embedder) as mem:
        mem.remember([RawInput("a", "I moved to Lisbon in March and my cat is called Miso"), RawInput("b", "x"),
                      RawInput("c", "I am allergic to penicillin")])
        assert mem.recall("zzzqqq nothing") == []
        assert mem.recall("qwrtzp bcdfgh") == []
        assert "Lisbon" in mem.recall("where do I live?")[0].text
        # a real word the model spells out in pieces is no noise (a review found it abstained)
        assert "penicillin" in mem.recall("What allergies do I have?")[0].text

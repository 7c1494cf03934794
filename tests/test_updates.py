"""Corrections (edit / --supersedes / MCP update), expiry and listing."""

from __future__ import annotations

import pytest

from memcli.core import Memory, RawInput
from memcli.errors import InputError
from memcli.models.hashing import HashEmbedder
from memcli.types import Filters


def test_a_correction_supersedes_and_keeps_history(hash_memory):
    mem = hash_memory
    old = mem.remember([RawInput("a", "the dentist appointment is at 3pm")], tags=["health"]).created[0]
    new = mem.update(old, "the dentist appointment is at 4pm")
    hits = mem.recall("dentist appointment", touch=False)
    assert [h.id for h in hits][:1] == [new] and old in [h.id for h in hits]  # history stays recallable, below
    assert next(h for h in hits if h.id == old).valid_until is not None
    assert mem.get([new])[new]["tags"] == ["health"] and mem.get([new])[new]["sources"]
    story = mem.audit_show(old)
    assert {"relation": "superseded_by", "memory_id": new} in story["links"]["out"]
    assert [r.op for r in mem.audit_log()][-2:] == ["update", "recall"]
    with pytest.raises(InputError, match="superseded: correct the current one"):
        mem.update(old, "5pm")
    with pytest.raises(InputError, match="already says that"):
        mem.update(new, "the dentist appointment is at 4pm")
    with pytest.raises(InputError, match="no memory with id 999"):
        mem.update(999, "x")
    assert mem.audit_verify()["ok"]


def test_forgetting_the_correction_makes_the_old_memory_current_again(hash_memory):
    mem = hash_memory
    old = mem.remember([RawInput("a", "the car is parked on level 2")]).created[0]
    new = mem.update(old, "the car is parked on level 3")
    mem.forget([new])
    assert mem.get([old])[old]["valid_until"] is None


def test_expired_memories_leave_recall_then_consolidate_erases_them(tmp_path):
    from datetime import datetime, timezone

    clock = {"now": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    with Memory(tmp_path / "m.db", embedder=HashEmbedder(), clock=lambda: clock["now"]) as mem:
        temp = mem.remember([RawInput("a", "the wifi guest password is tulip42")], expires="2d").created[0]
        keep = mem.remember([RawInput("b", "the wifi router is in the hall")]).created[0]
        assert mem.get([temp])[temp]["expires_at"] == "2026-01-03T00:00:00Z"
        with pytest.raises(InputError, match="--expires: .* not in the future"):
            mem.remember([RawInput("c", "x")], expires="2020-01-01")
    # recall compares with the real clock: an expiry in the past hides the memory at once
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        assert [h.id for h in mem.recall("wifi password")] == [keep]
        mem.consolidate()
        assert mem.get([temp]) == {} and keep in mem.get([keep])
        assert any(temp in r.memory_ids for r in mem.audit_log(op="forget"))


def test_list_pages_newest_first(hash_memory):
    mem = hash_memory
    ids = mem.remember([RawInput(f"n{i}", f"note {i}") for i in range(7)], tags=["t"]).created
    first = mem.recent(Filters(tags=["t"]), limit=3)
    assert [r["id"] for r in first] == ids[::-1][:3]
    second = mem.recent(Filters(tags=["t"]), limit=3, before_id=first[-1]["id"])
    assert [r["id"] for r in second] == ids[::-1][3:6]


def test_cli_edit_and_supersedes(cli):
    assert cli("remember", "the meeting is at 3pm").exit_code == 0
    r = cli("edit", "1", "the meeting is at 4pm", "--json")
    assert r.exit_code == 0 and '"supersedes": 1' in r.stdout
    r = cli("remember", "--supersedes", "2", "the meeting is at 5pm", "-q")
    assert r.exit_code == 0 and r.stdout.strip() == "3"
    r = cli("remember", "--supersedes", "3", "a", "b")
    assert r.exit_code == 2 and "exactly one TEXT" in r.stderr

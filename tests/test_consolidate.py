"""consolidate: near-duplicate merge, day summaries regenerated on change, locking, dry runs, freshness."""

import fcntl
import json
import os

from memcli.core import RawInput
from memcli.storage.store import Filters


def chat(day, *lines):
    return "\n".join(f"[{day} 10:0{i}] {line}" for i, line in enumerate(lines))


def test_near_duplicates_merge_and_keep_both_provenances(hash_memory):
    mem = hash_memory
    a = mem.remember([RawInput("one", "Ana: the spare key is under the blue pot")], fmt="chat")
    b = mem.remember([RawInput("two", "Ana: The spare key is under the blue pot!")], fmt="chat")
    assert a.created != b.created  # different text, so remember kept both
    report = mem.consolidate()
    assert report["merged"] == [{"merged": b.created[0], "into": a.created[0]}]
    hits = mem.recall("spare key blue pot")
    assert [h.id for h in hits] == a.created and {s["source_id"] for s in hits[0].sources} == {1, 2}
    mem.forget(a.created)  # the merged copy holds the same words: it goes too
    assert mem.store.memory_row(b.created[0]) is None


def test_day_summaries_follow_their_inputs(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("d1", chat("2024-03-01", "Ana: packed the boxes", "Bo: booked the van",
                                      "Ana: the lawyer zq9secret called"))])
    report = mem.consolidate()
    assert report["summaries_written"] == ["default/2024-03-01"]
    sid = mem.store.summary_for("default", "day", "2024-03-01")
    summary = mem.store.memory_row(sid)
    assert summary["kind"] == "summary" and "zq9secret" in summary["text"]
    assert mem.consolidate()["new_memories"] == 0  # incremental: nothing new, nothing redone
    lawyer = next(h.id for h in mem.recall("lawyer called", filters=Filters(kinds=["episodic"])))
    mem.forget([lawyer])
    assert mem.store.memory_row(sid)["stale"] == 1
    report = mem.consolidate()
    assert report["summaries_regenerated"] == 1
    new_sid = mem.store.summary_for("default", "day", "2024-03-01")
    # Two members left: below the minimum, so no summary; either way the forgotten words are gone.
    texts = " ".join(r[0] for r in mem.store.conn.execute("SELECT text FROM memories"))
    assert "zq9secret" not in texts and (new_sid is None or new_sid != sid)


def test_dry_run_changes_nothing(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("d1", chat("2024-03-02", "Ana: one", "Bo: two", "Ana: three"))])
    before = mem.stats()
    report = mem.consolidate(dry_run=True)
    assert report["summaries_written"] == ["default/2024-03-02"] and mem.stats() == before
    assert mem.consolidate()["new_memories"] == 3  # the dry run did not advance the high-water mark


def test_only_one_consolidation_at_a_time(hash_memory, db_path):
    mem = hash_memory
    mem.remember([RawInput("a", "x y z")])
    fd = os.open(str(db_path) + ".consolidate.lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert mem.consolidate() == {"skipped": "another consolidation is running"}
    finally:
        os.close(fd)
    assert mem.consolidate()["new_memories"] == 1


def test_fresh_prefers_recent_and_used_memories(hash_memory):
    mem = hash_memory
    old = mem.remember([RawInput("a", "meeting notes about the budget")]).created[0]
    new = mem.remember([RawInput("b", "budget meeting notes about it")]).created[0]
    mem.store.conn.execute("UPDATE memories SET created_at = '2020-01-01T00:00:00Z' WHERE id = ?", [old])
    ranked = [h.id for h in mem.recall("budget meeting notes", fresh=True, touch=False)]
    assert ranked.index(new) < ranked.index(old)


def test_cli_consolidate(cli):
    cli("remember", "-", input=chat("2024-03-03", "Ana: a", "Bo: b", "Ana: c"))
    r = cli("consolidate", "--json")
    assert json.loads(r.stdout)["summaries_written"] == ["default/2024-03-03"]
    line = cli("consolidate", "--cron-line").stdout
    assert "--actor cron consolidate" in line and line.split()[5].startswith("/")

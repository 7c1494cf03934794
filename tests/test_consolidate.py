"""consolidate: near-duplicate merge, day summaries regenerated on change, locking, dry runs, freshness."""

import fcntl
import json
import os

import pytest

from memcli.core import Memory, RawInput
from memcli.types import Filters
from tests.conftest import outside


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
    assert mem.store.memories.row(b.created[0]) is None


def test_day_summaries_follow_their_inputs(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("d1", chat("2024-03-01", "Ana: packed the boxes", "Bo: booked the van",
                                      "Ana: the lawyer zq9secret called"))])
    report = mem.consolidate()
    assert report["summaries_written"] == ["default/2024-03-01"]
    sid = mem.store.summaries.of("default", "day", "2024-03-01")
    summary = mem.store.memories.row(sid)
    assert summary["kind"] == "summary" and "zq9secret" in summary["text"]
    assert mem.consolidate()["new_memories"] == 0  # incremental: nothing new, nothing redone
    lawyer = next(h.id for h in mem.recall("lawyer called", filters=Filters(kinds=["episodic"])))
    mem.forget([lawyer])
    assert mem.store.memories.row(sid)["stale"] == 1
    report = mem.consolidate()
    assert report["summaries_regenerated"] == 1
    new_sid = mem.store.summaries.of("default", "day", "2024-03-01")
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
        skipped = mem.consolidate()
        assert skipped["skipped"] == "another consolidation is running" and skipped["merged"] == []
    finally:
        os.close(fd)
    assert mem.consolidate()["new_memories"] == 1


def test_fresh_prefers_recent_and_used_memories(hash_memory):
    mem = hash_memory
    old = mem.remember([RawInput("a", "meeting notes about the budget")]).created[0]
    new = mem.remember([RawInput("b", "budget meeting notes about it")]).created[0]
    outside(mem).execute("UPDATE memories SET created_at = '2020-01-01T00:00:00Z' WHERE id = ?", [old])
    ranked = [h.id for h in mem.recall("budget meeting notes", fresh=True, touch=False)]
    assert ranked.index(new) < ranked.index(old)


def test_cli_consolidate(cli):
    cli("remember", "-", input=chat("2024-03-03", "Ana: a", "Bo: b", "Ana: c"))
    r = cli("consolidate", "--json")
    assert json.loads(r.stdout)["summaries_written"] == ["default/2024-03-03"]
    line = cli("consolidate", "--cron-line").stdout
    assert "--actor cron consolidate" in line and line.split()[5].startswith("/")


def test_profile_is_built_and_follows_forgetting(hash_memory):
    mem = hash_memory
    res = mem.remember([RawInput("a", "I live in Porto with two cats"), RawInput("b", "I work as a nurse"),
                        RawInput("c", "the weather was grey")])
    report = mem.consolidate()
    assert report["profiles_written"] == ["default"]
    pid = mem.store.summaries.of("default", "profile", "")
    text = mem.store.memories.row(pid)["text"]
    assert "I live in Porto" in text and "nurse" in text and "weather" not in text
    mem.forget([res.created[1]])  # the nurse statement
    assert mem.store.memories.row(pid)["stale"] == 1
    assert mem.consolidate()["profiles_written"] == ["default"]
    new_text = mem.store.memories.row(mem.store.summaries.of("default", "profile", ""))["text"]
    assert "nurse" not in new_text and "Porto" in new_text


def test_newer_fact_supersedes_older_without_deleting_it(hash_memory):
    mem = hash_memory
    old_ev = mem.remember([RawInput("a", "Ana: I live in Porto now")], fmt="chat", at="2023-01-01").created[0]
    new_ev = mem.remember([RawInput("b", "Ana: I live in Lisbon now")], fmt="chat", at="2024-06-01").created[0]
    old_fact = mem.derive("fact", "Ana lives in Porto.", [old_ev])
    new_fact = mem.derive("fact", "Ana lives in Lisbon.", [new_ev])
    report = mem.consolidate()
    assert report["superseded"] == [{"old": old_fact, "new": new_fact}]
    row = mem.store.memories.row(old_fact)
    assert row["valid_until"] == "2024-06-01T00:00:00Z" and row["status"] == "active"
    assert ("superseded_by", new_fact) in mem.store.links.of(old_fact)["out"]
    facts = [h for h in mem.recall("where does Ana live", limit=10) if h.kind == "fact"]
    assert facts[0].id == new_fact and facts[-1].valid_until is not None
    assert "supersede" in [r.op for r in mem.audit_log()]
    mem.forget([new_ev])  # the newer fact goes with its evidence: the older one is current again
    assert mem.store.memories.row(new_fact) is None and mem.store.memories.row(old_fact)["valid_until"] is None


def test_consolidate_can_extract_facts(db_path):
    from memcli.core import Memory
    from tests.conftest import HashEmbedder, ScriptedGenerator

    gen = ScriptedGenerator("- Ana moved to Lisbon in March. [1]\n")
    with Memory(db_path, embedder=HashEmbedder(), generator=gen) as mem:
        mem.remember([RawInput("a", "Ana: I moved to Lisbon in March.\nBo: nice")], fmt="chat")
        assert mem.consolidate(llm=True)["facts_accepted"] == 1


def test_llm_day_summary_keeps_only_grounded_sentences(db_path):
    from memcli.core import Memory
    from tests.conftest import HashEmbedder, ScriptedGenerator

    gen = ScriptedGenerator(" Ana packed the boxes. Bo bought a yacht in Monaco.")
    with Memory(db_path, embedder=HashEmbedder(), generator=gen) as mem:
        mem.remember([RawInput("d", chat("2024-03-05", "Ana: packed the boxes", "Bo: booked the van",
                                         "Ana: called the movers"))])
        mem.consolidate(llm=True)
        text = mem.store.memories.row(mem.store.summaries.of("default", "day", "2024-03-05"))["text"]
        assert text == "2024-03-05: Ana packed the boxes."


@pytest.mark.parametrize("first, second", [
    ("The meeting with Carla is at 3pm on Tuesday", "The meeting with Carla is at 4pm on Tuesday"),
    ("I paid the plumber 120 euros", "I paid the plumber 450 euros"),
])
def test_a_correction_is_not_merged_away(real_embedder, tmp_path, first, second):
    """MiniLM puts these within cosine 0.97: merging would hide the newer value behind the older one."""
    with Memory(tmp_path / "m.db", embedder=real_embedder) as mem:
        mem.remember([RawInput("a", first)], at="2024-03-01T10:00:00Z")
        mem.remember([RawInput("b", second)], at="2024-03-01T11:00:00Z")
        assert mem.consolidate()["merged"] == []


def test_the_same_words_about_another_day_are_another_event(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("a", "went swimming at the lake")], at="2024-06-01T10:00:00Z")
    mem.remember([RawInput("b", "Went swimming at the lake!")], at="2024-07-01T10:00:00Z")
    assert mem.consolidate()["merged"] == []


def test_a_narrowed_run_leaves_the_rest_for_the_next_full_run(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("w", chat("2024-03-01", "Ana: sent the report", "Bo: thanks", "Ana: see you"))],
                 scope="work")
    mem.remember([RawInput("h", chat("2024-03-01", "Ana: fed the cat", "Bo: good", "Ana: bye"))], scope="home")
    assert mem.consolidate(scope="work")["summaries_written"] == ["work/2024-03-01"]
    report = mem.consolidate()
    assert report["new_memories"] == 6 and "home/2024-03-01" in report["summaries_written"]


def test_a_consolidate_stopped_while_rebuilding_loses_no_summary(hash_memory, monkeypatch):
    mem = hash_memory
    mem.remember([RawInput("d1", chat("2024-03-01", "Ana: packed the boxes", "Bo: booked the van",
                                      "Ana: the lawyer called", "Bo: great"))])
    mem.consolidate()
    lawyer = next(h.id for h in mem.recall("lawyer called", filters=Filters(kinds=["episodic"])))
    mem.forget([lawyer])  # the day's summary is now stale: the next run rebuilds it
    import memcli.derived

    real_write = memcli.derived.write_derived

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(memcli.derived, "write_derived", stop)
    with pytest.raises(KeyboardInterrupt):
        mem.consolidate()
    # the stopped change rolled back whole: the stale summary is still the day's one summary
    assert mem.store.summaries.of("default", "day", "2024-03-01") is not None
    assert len(mem.store.memories.select_ids(Filters(kinds=["summary"], active_only=False))) == 1
    monkeypatch.setattr(memcli.derived, "write_derived", real_write)
    mem.consolidate()
    sid = mem.store.summaries.of("default", "day", "2024-03-01")
    assert sid is not None and mem.store.memories.row(sid)["text"] and not mem.store.memories.row(sid)["stale"]


def test_archiving_hides_a_memory_from_its_day_summary_and_restoring_brings_it_back(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("d1", chat("2024-03-01", "Ana: packed the boxes", "Bo: booked the van",
                                      "Ana: the lawyer zq9secret called", "Bo: great"))])
    mem.consolidate()
    lawyer = next(h.id for h in mem.recall("lawyer called", filters=Filters(kinds=["episodic"])))
    result = mem.forget([lawyer], archive=True)
    assert result.derived_stale  # the day summary quoted it
    assert all("zq9secret" not in h.text for h in mem.recall("zq9secret lawyer", limit=20))
    mem.consolidate()
    sid = mem.store.summaries.of("default", "day", "2024-03-01")
    assert "zq9secret" not in mem.store.memories.row(sid)["text"]
    mem.restore([lawyer])
    mem.consolidate()
    sid = mem.store.summaries.of("default", "day", "2024-03-01")
    assert "zq9secret" in mem.store.memories.row(sid)["text"]


def test_archiving_leaves_summaries_that_do_not_rest_on_it(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("me", chat("2024-02-01", "Ana: I live in Porto", "Ana: I work at the harbour"))])
    note = mem.remember([RawInput("n", "groceries: milk and eggs")], at="2024-04-01").created[0]
    mem.consolidate()
    profile = mem.store.summaries.of("default", "profile", "")
    assert profile is not None and "Porto" in mem.store.memories.row(profile)["text"]
    assert mem.forget([note], archive=True).derived_stale == []  # the profile does not quote the note
    assert "Porto" in mem.store.memories.row(profile)["text"]

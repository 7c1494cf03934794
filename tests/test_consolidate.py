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


def test_only_one_consolidation_at_a_time(hash_memory):
    mem = hash_memory
    mem.remember([RawInput("a", "x y z")])
    if mem.ctx.url is not None:  # another machine's consolidate: the server's advisory lock
        from contextlib import ExitStack

        from tests.conftest import HashEmbedder

        stack = ExitStack()
        other = stack.enter_context(Memory(mem.ctx.url, embedder=HashEmbedder()))
        assert stack.enter_context(other.store.maintenance.exclusive("consolidate"))
        release = stack.close
    else:  # another process's: the lock file beside the database
        fd = os.open(str(mem.db_path) + ".consolidate.lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)

        def release():
            os.close(fd)
    try:
        skipped = mem.consolidate()
        assert skipped["skipped"] == "another consolidation is running" and skipped["merged"] == []
    finally:
        release()
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
    assert "--actor cron consolidate" in line and line.split()[8].startswith("/")  # after the pinned env


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


# -- concurrency, kills and scale (consolidate.py: planned outside the write lock, checked again inside it) ---------
def _texts(mem):
    return [r[0] for r in mem.store.conn.execute("SELECT text FROM memories")]


def _forget_from_another_process(db_path, ids):
    """What `memcli forget` in a second process does: its own connection, its own change, committed."""
    from tests.conftest import HashEmbedder

    with Memory(db_path, embedder=HashEmbedder()) as other:
        other.forget(ids)


def test_a_forget_committed_while_a_day_is_planned_neither_fails_the_run_nor_is_quoted(hash_memory, target,
                                                                                     monkeypatch):
    mem = hash_memory
    mem.remember([RawInput("d1", chat("2024-03-01", "Ana: packed the boxes", "Bo: booked the van",
                                      "Ana: the lawyer zq9secret called", "Bo: great", "Ana: see you"))])
    secret = next(h.id for h in mem.recall("lawyer zq9secret", filters=Filters(kinds=["episodic"])))
    embedder = mem.ctx.embedder
    real_embed = embedder.embed_chunks
    fired = []

    def embed_then_forget(texts, *args, **kwargs):
        # The summary was planned (members read, text built, quoting the secret) and is being embedded before the
        # change opens: another process forgets a member now.
        if not fired and any(t.startswith("2024-03-01: ") and "zq9secret" in t for t in texts):
            fired.append(True)
            _forget_from_another_process(target, [secret])
        return real_embed(texts, *args, **kwargs)

    monkeypatch.setattr(embedder, "embed_chunks", embed_then_forget)
    report = mem.consolidate()
    assert fired and report["summaries_written"] == ["default/2024-03-01"]
    assert not any("zq9secret" in t for t in _texts(mem))
    row = mem.store.memories.row(mem.store.summaries.of("default", "day", "2024-03-01"))
    assert row["text"] and not row["stale"] and "packed the boxes" in row["text"]
    assert mem.audit_verify()["ok"]


def test_an_llm_draft_of_members_forgotten_meanwhile_gives_way_to_the_extractive_text(db_path):
    from tests.conftest import HashEmbedder, ScriptedGenerator

    class ForgetWhileDrafting(ScriptedGenerator):
        secret: list[int] = []

        def complete(self, prompt, **kwargs):
            if "zq9secret" in prompt and self.secret:  # the day's draft: the generator runs outside the lock
                _forget_from_another_process(db_path, [self.secret.pop()])
            return super().complete(prompt, **kwargs)

    gen = ForgetWhileDrafting(" The lawyer zq9secret called Ana. Ana packed the boxes.")
    with Memory(db_path, embedder=HashEmbedder(), generator=gen) as mem:
        mem.remember([RawInput("d", chat("2024-03-05", "Ana: packed the boxes", "Bo: booked the van",
                                         "Ana: the lawyer zq9secret called", "Bo: great"))])
        gen.secret.append(next(h.id for h in mem.recall("lawyer zq9secret", filters=Filters(kinds=["episodic"]))))
        report = mem.consolidate(llm=True)
        assert not gen.secret and report["summaries_written"] == ["default/2024-03-05"]
        text = mem.store.memories.row(mem.store.summaries.of("default", "day", "2024-03-05"))["text"]
        # the draft described a member that is gone: the day's extractive summary of what is left instead
        assert "zq9secret" not in text and text.startswith("2024-03-05: Ana: packed the boxes / Bo: booked the van")
        assert not any("zq9secret" in t for t in _texts(mem))


def _kill_scenario(path):
    """A store with work of every kind for the next consolidate: a stale day summary (a member forgotten), a day
    grown by new messages and a repeat to merge, a new day, a new self-statement for the profile, a second scope."""
    from tests.conftest import HashEmbedder

    with Memory(path, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("d1", chat("2024-03-01", "Ana: packed the boxes", "Bo: booked the van",
                                          "Ana: the lawyer called", "Bo: great", "Ana: I live in Porto"))])
        mem.remember([RawInput("d2", chat("2024-03-02", "Ana: unpacked two boxes", "Bo: the van was late",
                                          "Ana: I work at the harbour"))])
        mem.consolidate()
        lawyer = next(h.id for h in mem.recall("lawyer called", filters=Filters(kinds=["episodic"])))
        mem.forget([lawyer])
        mem.remember([RawInput("d2b", "[2024-03-02 18:00] Bo: The van was late!\n[2024-03-02 18:05] Ana: dinner out"
                                      "\n[2024-03-02 18:06] Ana: I love the sea")])
        mem.remember([RawInput("d3", chat("2024-03-03", "Ana: painted the kitchen", "Bo: bought bread",
                                          "Ana: rain all day"))])
        mem.remember([RawInput("w", chat("2024-03-03", "Ana: sent the report", "Bo: thanks", "Ana: I work late"))],
                     scope="work")


def _summary_state(path):
    """(every recorded summary and profile as (scope, period, key, text), problems found)."""
    import sqlean

    conn = sqlean.connect(str(path))
    q = conn.execute
    problems = {
        "unrecorded summaries": q("SELECT count(*) FROM memories m WHERE m.kind IN ('summary', 'profile') AND "
                                  "NOT EXISTS (SELECT 1 FROM summaries s WHERE s.memory_id = m.id)").fetchone()[0],
        "rows without memory": q("SELECT count(*) FROM summaries s WHERE NOT EXISTS "
                                 "(SELECT 1 FROM memories m WHERE m.id = s.memory_id)").fetchone()[0],
        "without evidence": q("SELECT count(*) FROM summaries s WHERE NOT EXISTS (SELECT 1 FROM memory_links l "
                              "JOIN memories e ON e.id = l.target_id WHERE l.memory_id = s.memory_id AND "
                              "l.relation = 'derived_from')").fetchone()[0],
        "stale": q("SELECT count(*) FROM summaries s JOIN memories m ON m.id = s.memory_id "
                   "WHERE m.stale = 1").fetchone()[0],
        "days with two": q("SELECT count(*) FROM (SELECT 1 FROM memories WHERE kind = 'summary' "
                           "GROUP BY scope, substr(occurred_at, 1, 10) HAVING count(*) > 1)").fetchone()[0],
        "scopes with two profiles": q("SELECT count(*) FROM (SELECT 1 FROM memories WHERE kind = 'profile' "
                                      "GROUP BY scope HAVING count(*) > 1)").fetchone()[0],
        "days unsummarised": q("SELECT count(*) FROM (SELECT scope, substr(occurred_at, 1, 10) AS day FROM memories "
                               "WHERE kind = 'episodic' AND status = 'active' GROUP BY 1, 2 HAVING count(*) >= 3) d "
                               "WHERE NOT EXISTS (SELECT 1 FROM summaries s WHERE s.scope = d.scope AND "
                               "s.period = 'day' AND s.period_key = d.day)").fetchone()[0],
    }
    state = sorted(q("SELECT s.scope, s.period, s.period_key, m.text FROM summaries s JOIN memories m "
                     "ON m.id = s.memory_id").fetchall())
    merged = q("SELECT count(*) FROM memories WHERE status = 'merged'").fetchone()[0]
    conn.close()
    return state, merged, {k: v for k, v in problems.items() if v}


def test_a_rerun_after_a_stop_at_any_change_leaves_one_summary_per_day_and_scope(tmp_path, monkeypatch):
    from contextlib import contextmanager

    from memcli.context import Context
    from tests.conftest import HashEmbedder

    real_change = Context.change
    calls: list[int] = []
    stop_at: dict = {}

    def counted(self, op, memory_ids=(), detail=None):
        calls.append(1)
        cm = real_change(self, op, memory_ids, detail)
        if len(calls) != stop_at.get("k"):
            return cm
        if stop_at["where"] == "entering":
            raise KeyboardInterrupt

        @contextmanager
        def stopped_before_commit():
            with cm as ch:
                yield ch
                raise KeyboardInterrupt  # the body wrote everything; the change rolls back whole

        return stopped_before_commit()

    monkeypatch.setattr(Context, "change", counted)
    _kill_scenario(tmp_path / "ref.db")
    calls.clear()
    with Memory(tmp_path / "ref.db", embedder=HashEmbedder()) as mem:
        mem.consolidate()
    changes = len(calls)
    reference, merged, problems = _summary_state(tmp_path / "ref.db")
    assert changes >= 8 and merged == 1 and not problems
    assert {(s, p) for s, p, _k, _t in reference} == {("default", "day"), ("default", "profile"), ("work", "day"),
                                                       ("work", "profile")}
    for k in range(1, changes + 1):
        for where in ("entering", "before its commit"):
            path = tmp_path / f"k{k}-{where[0]}.db"
            _kill_scenario(path)
            calls.clear()
            stop_at.update(k=k, where=where)
            with Memory(path, embedder=HashEmbedder()) as mem:
                with pytest.raises(KeyboardInterrupt):
                    mem.consolidate()
                stop_at.clear()
                mem.consolidate()
                assert mem.audit_verify()["ok"]
            state, merged, problems = _summary_state(path)
            assert (state, merged, problems) == (reference, 1, {}), (k, where)


def test_every_repeat_of_a_telling_is_merged_into_the_first_however_often_the_words_recur(hash_memory):
    """The old vector search looked at 5 neighbours in the scope: with the same words on many days, the right day's
    copy could be missed. The key lookup reads the day, so every repeat is found, and all go into the first."""
    mem = hash_memory
    for day in range(1, 9):
        mem.remember([RawInput(f"d{day}", "Ana: ok sounds good")], fmt="chat", at=f"2024-03-{day:02d}T09:00:00Z")
    first = mem.remember([RawInput("a", "Ana: ok, sounds good")], fmt="chat", at="2024-03-09T09:00:00Z").created
    again = [mem.remember([RawInput(f"r{i}", f"Ana: OK sounds good{'!' * (i + 1)}")], fmt="chat",
                          at=f"2024-03-09T1{i}:00:00Z").created[0] for i in range(3)]
    report = mem.consolidate()
    assert report["merged"] == [{"merged": r, "into": first[0]} for r in again]
    assert mem.consolidate()["merged"] == []  # idempotent


def test_the_decayed_count_narrowed_in_sql_agrees_with_the_exact_rule(hash_memory):
    mem = hash_memory
    ids = mem.remember([RawInput(str(i), f"note {i} about things") for i in range(12)]).created
    edits = [("2020-01-01T00:00:00Z", None, 1.0), ("2020-01-01T00:00:00Z", None, 1000.0),
             ("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", 1.0), ("2024-01-01T00:00:00+14:00", None, 0.01),
             ("not a time", None, 1.0), ("2020-01-01T00:00:00Z", None, "strong"),
             ("2020-01-01T00:00:00Z", None, float("inf")), ("2020-01-01T00:00:00Z", "", 1.0),
             ("2020-01-01 00:00:00", None, 1.0), ("2460000", None, 1.0), ("2020-01-01T00:00:00Z", None, 0.0)]
    if mem.ctx.url is not None:  # a typed column: Postgres refuses a strength that is not a number at all
        edits = [e for e in edits if not isinstance(e[2], str)]
    conn = outside(mem)
    for mid, (created, recalled, strength) in zip(ids, edits):
        conn.execute("UPDATE memories SET created_at = ?, last_recalled_at = ?, strength = ? WHERE id = ?",
                     [created, recalled, strength, mid])
    conn.commit()
    conn.close()
    active = mem.store.memories.select_ids(Filters(active_only=True))
    for threshold in (None, 0.5, 0.999, 1.0, 0.0):
        try:
            expected = len(mem.decayed_among(active, threshold))
        except (ValueError, TypeError) as exc:  # a retention rule that does not tolerate unreadable stored values
            with pytest.raises(type(exc)):  # (memcli/retention.py): the count fails alike
                mem.consolidate(dry_run=True, decay_threshold=threshold)
            continue
        assert mem.consolidate(dry_run=True, decay_threshold=threshold)["decayed"] == expected, threshold
    well_formed = [i for i, (created, _, strength) in zip(ids, edits)
                   if created.startswith("20") and isinstance(strength, float)]
    assert len(mem.decayed_among(well_formed)) >= 3


def test_consolidation_grows_linearly(tmp_path):
    """Twice the memories, about twice the time (the near-duplicate scan was quadratic). Generous bounds: a shared
    machine; bench/consolidate.py measures properly."""
    import time

    from tests.conftest import HashEmbedder

    def timed(n):
        with Memory(tmp_path / f"{n}.db", embedder=HashEmbedder()) as mem:
            for day in range(n // 50):
                date = f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}"
                lines = [f"[{date} {8 + i // 6:02d}:{i % 6}0] {'Ana' if i % 2 else 'Bo'}: message {day}-{i} about "
                         f"the {['van', 'cat', 'boxes'][i % 3]}" for i in range(50)]
                mem.remember([RawInput(f"d{day}", "\n".join(lines))])
            t0 = time.perf_counter()
            mem.consolidate()
            return time.perf_counter() - t0

    small, large = timed(1000), timed(4000)
    assert large < small * 4 * 2.5 + 0.5

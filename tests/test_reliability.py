"""Short versions of scripts/stress.py: concurrent writers/readers/consolidation, and kill -9 during ingest."""

import multiprocessing as mp
import sys
from pathlib import Path

SCRIPTS = str(Path(__file__).resolve().parent.parent / "scripts")


def _stress():
    """Imported by name (not from a file spec) so spawned worker processes can import it too."""
    if SCRIPTS not in sys.path:
        sys.path.insert(0, SCRIPTS)
    import stress

    return stress


def test_concurrent_writers_readers_and_consolidation_lose_nothing(tmp_path):
    report = _stress().run_concurrency(tmp_path / "c.db", writers=3, per_writer=15, readers=2, seconds=4,
                                       real=False)
    assert report["ok"], report
    assert report["acknowledged"] == 45 and report["lost"] == 0 and report["failures"] == 0
    assert report["reads"] > 0 and report["consolidations"] > 0


def test_kill_9_during_remember_is_all_or_nothing_and_rerun_completes(tmp_path):
    report = _stress().crash_trials(tmp_path / "k.db", trials=5, messages=300, real=False)
    assert report["ok"], report
    assert report["inconsistent"] == 0 and report["final_memories"] == 300


def _remember_same(db, barrier):
    from memcli.core import Memory, RawInput
    from tests.conftest import HashEmbedder

    with Memory(db, embedder=HashEmbedder()) as mem:
        barrier.wait()
        mem.remember([RawInput("race", "the same sentence, remembered by four processes at once")])


def test_concurrent_identical_remembers_store_one_memory(tmp_path):
    from memcli.core import Memory
    from tests.conftest import HashEmbedder

    db = str(tmp_path / "r.db")
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.stats()  # create the schema first
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_remember_same, args=(db, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with Memory(db, embedder=HashEmbedder()) as mem:
        assert mem.stats()["memories"] == 1 and mem.stats()["sources"] == 1


def test_disk_full_is_a_clear_error_and_loses_nothing(tmp_path, cli):
    import json
    import subprocess

    import pytest

    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        base = ("--db", str(mount / "m.db"), "--embedder", "hash")  # model-free: the test is about the disk
        assert cli(*base, "remember", "a memory that fits").exit_code == 0
        filler = "\n".join(json.dumps({"id": f"x{i}", "text": f"filler text number {i} " * 20}) for i in range(4000))
        r = cli(*base, "remember", "--format", "jsonl", "-", input=filler)
        assert r.exit_code == 1 and "full" in r.stderr and "Traceback" not in r.output
        stats = json.loads(cli(*base, "stats", "--json").stdout)
        assert stats["memories"] == 1 and stats["sources"] == 1  # the failed ingest left nothing behind
        assert json.loads(cli(*base, "recall", "a memory that fits", "--json").stdout)[0]["id"] == 1
        assert cli(*base, "audit", "verify").exit_code == 0
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_read_only_database_reads_work_and_writes_fail_clearly(tmp_path, cli):
    """A read-only file system (or a write-protected file for a non-root user): recall, stats, export and
    audit verify still work (the recall is not recorded); remember, forget, consolidate fail in one line."""
    import json
    import os
    import subprocess

    import pytest

    mount = tmp_path / "ro"
    mount.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot mount a tmpfs here")
    base = ("--db", str(mount / "m.db"), "--embedder", "hash")
    try:
        assert cli(*base, "remember", "a note about the harbour in Lisbon").exit_code == 0
        before = (mount / "m.db").read_bytes()
        if os.geteuid() == 0:
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        else:
            os.chmod(mount / "m.db", 0o400)
            os.chmod(mount, 0o500)
        hits = json.loads(cli(*base, "recall", "harbour", "--json").stdout)
        assert hits[0]["id"] == 1
        assert json.loads(cli(*base, "stats", "--json").stdout)["memories"] == 1
        assert cli(*base, "audit", "verify").exit_code == 0
        assert cli(*base, "export", "-o", "-").stdout.count("\n") >= 1
        assert cli(*base, "consolidate", "--dry-run").exit_code == 0
        for args in (("remember", "another note"), ("forget", "1", "--yes"), ("consolidate",), ("reindex",)):
            r = cli(*base, *args)
            assert r.exit_code == 1 and "read-only" in r.stderr and len(r.stderr.strip().splitlines()) == 1, args
        assert (mount / "m.db").read_bytes() == before
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(mount)], capture_output=True)
        else:
            os.chmod(mount, 0o700)

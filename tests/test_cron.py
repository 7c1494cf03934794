"""Cron that cannot silently miss: the line pins memcli, the database, cache, config and state dir, quoted; it runs
under cron's empty environment; each run leaves a timestamped log line and a status doctor/stats show."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys


import pytest

from memcli.core import Memory, RawInput
from memcli.models.hashing import HashEmbedder


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMCLI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MEMCLI_CONFIG", str(tmp_path / "config dir" / "config.toml"))
    (tmp_path / "config dir").mkdir()
    (tmp_path / "config dir" / "config.toml").write_text('embedder = "hash"\n')
    fake = tmp_path / "bin"
    fake.mkdir()
    store = tmp_path / "crontab.txt"
    (fake / "crontab").write_text(f"#!/bin/sh\nif [ \"$1\" = \"-l\" ]; then cat {shlex.quote(str(store))} 2>/dev/null "
                                  f"|| exit 1; else cat > {shlex.quote(str(store))}; fi\n")
    (fake / "crontab").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    return tmp_path, store


def _cli(*args):
    from typer.testing import CliRunner

    from memcli.cli.app import app

    return CliRunner().invoke(app, list(args))


def test_the_cron_line_runs_under_env_i_with_a_path_holding_a_space(env):
    tmp, store = env
    db = tmp / "my notes" / "mem.db"
    db.parent.mkdir(mode=0o700)
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("d", "\n".join(json.dumps({"speaker": s, "text": t, "timestamp": "2024-03-01T10:00:00Z"})
                                             for s, t in [("Ana", "one"), ("Bo", "two"), ("Ana", "three")]))],
                     fmt="jsonl")
    r = _cli("--db", str(db), "consolidate", "--install-cron")
    assert r.exit_code == 0, r.stderr
    line = store.read_text().strip()
    assert line.endswith(f"# memcli consolidate {shlex.quote(str(db))}") and "--db" in line
    command = line.split(" ", 5)[5]  # drop the five schedule fields
    done = subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", "sh", "-c", command], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    log = next((tmp / "state" / "logs").glob("consolidate-*.log")).read_text()
    assert str(db) in log and " ok: " in log and "audit last hash" in log and log.startswith("20")
    with Memory(db, create=False) as mem:
        assert [r.actor for r in mem.audit_log(op="consolidate")] == ["cron"]
        assert mem.stats()["embedding_model"] == "test-hash-64"  # the pinned config chose the embedder
    # a second install replaces, uninstall removes only this database's line
    store.write_text("0 1 * * * other job\n" + store.read_text())
    assert _cli("--db", str(db), "consolidate", "--install-cron").exit_code == 0
    assert store.read_text().count("# memcli consolidate") == 1 and "other job" in store.read_text()
    r = _cli("--db", str(db), "consolidate", "--uninstall-cron")
    assert r.exit_code == 0 and "removed" in r.stdout
    assert store.read_text() == "0 1 * * * other job\n"


def test_a_failing_or_overdue_nightly_run_is_a_visible_warning(env):
    from memcli import cron
    from memcli.doctor import run_checks

    tmp, store = env
    db = tmp / "m.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "a note")])
    cron.record_run(db, cron.log_path(db.resolve()), False, "DatabaseError: disk I/O error")
    check = next(c for c in run_checks(db, "hash", None) if c.name == "nightly consolidate")
    assert not check.ok and "failed: DatabaseError: disk I/O error" in check.detail
    r = _cli("--db", str(db), "stats", "--json")
    assert "memcli: warning: the last consolidate run" in r.stderr and json.loads(r.stdout)["last_consolidate_ok"] is False
    cron.record_run(db, cron.log_path(db.resolve()), True, "0 new")
    assert next(c for c in run_checks(db, "hash", None) if c.name == "nightly consolidate").ok
    assert _cli("--db", str(db), "consolidate", "--install-cron").exit_code == 0
    from datetime import datetime, timedelta, timezone

    later = datetime.now(timezone.utc) + timedelta(days=3)
    assert "has not succeeded since" in cron.warning(db, now=later)


def test_printing_the_cron_line_does_not_import_numpy():
    code = "import sys; from memcli.cli.app import main; sys.argv = ['memcli', 'consolidate', '--cron-line']\n" \
           "try:\n    main()\nexcept SystemExit:\n    pass\nprint('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().endswith("False"), done.stdout + done.stderr

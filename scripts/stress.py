"""Concurrency and crash stress for memcli: writers, readers and a consolidation loop in separate processes,
then kill -9 trials. Prints the figures; exits 1 on any lost write, duplicate, failure or inconsistency.

    python scripts/stress.py                                  # 4 writers x 50, 2 readers, 20 s, 10 crash trials
    python scripts/stress.py --writers 8 --per-writer 200 --seconds 120 --crash-trials 50
    python scripts/stress.py --real-model                     # embed with the default MiniLM instead of a hash
    python scripts/stress.py --only-large --stdin-mb 200 --line-mb 50   # 200 MB piped stdin, kill -9, resume
    python scripts/stress.py --only forget-racing-consolidate,kill-during-rebuild --race-rounds 20 --rebuild-kills 40

forget-racing-consolidate: `memcli consolidate` runs while another process forgets random messages; reports runs
failed, duplicate and orphaned summaries (a row whose memory is gone, a summary no row records, one none of whose
evidence is left), summaries quoting a forgotten message, and the audit chain. kill-during-rebuild: kill -9 a
consolidate at random moments of a run that rebuilds stale summaries, rerun it, and compare with an uninterrupted run.
Both use the hash embedder and take about half a minute each by default.

tests/test_reliability.py runs a short version of both in CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memcli.models.hashing import HashEmbedder  # noqa: E402


def _memory(db, real):
    from memcli.core import Memory

    return Memory(db, embedder=None if real else HashEmbedder(), actor=f"stress-{os.getpid()}")


def writer(db, wid, n, real, acks):
    failures = 0
    with _memory(db, real) as mem:
        for i in range(n):
            text = f"writer {wid} note {i}: the {random.choice(['red', 'blue', 'green'])} box holds item {wid}-{i}"
            try:
                res = mem.remember([RawInput("stress", text)])
                acks.put((wid, i, res.created[0] if res.created else None))
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                failures += 1
                acks.put(("fail", repr(exc)))
    acks.put(("done", wid, failures))


def _loop(name, step, db, stop, real, out, pause=0.0):
    """Run step(memory) until told to stop; count successes and report every failure."""
    n = fails = 0
    with _memory(db, real) as mem:
        while not stop.is_set():
            try:
                step(mem)
                n += 1
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                fails += 1
                out.put(("fail", repr(exc)))
            time.sleep(pause)
    out.put((name, n, fails))


def _read(mem):
    for hit in mem.recall("box holds item", limit=5):
        # never a half-written memory: episodic hits are whole writer notes (or the seed)
        assert hit.kind != "episodic" or re.fullmatch(r"(writer \d+ note \d+: .* item \d+-\d+|seed .*)",
                                                     hit.text), hit.text


def reader(db, stop, real, out):
    _loop("reads", _read, db, stop, real, out)


def consolidator(db, stop, real, out):
    _loop("consolidations", lambda mem: mem.consolidate(), db, stop, real, out, pause=0.2)


from memcli.core import RawInput  # noqa: E402


def check_consistency(db) -> dict:
    """Integrity, and every index agreeing with the memories table."""
    import sqlean
    import sqlite_vec

    conn = sqlean.connect(str(db))
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    if not q("SELECT count(*) FROM sqlite_master WHERE name = 'memories'"):
        # Killed before the schema transaction committed: an empty file, which memcli migrates on next open.
        integrity = q("PRAGMA integrity_check")
        conn.close()
        return {"integrity": integrity, "memories": 0, "consistent": integrity == "ok", "empty_schema": True}
    report = {
        "integrity": q("PRAGMA integrity_check"),
        "memories": q("SELECT count(*) FROM memories"),
        "fts_rows": q("SELECT count(*) FROM memories_fts"),
        "memories_with_chunks": q("SELECT count(DISTINCT memory_id) FROM chunks"),
        "chunks": q("SELECT count(*) FROM chunks"),
        "vectors": q("SELECT count(*) FROM vec_chunks") if q(
            "SELECT count(*) FROM sqlite_master WHERE name = 'vec_chunks'") else 0,
        "duplicate_hashes": q("SELECT count(*) - count(DISTINCT content_hash) FROM memories"),
    }
    conn.close()
    from memcli.core import Memory

    with Memory(db, embedder=HashEmbedder(), create=False) as mem:
        report["audit_ok"] = mem.audit_verify()["ok"]
    report["consistent"] = (report["integrity"] == "ok" and report["memories"] == report["fts_rows"]
                            == report["memories_with_chunks"] and report["chunks"] == report["vectors"]
                            and report["duplicate_hashes"] == 0 and report["audit_ok"])
    return report


def run_concurrency(db, writers, per_writer, readers, seconds, real) -> dict:
    ctx = mp.get_context("spawn")
    acks, out, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    # Create the database first so the run measures steady-state contention.
    with _memory(db, real) as mem:
        mem.remember([RawInput("seed", "seed memory about a box")])
    procs = [ctx.Process(target=writer, args=(str(db), w, per_writer, real, acks)) for w in range(writers)]
    procs += [ctx.Process(target=reader, args=(str(db), stop, real, out)) for _ in range(readers)]
    procs.append(ctx.Process(target=consolidator, args=(str(db), stop, real, out)))
    start = time.monotonic()
    for p in procs:
        p.start()
    acked, failures, done = [], [], 0
    while done < writers:
        msg = acks.get(timeout=600)
        if msg[0] == "done":
            done += 1
        elif msg[0] == "fail":
            failures.append(msg[1])
        else:
            acked.append(msg)
    write_s = time.monotonic() - start
    while time.monotonic() - start < seconds:
        time.sleep(0.1)
    stop.set()
    stats: dict[str, int] = {}
    for _ in range(readers + 1):
        msg = out.get(timeout=120)
        while msg[0] == "fail":
            failures.append(msg[1])
            msg = out.get(timeout=120)
        stats[msg[0]] = stats.get(msg[0], 0) + msg[1]
    for p in procs:
        p.join(60)
    report = check_consistency(db)
    from memcli.core import Memory

    with Memory(db, embedder=HashEmbedder(), create=False) as mem:
        texts = {r[0] for r in mem.store.conn.execute("SELECT text FROM memories WHERE kind = 'episodic'")}
    lost = [a for a in acked if not any(t.startswith(f"writer {a[0]} note {a[1]}:") for t in texts)]
    report.update({"writers": writers, "memories_per_writer": per_writer, "acknowledged": len(acked),
                   "lost": len(lost), "failures": len(failures), "failure_samples": failures[:3],
                   "write_phase_s": round(write_s, 1), "duration_s": round(time.monotonic() - start, 1),
                   "reads": stats.get("reads", 0), "consolidations": stats.get("consolidations", 0)})
    report["ok"] = report["consistent"] and not lost and not failures and len(acked) == writers * per_writer
    return report


def crash_trials(db, trials, messages, real) -> dict:
    """kill -9 a `memcli remember` of one big transcript at random moments; the ingest must be all-or-nothing
    and a rerun must complete it without duplicates."""
    payload = "\n".join(json.dumps({"id": f"m{i}", "speaker": "A", "text": f"crash test message {i} about boxes"})
                        for i in range(messages))
    transcript = Path(db).with_suffix(".jsonl")
    transcript.write_text(payload)
    env = {**os.environ, "MEMCLI_DB": str(db)}
    embedder = [] if real else ["--embedder", "hash"]  # the built-in model-free embedder: stress SQLite, not llama
    cmd = [sys.executable, "-m", "memcli", *embedder, "remember", "--format", "jsonl", "-f", str(transcript), "-q"]
    outcomes: dict[str, Any] = {"killed_before_commit": 0, "completed": 0, "inconsistent": 0}
    t0 = time.monotonic()  # calibrate: one uninterrupted run, so kills land anywhere from start to finish
    subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    full = time.monotonic() - t0
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    outcomes["uninterrupted_run_s"] = round(full, 2)
    for trial in range(trials):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.0, full * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        report = check_consistency(db)
        stored = report["memories"]
        if not report["consistent"] or stored not in (0, messages):
            outcomes["inconsistent"] += 1
            outcomes.setdefault("inconsistent_samples", []).append(report)
        elif stored == messages:
            outcomes["completed"] += 1
        else:
            outcomes["killed_before_commit"] += 1
        if stored == messages:  # start the next trial from scratch
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
    rerun = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    final = check_consistency(db)
    outcomes.update({"trials": trials, "rerun_exit": rerun.returncode, "final_memories": final["memories"],
                     "final_consistent": final["consistent"]})
    outcomes["ok"] = (outcomes["inconsistent"] == 0 and rerun.returncode == 0 and final["consistent"]
                      and final["memories"] == messages)
    return outcomes


def _feed(proc, megabytes: float, seed: int, single_line: bool) -> tuple[int, int]:
    """Write generated text to the child's stdin as it goes (never whole in this process either).
    Returns (bytes written, paragraphs written)."""
    rng = random.Random(seed)
    words = "lisbon cat dentist trip coffee project deadline sister garden book train river moved booked".split()
    target, written, paragraphs = int(megabytes * 1024 * 1024), 0, 0
    try:
        while written < target:
            para = " ".join(f"{rng.choice(words)}{rng.randrange(10**6)}" for _ in range(rng.randint(100, 900)))
            chunk = (para + " " if single_line else para + "\n\n").encode()
            proc.stdin.write(chunk)
            written += len(chunk)
            paragraphs += 1
        proc.stdin.close()
    except BrokenPipeError:
        pass
    return written, paragraphs


def _ingest(db, megabytes, seed, single_line, kill_after=None):
    """Run `memcli remember -` on generated stdin; (exit code or 'killed', seconds, peak RSS MB, bytes, paragraphs)."""
    import threading

    cmd = [sys.executable, "-m", "memcli", "--db", str(db), "--embedder", "hash", "remember", "-q", "-"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fed = {}
    feeder = threading.Thread(target=lambda: fed.update(zip(("bytes", "paragraphs"),
                                                              _feed(proc, megabytes, seed, single_line))))
    feeder.start()
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    _, status, usage = os.wait4(proc.pid, 0)
    feeder.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip()[-300:]
    code = "killed" if proc.returncode == -signal.SIGKILL else proc.returncode
    return {"exit": code, "seconds": round(time.monotonic() - t0, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            **fed, "stderr": err}


def large_inputs(tmp, stdin_mb: float, line_mb: float) -> dict:
    """A large stdin stream (paragraphs) with a kill -9 half way and a rerun, and one very long single line.
    The hash embedder keeps this about SQLite and memory, not llama.cpp speed."""
    report = {}
    db = Path(tmp) / "big.db"
    full = _ingest(db, stdin_mb, 1, False)
    stored = check_consistency(db)
    report["stream"] = {**full, "memories": stored["memories"], "consistent": stored["consistent"]}
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    killed = _ingest(db, stdin_mb, 1, False, kill_after=full["seconds"] * 0.6)
    partial = check_consistency(db)
    rerun = _ingest(db, stdin_mb, 1, False)
    final = check_consistency(db)
    report["kill_and_resume"] = {"killed": killed["exit"], "memories_after_kill": partial["memories"],
                                 "consistent_after_kill": partial["consistent"], "rerun_exit": rerun["exit"],
                                 "rerun_seconds": rerun["seconds"], "memories": final["memories"],
                                 "consistent": final["consistent"]}
    line_db = Path(tmp) / "line.db"
    line = _ingest(line_db, line_mb, 2, True)
    report["single_line"] = {**line, "memories": check_consistency(line_db)["memories"]}
    report["ok"] = (full["exit"] == 0 and stored["consistent"] and stored["memories"] == full["paragraphs"]
                    and partial["consistent"] and rerun["exit"] == 0 and final["consistent"]
                    and final["memories"] == full["paragraphs"] and line["exit"] == 0)
    return report


# -- consolidation racing forgets, and killed mid-rebuild ------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
TAG = re.compile(r"\b([a-z]\d+d\d+m\d+)\b")  # every generated message starts with a unique tag


def _chat_day(day: int, tag: str, n: int, rng: random.Random) -> str:
    """n chat turns (jsonl) on 2024-01-01 + day from two speakers; about 5% repeat an earlier turn of the same
    speaker with other case (what consolidate merges) and 5% are self-statements (what profiles quote)."""
    date = time.strftime("%Y-%m-%d", time.gmtime(1_704_067_200 + day * 86_400))
    words = "van boxes lawyer dinner train coffee garden sister project book river report cat trip".split()
    lines: list[str] = []
    said: dict[str, str] = {}
    for i in range(min(n, 90)):
        speaker = rng.choice(("Ana", "Bo"))
        if speaker in said and rng.random() < 0.05:
            text = said[speaker].upper() + "!"
        elif rng.random() < 0.05:
            text = f"{tag}{i} I live near the {rng.choice(words)}"
        else:
            text = f"{tag}{i} " + " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        said[speaker] = text
        lines.append(json.dumps({"id": f"{tag}{i}", "speaker": speaker, "text": text,
                                 "timestamp": f"{date}T{8 + i // 6:02d}:{i % 6}0:00Z"}))
    return "\n".join(lines)


def summary_health(db) -> dict:
    """Day summaries and profiles against their memories: duplicates, orphans (a summary row whose memory is gone,
    a summary memory no row records, a summary none of whose evidence is left), stale ones left, days of 3 or more
    active messages without a summary, and summaries quoting a message no active memory says any more."""
    import sqlean

    conn = sqlean.connect(str(db))
    q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    report = {
        "duplicate_day_summaries": q("SELECT count(*) FROM (SELECT 1 FROM memories WHERE kind = 'summary' "
                                     "GROUP BY scope, substr(occurred_at, 1, 10) HAVING count(*) > 1)"),
        "duplicate_profiles": q("SELECT count(*) FROM (SELECT 1 FROM memories WHERE kind = 'profile' "
                                "GROUP BY scope HAVING count(*) > 1)"),
        "rows_without_memory": q("SELECT count(*) FROM summaries s WHERE NOT EXISTS "
                                 "(SELECT 1 FROM memories m WHERE m.id = s.memory_id)"),
        "unrecorded_summaries": q("SELECT count(*) FROM memories m WHERE kind IN ('summary', 'profile') AND NOT "
                                  "EXISTS (SELECT 1 FROM summaries s WHERE s.memory_id = m.id)"),
        "without_evidence": q("SELECT count(*) FROM summaries s WHERE NOT EXISTS (SELECT 1 FROM memory_links l "
                              "JOIN memories e ON e.id = l.target_id WHERE l.memory_id = s.memory_id "
                              "AND l.relation = 'derived_from')"),
        "stale": q("SELECT count(*) FROM summaries s JOIN memories m ON m.id = s.memory_id WHERE m.stale = 1"),
        "days_unsummarised": q("SELECT count(*) FROM (SELECT scope, substr(occurred_at, 1, 10) AS day FROM "
                               "memories WHERE kind = 'episodic' AND status = 'active' GROUP BY 1, 2 "
                               "HAVING count(*) >= 3) d WHERE NOT EXISTS (SELECT 1 FROM summaries s WHERE "
                               "s.scope = d.scope AND s.period = 'day' AND s.period_key = d.day)"),
        "summaries": q("SELECT count(*) FROM summaries"),
    }
    alive = {t for (text,) in conn.execute("SELECT text FROM memories WHERE kind = 'episodic' AND status = 'active'")
             for t in TAG.findall(text.lower())}
    report["quoting_forgotten"] = sum(
        1 for (text,) in conn.execute("SELECT text FROM memories WHERE kind IN ('summary', 'profile')")
        if set(TAG.findall(text.lower())) - alive)
    state = sorted(conn.execute("SELECT s.scope, s.period, s.period_key, m.text FROM summaries s "
                                "JOIN memories m ON m.id = s.memory_id").fetchall())
    conn.close()
    report["duplicates"] = report["duplicate_day_summaries"] + report["duplicate_profiles"]
    report["orphans"] = (report["rows_without_memory"] + report["unrecorded_summaries"]
                         + report["without_evidence"])
    report["state_digest"] = hashlib.sha256(json.dumps(state).encode()).hexdigest()[:12]
    from memcli.core import Memory

    with Memory(db, embedder=HashEmbedder(), create=False) as mem:
        report["audit_ok"] = mem.audit_verify()["ok"]
    return report


def _consolidate_cmd(db) -> tuple[list[str], dict]:
    """`memcli consolidate` in a process of its own, on this checkout's memcli."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return [sys.executable, "-m", "memcli", "--db", str(db), "--embedder", "hash", "consolidate", "--json"], env


def racing_forgetter(db, stop, out, seed):
    """Forget 1-3 random active messages every few milliseconds until told to stop."""
    rng = random.Random(seed)
    n = fails = 0
    with _memory(db, False) as mem:
        while not stop.is_set():
            ids = [r[0] for r in mem.store.conn.execute(
                "SELECT id FROM memories WHERE kind = 'episodic' AND status = 'active'")]
            if len(ids) > 100:
                try:
                    mem.forget(rng.sample(ids, rng.randint(1, 3)))
                    n += 1
                except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                    fails += 1
                    out.put(("fail", repr(exc)))
            time.sleep(rng.uniform(0.002, 0.03))
    out.put(("forgets", n, fails))


def forget_racing_consolidate(db, rounds: int, seed: int = 5) -> dict:
    """`memcli consolidate` runs one after another while another process forgets random messages (each round
    adds a new day and more turns on an old one first, so every run merges, writes and rebuilds). A forget landing
    between a summary's planning and its writing must neither fail the run nor leave a summary quoting it."""
    rng = random.Random(seed)
    cmd, env = _consolidate_cmd(db)
    seed_days = 12
    with _memory(db, False) as mem:
        mem.remember([RawInput(f"seed-{d}", _chat_day(d, f"s{seed}d{d}m", 60, rng)) for d in range(seed_days)],
                     fmt="jsonl")
    subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=True)  # the summaries the race rebuilds
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    forgetter = ctx.Process(target=racing_forgetter, args=(str(db), stop, out, seed))
    forgetter.start()
    failed, skipped, merged, written, t0 = [], 0, 0, 0, time.monotonic()
    for r in range(rounds):
        with _memory(db, False) as mem:
            old = rng.randrange(seed_days)
            mem.remember([RawInput(f"round-{r}", _chat_day(seed_days + r, f"r{r}d{seed_days + r}m", 60, rng)),
                          RawInput(f"round-{r}-more", _chat_day(old, f"r{r}d{old}m", 15, rng))], fmt="jsonl")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            failed.append(done.stderr.strip()[-300:])
            continue
        report = json.loads(done.stdout)
        skipped += "skipped" in report
        merged += len(report["merged"])
        written += len(report["summaries_written"])
    stop.set()
    forget_failures, forgets = [], 0
    msg = out.get(timeout=120)
    while msg[0] == "fail":
        forget_failures.append(msg[1])
        msg = out.get(timeout=120)
    forgets = msg[1]
    forgetter.join(60)
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)  # what the last forgets staled
    health = summary_health(db)
    result = {"rounds": rounds, "runs_failed": len(failed), "failure_samples": failed[:2], "runs_skipped": skipped,
              "forgets": forgets, "forget_failures": len(forget_failures), "forget_failure_samples":
              forget_failures[:2], "merged": merged, "summaries_written": written,
              "final_run_exit": final.returncode, **{k: health[k] for k in (
                  "summaries", "duplicates", "orphans", "stale", "days_unsummarised", "quoting_forgotten",
                  "audit_ok")}, "seconds": round(time.monotonic() - t0, 1)}
    result["ok"] = (not failed and not skipped and not forget_failures and final.returncode == 0 and forgets > 0
                    and health["duplicates"] == 0 and health["orphans"] == 0 and health["stale"] == 0
                    and health["days_unsummarised"] == 0 and health["quoting_forgotten"] == 0 and health["audit_ok"])
    return result


def _copy_db(src, dst) -> None:
    for suffix in ("", "-wal", "-shm", ".consolidate.lock"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
        if suffix in ("", "-wal") and Path(str(src) + suffix).exists():
            shutil.copy(str(src) + suffix, str(dst) + suffix)


def _audit_mark(db) -> int:
    import sqlean

    conn = sqlean.connect(str(db))
    mark = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]
    conn.close()
    return mark


def _progress_since(db, mark: int) -> str:
    """How far a killed consolidate got, from its audit records: 'before' any change committed, 'rebuilding' (some
    merges, summaries or profiles committed, not the run's end) or 'done'."""
    import sqlean

    conn = sqlean.connect(str(db))
    ops = {r[0] for r in conn.execute("SELECT op FROM audit_log WHERE id > ?", [mark])}
    conn.close()
    return "done" if "consolidate" in ops else "rebuilding" if ops else "before"


def kill_during_rebuild(workdir, trials: int, seed: int = 11) -> dict:
    """kill -9 a `memcli consolidate` at random moments of a run that merges, writes new summaries and rebuilds
    stale ones (erase the old one, write the new one), then rerun it: the result must be the uninterrupted run's,
    with no duplicate or orphaned summary, after the kill and after the rerun."""
    rng = random.Random(seed)
    workdir = Path(workdir)
    base = workdir / "base.db"
    cmd_for = lambda db: _consolidate_cmd(db)  # noqa: E731
    days = 120
    with _memory(base, False) as mem:
        mem.remember([RawInput(f"d{d}", _chat_day(d, f"k{seed}d{d}m", 60, rng)) for d in range(days)], fmt="jsonl")
        mem.consolidate()
        ids = [r[0] for r in mem.store.conn.execute("SELECT id FROM memories WHERE kind = 'episodic'")]
        mem.forget(rng.sample(ids, days))  # about one a day: most day summaries, and perhaps the profile, go stale
        mem.remember([RawInput(f"more{d}", _chat_day(d, f"k{seed}d{d}x", 10, rng)) for d in range(0, days, 3)]
                     + [RawInput(f"new{d}", _chat_day(d, f"k{seed}d{d}m", 60, rng)) for d in range(days, days + 5)],
                     fmt="jsonl")
    base_audit = _audit_mark(base)
    ref = workdir / "ref.db"
    _copy_db(base, ref)
    cmd, env = cmd_for(ref)
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=True)
    full = time.monotonic() - t0
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=True)  # nothing left: start-up and reads
    idle = time.monotonic() - t0
    reference = summary_health(ref)
    outcomes: dict[str, Any] = {"trials": trials, "uninterrupted_run_s": round(full, 2), "idle_run_s": round(idle, 2),
                "killed": 0, "killed_between_rebuilds": 0, "finished_before_kill": 0, "rerun_failed": 0, "duplicates": 0, "orphans": 0,
                "differs_from_uninterrupted": 0, "audit_failed": 0, "left_stale_or_unsummarised": 0}
    samples = []
    for trial in range(trials):
        db = workdir / "trial.db"
        _copy_db(base, db)
        cmd, env = cmd_for(db)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(idle * 0.7, full * 1.05))  # mostly after start-up, while it works
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes["killed" if proc.returncode == -signal.SIGKILL else "finished_before_kill"] += 1
        outcomes["killed_between_rebuilds"] += _progress_since(db, base_audit) == "rebuilding"
        after_kill = summary_health(db)
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        final = summary_health(db)
        outcomes["rerun_failed"] += rerun.returncode != 0
        outcomes["duplicates"] += after_kill["duplicates"] + final["duplicates"]
        outcomes["orphans"] += after_kill["orphans"] + final["orphans"] + final["quoting_forgotten"]
        outcomes["audit_failed"] += (not after_kill["audit_ok"]) + (not final["audit_ok"])
        outcomes["left_stale_or_unsummarised"] += bool(final["stale"] or final["days_unsummarised"])
        if final["state_digest"] != reference["state_digest"]:
            outcomes["differs_from_uninterrupted"] += 1
            samples.append({"after_kill": after_kill, "final": final})
    outcomes["summaries"] = reference["summaries"]
    outcomes["samples"] = samples[:2]
    outcomes["ok"] = (outcomes["killed"] > 0 and not any(outcomes[k] for k in (
        "rerun_failed", "duplicates", "orphans", "differs_from_uninterrupted", "audit_failed",
        "left_stale_or_unsummarised")) and reference["duplicates"] == reference["orphans"] == 0)
    return outcomes


TRIALS = ("concurrency", "crash", "forget-racing-consolidate", "kill-during-rebuild")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--per-writer", type=int, default=50)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--crash-trials", type=int, default=10)
    ap.add_argument("--crash-messages", type=int, default=400)
    ap.add_argument("--race-rounds", type=int, default=6, help="consolidate runs racing a forgetting process")
    ap.add_argument("--rebuild-kills", type=int, default=10, help="consolidate runs killed with -9, then rerun")
    ap.add_argument("--only", help=f"comma-separated trials to run: {', '.join(TRIALS)} (default: all)")
    ap.add_argument("--real-model", action="store_true")
    ap.add_argument("--stdin-mb", type=float, default=0, help="also stream this many MB into one remember")
    ap.add_argument("--line-mb", type=float, default=50, help="size of the single-line input (with --stdin-mb)")
    ap.add_argument("--only-large", action="store_true", help="skip the concurrency and crash parts")
    args = ap.parse_args(argv)
    if args.only_large:
        with tempfile.TemporaryDirectory(prefix="memcli-stress-") as tmp:
            big = large_inputs(tmp, args.stdin_mb or 200, args.line_mb)
            print("large inputs:", json.dumps(big))
        return 0 if big["ok"] else 1
    chosen = args.only.split(",") if args.only else list(TRIALS)
    unknown = set(chosen) - set(TRIALS)
    if unknown:
        ap.error(f"unknown trial {', '.join(sorted(unknown))}; choose from {', '.join(TRIALS)}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="memcli-stress-") as tmp:
        if "concurrency" in chosen:
            conc = run_concurrency(Path(tmp) / "c.db", args.writers, args.per_writer, args.readers, args.seconds,
                                   args.real_model)
            print("concurrency:", json.dumps(conc))
            ok &= conc["ok"]
        if "crash" in chosen:
            crash = crash_trials(Path(tmp) / "k.db", args.crash_trials, args.crash_messages, args.real_model)
            print("crash:", json.dumps(crash))
            ok &= crash["ok"]
        if "forget-racing-consolidate" in chosen:  # consolidation's own trials embed with the hash model
            race = forget_racing_consolidate(Path(tmp) / "race.db", args.race_rounds)
            print("forget-racing-consolidate:", json.dumps(race))
            ok &= race["ok"]
        if "kill-during-rebuild" in chosen:
            killdir = Path(tmp) / "rebuild"
            killdir.mkdir()
            kills = kill_during_rebuild(killdir, args.rebuild_kills)
            print("kill-during-rebuild:", json.dumps(kills))
            ok &= kills["ok"]
        if args.stdin_mb:
            big = large_inputs(tmp, args.stdin_mb, args.line_mb)
            print("large inputs:", json.dumps(big))
            ok &= big["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

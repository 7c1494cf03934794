"""Concurrency and crash stress for memcli: writers, readers and a consolidation loop in separate processes,
then kill -9 trials. Prints the figures; exits 1 on any lost write, duplicate, failure or inconsistency.

    python scripts/stress.py                                  # 4 writers x 50, 2 readers, 20 s, 10 crash trials
    python scripts/stress.py --writers 8 --per-writer 200 --seconds 120 --crash-trials 50
    python scripts/stress.py --real-model                     # embed with the default MiniLM instead of a hash
    python scripts/stress.py --only-large --stdin-mb 200 --line-mb 50   # 200 MB piped stdin, kill -9, resume

tests/test_reliability.py runs a short version of both in CI.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    stats = {}
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
    outcomes = {"killed_before_commit": 0, "completed": 0, "inconsistent": 0}
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--per-writer", type=int, default=50)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--crash-trials", type=int, default=10)
    ap.add_argument("--crash-messages", type=int, default=400)
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
    with tempfile.TemporaryDirectory(prefix="memcli-stress-") as tmp:
        conc = run_concurrency(Path(tmp) / "c.db", args.writers, args.per_writer, args.readers, args.seconds,
                               args.real_model)
        print("concurrency:", json.dumps(conc))
        crash = crash_trials(Path(tmp) / "k.db", args.crash_trials, args.crash_messages, args.real_model)
        print("crash:", json.dumps(crash))
        big = large_inputs(tmp, args.stdin_mb, args.line_mb) if args.stdin_mb else {"ok": True}
        if args.stdin_mb:
            print("large inputs:", json.dumps(big))
    return 0 if conc["ok"] and crash["ok"] and big["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

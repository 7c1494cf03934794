"""How long `consolidate` takes as the store grows: a first run over everything, then an incremental run after 1% more.

    python bench/consolidate.py                                   # 1k, 10k, 100k with this tree
    python bench/consolidate.py --before-src /tmp/memcli-before   # also time another memcli tree (e.g. the previous
                                                                  # commit: git archive HEAD | tar -x -C DIR)
    python bench/consolidate.py --sizes 1000,10000 --workdir DIR  # keep the databases (--reuse: do not rebuild)

The corpus is generated deterministically: chat turns from two speakers, 50 messages a day (one every ten minutes
from 08:00), 5-24 words drawn from a small vocabulary, about 3% of them first-person statements ("I live...", so
profiles have something to say) and about 2% exact repeats of an earlier message of the same speaker and day with
other case and punctuation (what step 1 merges). It is stored through the real `Memory.remember` path with the
built-in hash embedder (so the figures are memcli's own work, not the model's). The extra 1% continues the
timeline with new days and adds a few messages (and repeats) to the last stored day.

Each timed run is a fresh process on a copy of the stored database: `first` is a consolidate over every memory,
`incremental` the next consolidate after the extra 1% is remembered (not timed). The other tree's runs are
capped at --before-max memories (the old near-duplicate scan is quadratic). Both trees must read the same schema.
Printed: a markdown table, and whether both trees merged the same pairs and wrote the same summaries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_DAY = 50
SPEAKERS = ("Ana", "Bo")
WORDS = ("the van the boxes lawyer called dinner tomorrow train late coffee garden sister project deadline book "
         "river moved booked report meeting cat dentist trip market rain sunny weekend kids school office bike "
         "paint kitchen plumber invoice flight hotel beach photos recipe soup bread party gift birthday").split()
SELF = ("I live in {w}", "I work at the {w}", "I love {w}", "I like the {w} a lot", "I have a {w}")


def _message(rng: random.Random, n: int) -> str:
    if rng.random() < 0.03:
        return rng.choice(SELF).format(w=rng.choice(WORDS)) + f" since {1990 + n % 30}"
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 23))) + f" {n}"


def corpus(first_day: int, n: int, seed: int, lead: list[dict] | None = None) -> list[list[dict]]:
    """Days of jsonl records; `lead` (records of an existing day) are continued first."""
    rng = random.Random(seed)
    days: list[list[dict]] = []
    day, made = first_day, 0
    current = list(lead or [])
    while made < n:
        if len(current) >= PER_DAY:
            days.append(current)
            current, day = [], day + 1
        slot = len(current)
        date = time.strftime("%Y-%m-%d", time.gmtime(1_577_836_800 + day * 86_400))  # from 2020-01-01
        at = f"{date}T{8 + slot // 6:02d}:{slot % 6 * 10:02d}:00Z"
        speaker = SPEAKERS[rng.random() < 0.5]
        earlier = [r for r in current if r["speaker"] == speaker and not r.get("lead")]
        if earlier and rng.random() < 0.02:
            text = rng.choice(earlier)["text"].upper() + "!"  # the same words, told again
        else:
            text = _message(rng, seed * 10_000_000 + made)
        current.append({"id": f"d{day}-{slot}-{seed}", "speaker": speaker, "text": text, "timestamp": at})
        made += 1
    days.append(current)
    return [d for d in ([r for r in day if not r.get("lead")] for day in days) if d]


def _lines(records: list[dict]) -> str:
    return "\n".join(json.dumps(r) for r in records)


def build(path: Path, size: int) -> None:
    from memcli.core import Memory, RawInput
    from memcli.models.hashing import HashEmbedder

    t0 = time.monotonic()
    with Memory(path, embedder=HashEmbedder()) as mem:
        days = corpus(0, size, 1)
        for i in range(0, len(days), 20):  # 1,000 messages a remember
            batch = days[i:i + 20]
            mem.remember([RawInput(f"chat-{i + j}", _lines(d)) for j, d in enumerate(batch)], fmt="jsonl")
    print(f"  built {size:,} memories in {time.monotonic() - t0:.0f} s", file=sys.stderr)


def extra(size: int) -> list[list[dict]]:
    """The 1% more: the last stored day continued, then new days."""
    days = corpus(0, size, 1)
    last = [{**r, "lead": True} for r in days[-1]]
    return corpus(len(days) - 1, max(1, size // 100), 2, lead=last)


def worker(db: str, size: int) -> dict:
    """One timed first run and one timed incremental run, in this process."""
    from memcli.core import Memory, RawInput
    from memcli.models.hashing import HashEmbedder

    out: dict = {}
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.recall("warm up", limit=1, touch=False)
        t0 = time.perf_counter()
        report = mem.consolidate()
        out["first_s"] = time.perf_counter() - t0
        out["first_merged"] = len(report["merged"])
        out["first_summaries"] = len(report["summaries_written"])
        mem.remember([RawInput(f"more-{i}", _lines(d)) for i, d in enumerate(extra(size))], fmt="jsonl")
        t0 = time.perf_counter()
        report = mem.consolidate()
        out["incremental_s"] = time.perf_counter() - t0
        out["incremental_new"] = report["new_memories"]
        out["incremental_merged"] = len(report["merged"])
        conn = mem.store.conn
        merged = conn.execute("SELECT memory_id, target_id FROM memory_links WHERE relation = 'merged_into' "
                              "ORDER BY 1").fetchall()
        summaries = conn.execute("SELECT s.scope, s.period, s.period_key, m.text FROM summaries s JOIN memories m "
                                 "ON m.id = s.memory_id ORDER BY 1, 2, 3").fetchall()
        out["merged_total"] = len(merged)
        out["summaries_total"] = len(summaries)
        out["result_digest"] = hashlib.sha256(json.dumps([merged, summaries]).encode()).hexdigest()[:12]
    return out


def timed(db_src: Path, size: int, workdir: Path, src: str | None) -> dict:
    run_db = workdir / f"run-{size}.db"
    for suffix in ("", "-wal", "-shm", ".consolidate.lock"):
        Path(str(run_db) + suffix).unlink(missing_ok=True)
    shutil.copy(db_src, run_db)
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, __file__, "--worker", str(run_db), "--sizes", str(size)]
    if src:
        cmd += ["--src", src]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--workdir", help="keep the databases here (default: a temporary directory)")
    ap.add_argument("--reuse", action="store_true", help="use databases already built in --workdir")
    ap.add_argument("--before-src", help="another memcli source tree to time on the same databases")
    ap.add_argument("--before-max", type=int, default=10_000, help="largest size timed with --before-src")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sys.path.insert(0, args.src or str(Path(__file__).resolve().parent.parent))
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        print(json.dumps(worker(args.worker, sizes[0])))
        return 0
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="memcli-bench-")
    workdir = Path(args.workdir or tmp.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in sizes:
        base = workdir / f"base-{size}.db"
        if not (args.reuse and base.exists()):
            for suffix in ("", "-wal", "-shm"):
                Path(str(base) + suffix).unlink(missing_ok=True)
            build(base, size)
        after = timed(base, size, workdir, None)
        print(f"  {size:,} this tree: {json.dumps(after)}", file=sys.stderr)
        before = None
        if args.before_src and size <= args.before_max:
            before = timed(base, size, workdir, args.before_src)
            print(f"  {size:,} before: {json.dumps(before)}", file=sys.stderr)
        rows.append((size, after, before))
    print("| memories | first consolidate (s) | incremental after +1% (s) | merged | before: first (s) "
          "| before: incremental (s) | same result as before |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for size, after, before in rows:
        b_first = f"{before['first_s']:.2f}" if before else "not run"
        b_inc = f"{before['incremental_s']:.2f}" if before else "not run"
        same = ("yes" if before["result_digest"] == after["result_digest"] else "NO") if before else "-"
        print(f"| {size:,} | {after['first_s']:.2f} | {after['incremental_s']:.2f} | {after['merged_total']} "
              f"| {b_first} | {b_inc} | {same} |")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

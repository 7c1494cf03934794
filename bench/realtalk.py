"""Evidence recall on REALTALK: memcli vs a plain FTS5 BM25 baseline computed in the same run.

    python bench/realtalk.py                       # all chats, default settings
    python bench/realtalk.py --data PATH --split holdout
    python bench/realtalk.py --ablation            # also runs variants of keys and fusion weights

Each chat goes into a fresh database through memcli's own ingest (JSONL records, dia_id as the external id);
every question runs through Memory.recall; hits map back to message ids through their provenance.
Recall@k = |evidence ∩ message ids of the top k hits| / |evidence|, averaged over questions.
Skips cleanly (exit 0) when the data directory is absent: the data is not shipped with memcli.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memcli.core import Memory, RawInput, RecallOptions  # noqa: E402
from memcli.ingest.keys import KeyOptions  # noqa: E402

KS = (5, 10, 25, 50)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "commonsense"}
# Chats never used for tuning: the generalisation check.
HOLDOUT = ("Chat_9_Fahim_Akib.json", "Chat_10_Fahim_Muhhamed.json")
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realtalk"


def bench_parser(doc: str) -> argparse.ArgumentParser:
    """The REALTALK benches' command line: their docstring as help, and --data."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    return ap


def chat_files(data: Path) -> list[Path] | None:
    """The chats in `data` in chat-number order, or None (after printing SKIP) when the directory is absent."""
    if not data.is_dir():
        print(f"SKIP: REALTALK data not found at {data} (pass --data PATH)")
        return None
    return sorted(data.glob("Chat_*.json"), key=lambda p: int(p.name.split("_")[1]))


def load_chat(path: Path):
    data = json.loads(path.read_text())
    records = []
    n = 1
    while f"session_{n}" in data:
        for msg in data[f"session_{n}"]:
            when = datetime.strptime(msg["date_time"], "%d.%m.%Y, %H:%M:%S").strftime("%Y-%m-%dT%H:%M:%SZ")
            records.append({"id": msg["dia_id"], "speaker": msg["speaker"], "text": msg["clean_text"],
                            "timestamp": when})
        n += 1
    questions = [q for q in data["qa"] if q.get("evidence")]
    return records, questions


def score(retrieved_lists, questions):
    """Mean recall@k overall and per category, in percent."""
    sums = defaultdict(lambda: defaultdict(float))
    counts = defaultdict(int)
    for retrieved, q in zip(retrieved_lists, questions):
        evidence = set(q["evidence"])
        for cat in ("all", CATEGORIES.get(q["category"], str(q["category"]))):
            counts[cat] += 1
            for k in KS:
                got = set()
                for ids in retrieved[:k]:
                    got.update(ids)
                sums[cat][k] += len(evidence & got) / len(evidence)
    return {cat: {k: 100 * sums[cat][k] / counts[cat] for k in KS} | {"n": counts[cat]} for cat in counts}


def bm25_baseline(records, questions):
    """Plain FTS5 BM25: one 'Speaker: text' row per message, porter stemming, question words OR-ed."""
    import re

    import sqlean

    conn = sqlean.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, dia UNINDEXED, tokenize='porter unicode61')")
    conn.executemany("INSERT INTO t(body, dia) VALUES (?, ?)",
                     [(f"{r['speaker']}: {r['text']}", r["id"]) for r in records])
    out = []
    for q in questions:
        words = re.findall(r"\w+", q["question"].lower())
        expr = " OR ".join(f'"{w}"' for w in words)
        rows = conn.execute("SELECT dia FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?", (expr, max(KS))).fetchall()
        out.append([[r[0]] for r in rows])
    conn.close()
    return out


def asked_at(records) -> datetime:
    """The questions are asked when the chat ends, not on the day the bench runs: 'last month' must not move with
    the calendar (2 of 726 questions parse differently with today = 2024-06-01 and 2026-06-01)."""
    return datetime.strptime(max(r["timestamp"] for r in records), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def run_memcli(records, questions, embedder, key_options, recall_variants, workdir: Path, server=None):
    """Ingest once per key policy, then run every recall variant on the same database (with `server`, a pgserver:
    a new role's empty memory on it)."""
    db = workdir / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    target = db if server is None else new_role(server)
    mem = Memory(target, embedder=embedder, key_options=key_options)
    payload = "\n".join(json.dumps(r) for r in records)
    t0 = time.perf_counter()
    mem.remember([RawInput("realtalk", payload)], fmt="jsonl")
    ingest_s = time.perf_counter() - t0
    when = asked_at(records)
    results = {}
    for name, opts in recall_variants.items():
        mem.recall_options = opts
        retrieved = []
        t0 = time.perf_counter()
        for q in questions:
            hits = mem.recall(q["question"], limit=max(KS), touch=False, asked_at=when)
            retrieved.append([[s["message_id"] for s in h.sources] for h in hits])
        results[name] = (retrieved, time.perf_counter() - t0)
    mem.close()
    return results, ingest_s


_role_count = iter(range(1, 10**6))


def new_role(server) -> str:
    import psycopg

    name = f"realtalk{next(_role_count)}"
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
        admin.execute(f'CREATE ROLE "{name}" LOGIN')
        admin.execute(f'GRANT CREATE ON DATABASE postgres TO "{name}"')
    return server.get_uri().replace("postgres:@", f"{name}@", 1)


def fmt_table(rows):
    cats = ["all", "multi-hop", "temporal", "commonsense"]
    lines = ["| method | " + " | ".join(f"R@{k}" for k in KS) + " | " + " | ".join(f"{c} R@10" for c in cats[1:]) + " |",
             "|---|" + "---|" * (len(KS) + 3)]
    for name, res in rows:
        cells = [f"{res['all'][k]:.1f}" for k in KS] + [f"{res[c][10]:.1f}" if c in res else "-" for c in cats[1:]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = bench_parser(__doc__)
    ap.add_argument("--split", choices=("all", "tune", "holdout"), default="all")
    ap.add_argument("--ablation", action="store_true", help="also run key and fusion variants")
    ap.add_argument("--chats", type=int, default=0, help="only the first N chats (quick runs)")
    ap.add_argument("--postgres", action="store_true",
                    help="store memcli's memories on a private PostgreSQL + pgvector (pgserver) instead of SQLite")
    args = ap.parse_args(argv)

    files = chat_files(args.data)
    if files is None:
        return 0
    if args.split == "tune":
        files = [f for f in files if f.name not in HOLDOUT]
    elif args.split == "holdout":
        files = [f for f in files if f.name in HOLDOUT]
    if args.chats:
        files = files[: args.chats]

    from memcli.models.embedder import load_embedder

    embedder = load_embedder(progress=lambda m: print(m, file=sys.stderr))
    base = RecallOptions()
    recall_variants = {"memcli (default)": base}
    key_variants = {"memcli (default)": KeyOptions()}
    if args.ablation:
        from dataclasses import replace

        recall_variants |= {
            "fts only (memcli keys)": replace(base, weight_vector=0.0),
            "vector only": replace(base, weight_fts=0.0, min_similarity=-1.0),
            "no similarity floor": replace(base, min_similarity=-1.0),
            "no context column": replace(base, fts_weights=(1.0, 0.0)),
            "equal weights": replace(base, weight_vector=1.0),
            "rrf k=20": replace(base, rrf_k=20.0),
            "rrf k=60": replace(base, rrf_k=60.0),
            "no speaker prior": replace(base, speaker_boost=0.0),
            "no length prior": replace(base, length_exponent=0.0),
            "no time prior": replace(base, time_boost=0.0),
            "no priors, rrf k=20 (previous default)": replace(base, speaker_boost=0.0, length_exponent=0.0,
                                                              time_boost=0.0, rrf_k=20.0),
        }
        key_variants |= {
            "keys: neighbours ±1": KeyOptions(context_before=1, context_after=1),
            "keys: no date words": KeyOptions(date_in_context=False),
            "keys: embed previous turn": KeyOptions(embed_context=True),
        }

    retrieved = defaultdict(list)
    all_questions = []
    chat_of = []
    ingest_total = query_total = 0.0
    n_messages = 0
    with tempfile.TemporaryDirectory(prefix="memcli-bench-") as tmp:
        server = None
        if args.postgres:
            import pgserver

            server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        for path in files:
            records, questions = load_chat(path)
            n_messages += len(records)
            all_questions += questions
            chat_of += [path.name] * len(questions)
            retrieved["FTS5 BM25 baseline"] += bm25_baseline(records, questions)
            for key_name, key_opts in key_variants.items():
                variants = recall_variants if key_name == "memcli (default)" else {key_name: base}
                res, ingest_s = run_memcli(records, questions, embedder, key_opts, variants, Path(tmp), server)
                if key_name == "memcli (default)":
                    ingest_total += ingest_s
                for name, (lists, secs) in res.items():
                    retrieved[name] += lists
                    if name == "memcli (default)":
                        query_total += secs
            print(f"{path.name}: {len(records)} messages, {len(questions)} questions", file=sys.stderr)

    engine = "PostgreSQL + pgvector" if args.postgres else "SQLite"
    print(f"REALTALK evidence recall (%), {len(files)} chats, {len(all_questions)} questions, {n_messages} messages, "
          f"memcli on {engine}")
    splits = {"all": [True] * len(all_questions)}
    if args.split == "all":
        splits["tune (8 chats)"] = [c not in HOLDOUT for c in chat_of]
        splits["holdout (2 chats, never tuned on)"] = [c in HOLDOUT for c in chat_of]
    for split_name, mask in splits.items():
        if not any(mask):
            continue
        qs = [q for q, keep in zip(all_questions, mask) if keep]
        rows = [(name, score([x for x, keep in zip(lists, mask) if keep], qs)) for name, lists in retrieved.items()]
        print(f"\n{split_name if args.split == 'all' else args.split}: {len(qs)} questions")
        print(fmt_table(rows))
    print(f"\ningest: {n_messages / ingest_total:.0f} messages/s; recall: "
          f"{1000 * query_total / max(1, len(all_questions)):.1f} ms/query (limit 50, in-process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

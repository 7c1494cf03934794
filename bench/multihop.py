"""Multi-hop reachability on REALTALK: how often is the evidence that recall's top 10 misses one or two hops away
from those top 10, and through what kind of link?

    python bench/multihop.py [--data PATH] [--seeds 10] [--fanout 5]

For every question, the default recall's top `--seeds` memories are the seeds. Each evidence turn not among them
is checked against four kinds of link between memories (memcli knows all of them without any model):

- rare terms: memories sharing stemmed words (FTS5's own tokens) that few memories hold, each memory linked to
  its `--fanout` best neighbours by the summed idf of the shared words (A-MEM / HippoRAG's entity links,
  approximated by rare words rather than by an extraction model);
- reply adjacency: the turn before or after in the same conversation (±1, ±2);
- same day: memories told on the same calendar day;
- fact evidence: the derived_from links of extracted facts (none here: extraction is not part of the default
  ingest, so this row reads 0 by construction).

Printed per category: the share of missed evidence reachable in one hop and in two, and how many candidates each
link kind adds (outside the seeds) — reach is only worth what it costs in candidates.

Then an ablation (R@10 / R@25 per category, both splits) of what would use those links or the question's form,
each applied to the default recall's top 100:

- graph list: spreading activation from the top `--seeds` memories (each seed passes 1/(40 + rank) to its
  neighbours) as a third list fused by reciprocal rank (HippoRAG's idea, one step);
- graph boost: 0.1 x the fused scores of the seeds a candidate is linked to (rare terms or ±1), added to the
  fused score of candidates already found: nothing new is brought in;
- breadth: for list-like questions ('which', 'both', 'all', 'what are', plural nouns), a greedy re-rank that
  discounts each further memory from a day already in the list (x 0.85 per memory before it);
- expansion: pseudo-relevance feedback (RM3-style), the rarest words of the top 5 hits added to a second
  full-text query, fused as a third list.
"""

from __future__ import annotations

import math
import re
import sqlite3
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from realtalk import CATEGORIES, HOLDOUT, asked_at, bench_parser, chat_files, load_chat, score  # noqa: E402

from memcli.core import Memory, RawInput  # noqa: E402


def graph_of(db: Path, fanout: int, max_df: float):
    """Neighbour sets per memory for each link kind, read from the database memcli wrote."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT m.id, msg.seq, substr(m.occurred_at, 1, 10), msg.external_id FROM memories m "
        "JOIN memory_messages mm ON mm.memory_id = m.id JOIN messages msg ON msg.id = mm.message_id").fetchall()
    seq = {r[0]: r[1] for r in rows}
    day = {r[0]: r[2] for r in rows}
    dia = {r[3]: r[0] for r in rows}
    by_seq = {s: m for m, s in seq.items()}
    conn.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, memories_fts, instance)")
    terms = defaultdict(set)
    for term, doc, col in conn.execute("SELECT term, doc, col FROM temp.v"):
        if col == "text":
            terms[doc].add(term)
    conn.close()
    n = len(seq)
    df = Counter(t for ts in terms.values() for t in ts)
    idf = {t: math.log(n / c) for t, c in df.items()}
    postings = defaultdict(list)
    for doc, ts in terms.items():
        for t in ts:
            if df[t] <= max_df * n and df[t] > 1:
                postings[t].append(doc)
    rare = {}
    for doc, ts in terms.items():
        score = Counter()
        for t in ts:
            for other in postings.get(t, ()):
                if other != doc:
                    score[other] += idf[t]
        rare[doc] = {o for o, _ in score.most_common(fanout)}
    by_day = defaultdict(set)
    for m, d in day.items():
        by_day[d].add(m)
    kinds = {
        "rare terms": rare,
        "adjacent ±1": {m: {by_seq[s + d] for d in (-1, 1) if s + d in by_seq} for m, s in seq.items()},
        "adjacent ±2": {m: {by_seq[s + d] for d in (-2, -1, 1, 2) if s + d in by_seq} for m, s in seq.items()},
        "same day": {m: by_day[day[m]] - {m} for m in seq},
        "fact evidence": {m: set() for m in seq},
    }
    return kinds, dia, day, df


LIST_LIKE = re.compile(r"\b(both|all|which|list|what (?:are|were|kinds?|types?|things))\b|\w{4,}s\b", re.I)


def fuse(lists: list[tuple[list[int], float]], k: float = 40.0) -> list[int]:
    score: dict[int, float] = {}
    for ids, w in lists:
        for rank, m in enumerate(ids, 1):
            score[m] = score.get(m, 0.0) + w / (k + rank)
    return sorted(score, key=lambda m: -score[m])


def activation(graph, seeds: list[int], k: float = 40.0) -> dict[int, float]:
    act: dict[int, float] = {}
    for rank, m in enumerate(seeds, 1):
        for n in graph.get(m, ()):
            act[n] = act.get(n, 0.0) + 1 / (k + rank)
    return act


def breadth(ranked: list[tuple[int, float]], day: dict[int, str], discount: float = 0.85) -> list[int]:
    """Greedy: each pick's score is discounted once per memory of the same day already picked."""
    rest, out, used = list(ranked), [], Counter()
    while rest:
        best = max(range(len(rest)), key=lambda i: rest[i][1] * discount ** used[day[rest[i][0]]])
        m, _ = rest.pop(best)
        out.append(m)
        used[day[m]] += 1
    return out


def variants(top: list[tuple[int, float]], kinds, day, question: str, prf: list[int], seeds: int) -> dict:
    ids = [m for m, _ in top]
    act_rare = activation(kinds["rare terms"], ids[:seeds])
    act_adj = activation(kinds["adjacent ±1"], ids[:seeds])
    score_of = dict(top)
    support: dict[int, float] = {}  # the fused scores of the seeds a candidate is linked to
    for m in ids[:seeds]:
        for graph in (kinds["rare terms"], kinds["adjacent ±1"]):
            for n in graph.get(m, ()):
                support[n] = support.get(n, 0.0) + score_of[m]
    boosted = {m: s + 0.1 * support.get(m, 0.0) for m, s in top}
    return {
        "memcli (default)": ids,
        "graph list: rare terms, w 0.25": fuse([(ids, 1.0), (sorted(act_rare, key=lambda m: -act_rare[m]), 0.25)]),
        "graph list: adjacent ±1, w 0.25": fuse([(ids, 1.0), (sorted(act_adj, key=lambda m: -act_adj[m]), 0.25)]),
        "graph boost in pool (rare terms + ±1)": sorted(boosted, key=lambda m: -boosted[m]),
        "breadth by day, list-like questions": breadth(top, day) if LIST_LIKE.search(question) else ids,
        "breadth by day, every question": breadth(top, day),
        "expansion (PRF list, w 0.5)": fuse([(ids, 1.0), (prf, 0.5)]),
    }


def prf_list(mem, question: str, top: list[int], df: Counter, n: int, depth: int = 100) -> list[int]:
    """Full-text search for the question's words plus the 5 rarest words of its top 5 hits."""
    from memcli.retrieval.fts_query import query_terms
    from memcli.types import Filters

    terms = query_terms(question)
    texts = mem.get(top[:5])
    extra = Counter()
    for rec in texts.values():
        for w in set(query_terms(rec["text"])):
            if w not in terms and 1 < df.get(w, 0) <= 0.02 * n:
                extra[w] += math.log(n / df[w])
    words = terms + [w for w, _ in extra.most_common(5)]
    return [m for m, _ in mem.search_words(words, Filters(), depth)]


def hops(graph, seeds: set[int], k: int) -> set[int]:
    reached, frontier = set(seeds), set(seeds)
    for _ in range(k):
        frontier = {n for m in frontier for n in graph.get(m, ())} - reached
        reached |= frontier
    return reached - seeds


def main(argv=None):
    ap = bench_parser(__doc__)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--fanout", type=int, default=5)
    ap.add_argument("--max-df", type=float, default=0.02, help="a rare term is in at most this share of memories")
    args = ap.parse_args(argv)
    files = chat_files(args.data)
    if files is None:
        return 0
    from memcli.models.embedder import load_embedder

    embedder = load_embedder()
    # per category, per link kind: [missed, reached in 1 hop, in 2 hops, candidates 1 hop, candidates 2 hops]
    tally = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))
    questions_n = Counter()
    ablation: dict[str, list] = defaultdict(list)
    asked: list[dict] = []
    chat_of: list[str] = []
    from memcli.retrieval.fts_query import query_terms
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            records, questions = load_chat(path)
            db = Path(tmp) / f"{path.stem}.db"
            mem = Memory(db, embedder=embedder)
            import json

            mem.remember([RawInput("realtalk", "\n".join(json.dumps(r) for r in records))], fmt="jsonl")
            when = asked_at(records)
            full = [[(h.id, h.score) for h in mem.recall(q["question"], limit=100, touch=False, asked_at=when)]
                    for q in questions]
            tops = [[m for m, _ in t[: args.seeds]] for t in full]
            kinds, dia, day, stems = graph_of(db, args.fanout, args.max_df)
            words = Counter(w for r in records for w in set(query_terms(r["text"])))
            rev = {v: k for k, v in dia.items()}
            for q, top100 in zip(questions, full):
                prf = prf_list(mem, q["question"], [m for m, _ in top100], words, len(records))
                for name, ranked in variants(top100, kinds, day, q["question"], prf, args.seeds).items():
                    ablation[name].append([[rev[m]] for m in ranked[:50]])
                asked.append(q)
                chat_of.append(path.name)
            mem.close()
            for q, top in zip(questions, tops):
                cat = CATEGORIES.get(q["category"], str(q["category"]))
                seeds = set(top)
                missed = {dia[e] for e in q["evidence"] if e in dia} - seeds
                for c in (cat, "all"):
                    questions_n[c] += 1
                for name, graph in kinds.items():
                    one, two = hops(graph, seeds, 1), hops(graph, seeds, 2)
                    for c in (cat, "all"):
                        t = tally[c][name]
                        t[0] += len(missed)
                        t[1] += len(missed & one)
                        t[2] += len(missed & two)
                        t[3] += len(one)
                        t[4] += len(two)
            print(f"{path.name}: {len(records)} messages, {len(questions)} questions", file=sys.stderr)
    print(f"Missed evidence (not in recall's top {args.seeds}) reachable from the top {args.seeds}; rare terms: "
          f"df <= {args.max_df:.0%}, {args.fanout} neighbours per memory")
    for cat in ("all", "multi-hop", "temporal", "commonsense"):
        if cat not in tally:
            continue
        n = questions_n[cat]
        missed = next(iter(tally[cat].values()))[0]
        print(f"\n{cat}: {n} questions, {missed} evidence turns missed")
        print("| link | 1 hop | 2 hops | candidates added, 1 hop | 2 hops |")
        print("|---|---:|---:|---:|---:|")
        for name, t in tally[cat].items():
            print(f"| {name} | {100 * t[1] / max(1, t[0]):.1f} % | {100 * t[2] / max(1, t[0]):.1f} % "
                  f"| {t[3] / n:.0f} | {t[4] / n:.0f} |")
    cats = ("multi-hop", "temporal", "commonsense")
    for split, keep in (("all", lambda c: True), ("holdout (never tuned on)", lambda c: c in HOLDOUT)):
        mask = [keep(c) for c in chat_of]
        qs = [q for q, m in zip(asked, mask) if m]
        print(f"\nAblation, {split}: {len(qs)} questions, R@10 / R@25 (%)")
        print("| variant | all | " + " | ".join(cats) + " |")
        print("|---|---:|" + "---:|" * len(cats))
        for name, lists in ablation.items():
            res = score([x for x, m in zip(lists, mask) if m], qs)
            cells = [f"{res['all'][10]:.1f} / {res['all'][25]:.1f}"] + [f"{res[c][10]:.1f}" for c in cats if c in res]
            print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

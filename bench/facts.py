"""Fact extraction and consolidation on REALTALK, with the default local models.

    python bench/facts.py                      # first 160 messages of Chat_1 (about 3 minutes on 2 cores)
    python bench/facts.py --messages 400 --chat Chat_3_Kevin_Paola.json

Prints: facts proposed vs accepted by the grounding check and why the rest were rejected, samples of both,
extraction and consolidation time per 1,000 messages, and evidence recall@k with and without the fact keys
(questions whose evidence lies inside the ingested messages only). Skips cleanly when the data is absent.
Caveat: a day summary's sources are all of that day's messages, so one summary hit "retrieves" many evidence ids;
the summaries row measures coverage that way, not a like-for-like ranking gain.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realtalk import KS, asked_at, bench_parser, load_chat, score  # noqa: E402

from memcli.core import Memory, RawInput  # noqa: E402
from memcli.types import Filters  # noqa: E402


def main(argv=None):
    ap = bench_parser(__doc__)
    ap.add_argument("--chat", default="Chat_1_Emi_Elise.json")
    ap.add_argument("--messages", type=int, default=160)
    args = ap.parse_args(argv)
    path = args.data / args.chat
    if not path.is_file():
        print(f"SKIP: {path} not found (pass --data PATH)")
        return 0
    records, questions = load_chat(path)
    records = records[: args.messages]
    ids = {r["id"] for r in records}
    questions = [q for q in questions if set(q["evidence"]) <= ids]

    with tempfile.TemporaryDirectory() as tmp:
        mem = Memory(Path(tmp) / "facts.db")
        res = mem.remember([RawInput("realtalk", "\n".join(json.dumps(r) for r in records))], fmt="jsonl")
        mem.generator  # noqa: B018 - load before timing
        t0 = time.perf_counter()
        facts = mem.extract_facts(res.created)
        extract_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = mem.consolidate()
        consolidate_s = time.perf_counter() - t0

        def run(kinds):
            out = []
            for q in questions:
                hits = mem.recall(q["question"], limit=max(KS), touch=False, filters=Filters(kinds=kinds),
                                  asked_at=asked_at(records))
                out.append([[s["message_id"] for s in h.sources] for h in hits])
            return score(out, questions)["all"] if questions else None

        without = run(["episodic"])
        with_facts = run(["episodic", "fact"])
        with_all = run([])

    n = len(records)
    print(f"REALTALK {args.chat}, first {n} messages, generator {mem.generator.model_id}")
    print(f"facts proposed {facts.proposed}, accepted {len(facts.accepted)}, rejected {facts.rejected}")
    print("rejection reasons:", json.dumps(facts.reasons))
    for s in facts.samples[:12]:
        print(f"  {'ACCEPT' if s['accepted'] else 'reject'}: {s['fact']}  ({s['reason']})")
    print(f"extraction: {extract_s:.1f} s = {1000 * extract_s / n:.0f} s per 1,000 messages")
    print(f"consolidate (merge, day summaries, decay; no LLM): {consolidate_s:.2f} s = "
          f"{1000 * consolidate_s / n:.1f} s per 1,000 messages; "
          f"{len(report['merged'])} merged, {len(report['summaries_written'])} day summaries")
    if questions:
        print(f"\nevidence recall on {len(questions)} questions with evidence inside these messages:")
        print("| keys | " + " | ".join(f"R@{k}" for k in KS) + " |\n|---|" + "---|" * len(KS))
        for name, res_k in (("messages only", without), ("+ fact keys", with_facts),
                            ("+ facts + day summaries (see caveat)", with_all)):
            print(f"| {name} | " + " | ".join(f"{res_k[k]:.1f}" for k in KS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

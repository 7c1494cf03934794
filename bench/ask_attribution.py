"""Does `ask` know who said what? Swapped-person questions on REALTALK, and `ask` latency.

    python bench/ask_attribution.py                    # both splits, every eligible pair
    python bench/ask_attribution.py --n 40 --seed 13 --split holdout --json out.json

Questions: REALTALK questions that name one of the chat's two speakers (retrieval.priors.named_speaker over the
two names; 'Kate' in chat 1 names neither) and not the other, and whose evidence messages were all said by the named
speaker (362 pairs on the tuning chats, 71 on the hold-out). Each gives two questions:
- answerable: the question as is ('What are Fahim's hobbies?'); `ask` should answer, not decline;
- swapped: the named speaker's name replaced by the other speaker's first name, by plain string replacement of the
  words that name them ('What are Akib's hobbies?' when only Fahim spoke of his hobbies); `ask` should decline
  ('Memory holds nothing on what Akib said about that') or correct ('Fahim said that, not Akib: ...').
A pair is left out when its swapped question is itself a question of the data set ('What tv shows did Emi watch?'
beside 'What tv shows did Paola watch?'): that one is answerable, not a trap. Every pair is asked, or --n drawn
with a fixed seed; the tuning chats (1-8) and the hold-out chats (9, 10, never tuned on) are reported apart.

A swapped question that `ask` answers is split by whose words the answer cites: the asked person's own (it may be
a fair answer about them: people share hobbies) or only the other person's (the misattribution this measures).
Latency: wall time of each `ask` in one process with the default generator (gemma-3-270m) and embedder (MiniLM)
loaded once; the one-off model load, which a one-shot `memcli ask` also pays, is printed apart.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.realtalk import HOLDOUT, asked_at, bench_parser, chat_files, load_chat  # noqa: E402
from memcli.core import Memory, RawInput  # noqa: E402
from memcli.retrieval.priors import name_spans, named_speaker  # noqa: E402

KINDS = ("answerable", "swapped")


def first_name(speaker: str) -> str:
    word = speaker.split()[0]
    return word[:1].upper() + word[1:]


def swap_person(question: str, named: str, other: str) -> str:
    """Replace the words naming `named` by `other`'s first name; a run of them ('Fahim Khan') becomes one name."""
    out, last, prev_end = [], 0, None
    for start, end in name_spans(question, named):
        if prev_end is not None and not question[prev_end:start].strip():  # 'Khan' right after 'Fahim': drop it
            out.append(question[last:prev_end])
        else:
            out.append(question[last:start] + first_name(other))
        last = prev_end = end
    out.append(question[last:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


def pairs_of_chat(path: Path) -> tuple[list[dict], list[dict], int]:
    """(records, pairs, left out because the swap is a data-set question) for one chat."""
    records, questions = load_chat(path)
    said_by = {r["id"]: r["speaker"] for r in records}
    speakers = sorted(set(said_by.values()))
    asked = {" ".join(q["question"].lower().split()) for q in questions}
    pairs, dropped = [], 0
    for q in questions:
        named = named_speaker(q["question"], speakers)
        if named is None or len(speakers) != 2:
            continue
        other = speakers[1 - speakers.index(named)]
        if name_spans(q["question"], other) or not all(said_by.get(e) == named for e in q["evidence"]):
            continue
        swapped = swap_person(q["question"], named, other)
        if " ".join(swapped.lower().split()) in asked:
            dropped += 1
            continue
        pairs.append({"chat": path.name, "answerable": q["question"], "swapped": swapped, "named": named,
                      "other": other, "evidence": q["evidence"]})
    return records, pairs, dropped


def verdict(result: dict) -> str:
    """declined / corrected / answered, from the result's own field or, for code without one, from its text."""
    if result.get("verdict"):
        return result["verdict"]
    answer = result["answer"]
    if result["abstained"] or answer.startswith("Memory holds nothing"):
        return "declined"
    return "corrected" if re.search(r"said that, not ", answer) else "answered"


class TimedGenerator:
    """The generator, timed: calls, seconds and prompt tokens per call."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.model_id = inner.model_id
        self.calls: list[tuple[float, int]] = []

    def complete(self, prompt: str, **kwargs: Any) -> str:
        t0 = time.perf_counter()
        out = self.inner.complete(prompt, **kwargs)
        n_tokens = len(self.inner._llm.tokenize(prompt.encode("utf-8", "replace")))
        self.calls.append((time.perf_counter() - t0, n_tokens))
        return out


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def one_shot(db: Path, question: str, tmp: Path) -> float:
    """Wall time of a fresh `memcli ask` process: interpreter start, imports, both model loads and the ask."""
    env = {**os.environ, "MEMCLI_CONFIG": str(tmp / "config.toml")}
    env.pop("MEMCLI_GENERATOR", None)
    env.pop("MEMCLI_EMBEDDER", None)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "memcli", "--db", str(db), "ask", question], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run(files: list[Path], n: int, seed: int, embedder: Any, generator: TimedGenerator, n_one_shot: int) -> dict:
    by_chat: dict[str, list[dict]] = {}
    records_of: dict[str, list[dict]] = {}
    dropped = 0
    for path in files:
        records, pairs, d = pairs_of_chat(path)
        records_of[path.name], by_chat[path.name] = records, pairs
        dropped += d
    pool = [p for ps in by_chat.values() for p in ps]
    chosen = random.Random(seed).sample(pool, min(n, len(pool))) if n else pool
    rows: list[dict] = []
    one_shots: list[float] = []
    with tempfile.TemporaryDirectory(prefix="memcli-ask-") as tmp:
        for path in files:
            mine = [p for p in chosen if p["chat"] == path.name]
            if not mine:
                continue
            records = records_of[path.name]
            when = asked_at(records)
            db = Path(tmp) / f"{path.stem}.db"
            with Memory(db, embedder=embedder, generator=generator) as mem:
                mem.ctx.clock = lambda when=when: when  # the questions are asked when the chat ends
                mem.remember([RawInput("realtalk", "\n".join(json.dumps(r) for r in records))], fmt="jsonl")
                for p in mine:
                    for kind in KINDS:
                        calls = len(generator.calls)
                        t0 = time.perf_counter()
                        result = mem.ask(p[kind])
                        secs = time.perf_counter() - t0
                        cited = set(result["cited"])
                        cited_by = {c["speaker"] for c in result["context"] if c["id"] in cited}
                        asked_person = p["named"] if kind == "answerable" else p["other"]
                        rows.append({"kind": kind, "chat": p["chat"], "question": p[kind], "verdict": verdict(result),
                                     "answer": result["answer"], "mode": result["mode"], "seconds": secs,
                                     "generator_calls": generator.calls[calls:],
                                     "own_words": bool(cited_by) and cited_by == {asked_person},
                                     "cites_evidence": bool(cited & _evidence_ids(mem, p["evidence"]))})
            for p in mine[: max(0, n_one_shot - len(one_shots) // 2)]:
                one_shots += [one_shot(db, p[kind], Path(tmp)) for kind in KINDS]
    return {"rows": rows, "pool": len(pool), "dropped": dropped, "one_shot_s": one_shots}


def _evidence_ids(mem: Memory, dia_ids: list[str]) -> set[int]:
    rows = mem.store.db.conn.execute(
        f"SELECT mm.memory_id FROM memory_messages mm JOIN messages m ON m.id = mm.message_id "
        f"WHERE m.external_id IN ({','.join('?' * len(dia_ids))})", dia_ids)
    return {r[0] for r in rows}


def summarise(rows: list[dict], one_shots: list[float]) -> dict:
    out: dict[str, Any] = {}
    for kind in KINDS:
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        count = {v: sum(r["verdict"] == v for r in rs) for v in ("declined", "corrected", "answered")}
        answered = [r for r in rs if r["verdict"] == "answered"]
        out[kind] = {"n": len(rs), **count,
                     "answered_own_words": sum(r["own_words"] for r in answered),
                     "answered_cites_evidence": sum(r["cites_evidence"] for r in answered)}
    secs = [r["seconds"] for r in rows]
    gen = [c for r in rows for c in r["generator_calls"]]
    out["latency"] = {"asks": len(secs), "p50": pct(secs, 0.5), "p95": pct(secs, 0.95),
                      "mean": statistics.fmean(secs) if secs else float("nan"),
                      "asks_calling_generator": sum(bool(r["generator_calls"]) for r in rows),
                      "generator_s_mean": statistics.fmean(c[0] for c in gen) if gen else 0.0,
                      "prompt_tokens_mean": statistics.fmean(c[1] for c in gen) if gen else 0.0,
                      "outside_generator_s_mean": statistics.fmean(
                          r["seconds"] - sum(c[0] for c in r["generator_calls"]) for r in rows) if rows else 0.0,
                      "one_shot": len(one_shots), "one_shot_p50": pct(one_shots, 0.5),
                      "one_shot_p95": pct(one_shots, 0.95)}
    return out


def share(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f} %)" if n else "-"


def table(results: dict[str, dict]) -> str:
    lines = ["| split | kind | n | declined | corrected | declined or corrected | answered (from asked person's "
             "own words / citing evidence) |", "|---|---|---|---|---|---|---|"]
    for split, s in results.items():
        for kind in KINDS:
            if kind not in s:
                continue
            k = s[kind]
            lines.append(f"| {split} | {kind} | {k['n']} | {share(k['declined'], k['n'])} | "
                         f"{share(k['corrected'], k['n'])} | {share(k['declined'] + k['corrected'], k['n'])} | "
                         f"{k['answered']} ({k['answered_own_words']} / {k['answered_cites_evidence']}) |")
    lines += ["", "| split | asks | p50 s | p95 s | mean s | asks calling the generator | generator s/call | "
              "prompt tokens/call | outside the generator s/ask | one-shot `memcli ask` p50 / p95 s (n) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for split, s in results.items():
        lat = s["latency"]
        if not lat["asks"]:
            continue
        lines.append(f"| {split} | {lat['asks']} | {lat['p50']:.2f} | {lat['p95']:.2f} | {lat['mean']:.2f} | "
                     f"{lat['asks_calling_generator']} | {lat['generator_s_mean']:.2f} | "
                     f"{lat['prompt_tokens_mean']:.0f} | {lat['outside_generator_s_mean']:.2f} | "
                     f"{lat['one_shot_p50']:.2f} / {lat['one_shot_p95']:.2f} ({lat['one_shot']}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = bench_parser(__doc__ or "")
    ap.add_argument("--split", choices=("all", "tune", "holdout"), default="all")
    ap.add_argument("--n", type=int, default=0,
                    help="question pairs drawn per split, each giving one question of each kind (0: every pair)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--one-shot", type=int, default=5, help="pairs per split also timed as fresh `memcli ask` processes")
    ap.add_argument("--json", type=Path, help="write every question, answer and verdict here")
    args = ap.parse_args(argv)
    files = chat_files(args.data)
    if files is None:
        return 0
    splits = {"tune (chats 1-8)": [f for f in files if f.name not in HOLDOUT],
              "holdout (chats 9, 10)": [f for f in files if f.name in HOLDOUT]}
    if args.split != "all":
        splits = {k: v for k, v in splits.items() if k.startswith(args.split)}

    from memcli.models.embedder import load_embedder
    from memcli.models.generator import load_generator

    t0 = time.perf_counter()
    embedder = load_embedder()
    t1 = time.perf_counter()
    generator = TimedGenerator(load_generator())
    t2 = time.perf_counter()
    results, details = {}, {}
    for name, chat_list in splits.items():
        out = run(chat_list, args.n, args.seed, embedder, generator, args.one_shot)
        results[name] = summarise(out["rows"], out["one_shot_s"])
        details[name] = out
        print(f"{name}: {len(out['rows']) // 2} pairs drawn from {out['pool']} "
              f"({out['dropped']} left out: the swap is a data-set question)", file=sys.stderr)
    print(f"ask attribution on REALTALK ({f'seed {args.seed}, up to {args.n}' if args.n else 'every eligible'} "
          "pair per split)\n")
    print(table(results))
    print(f"\nmodel load (once per process; a one-shot `memcli ask` pays it): embedder {t1 - t0:.2f} s, "
          f"generator {t2 - t1:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"summary": results, "details": details}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

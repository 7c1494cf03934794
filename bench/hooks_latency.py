"""What memcli's Claude Code hook adds to each prompt: wall time of `memcli hooks run UserPromptSubmit`.

    python bench/hooks_latency.py [--runs 30] [--memories 600] [--embedder default|hash ...]

For each embedder, a throwaway database is filled the way the hooks fill it (a synthetic Claude Code session log
of --memories turns, with tool calls and results around them, captured by the Stop hook's code), then the installed
hook command is run --runs times as Claude Code runs it: a new process per prompt, the hook's JSON on stdin, a
different prompt each time. Prints p50/p95 (and min/max) of the wall time per prompt, plus `memcli --version` as
the floor any memcli command pays (Python start-up and imports). The default embedder is the real
all-MiniLM-L6-v2 (prepared once in the user cache); `hash` is the model-free test embedder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOPICS = ["billing export", "login rate limit", "s3 upload retries", "database migration", "feature flag cleanup",
          "flaky integration test", "docker image size", "API pagination", "timezone bug", "cache invalidation",
          "oauth refresh token", "search ranking", "CSV parser", "email templates", "metrics dashboard"]
VERBS = ["must", "should", "now", "will", "cannot", "already"]
DETAILS = ["run at 02:00 UTC", "use a sliding window of 60 seconds", "retry three times with backoff",
           "keep the old column until v2.3", "be removed after the Q3 release", "pin postgres to 15.4",
           "stay under 200 MB", "return 50 items per page", "store times in UTC", "expire after 10 minutes",
           "log the hashed IP", "ignore archived rows", "quote fields with commas", "use the brand colours",
           "alert on p95 over 300 ms"]


def session_log(turns: int, project: Path, rng: random.Random) -> str:
    lines, parent = [], None
    for i in range(turns):
        topic, detail = rng.choice(TOPICS), rng.choice(DETAILS)
        role = "user" if i % 2 == 0 else "assistant"
        text = (f"The {topic} {rng.choice(VERBS)} {detail}." if role == "user"
                else f"Done: the {topic} code now does this ({detail}); see commit {rng.getrandbits(28):07x}.")
        uuid = f"t{i:06d}"
        content: object = text if role == "user" else [{"type": "text", "text": text}, {
            "type": "tool_use", "id": f"toolu_{i}", "name": "Edit", "input": {"file_path": "app.py"}}]
        lines.append(json.dumps({
            "parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": str(project),
            "sessionId": "bench-session-0001", "version": "1.0.98", "gitBranch": "main", "type": role,
            "message": {"role": role, "content": content}, "uuid": uuid,
            "timestamp": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T10:{i % 60:02d}:00.000Z"}))
        if role == "assistant":
            lines.append(json.dumps({"parentUuid": uuid, "sessionId": "bench-session-0001", "type": "user",
                                     "message": {"role": "user", "content": [
                                         {"tool_use_id": f"toolu_{i}", "type": "tool_result", "content": "ok"}]},
                                     "uuid": f"r{i:06d}", "timestamp": "2025-01-01T10:00:00.000Z"}))
        parent = uuid
    return "\n".join(lines) + "\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def memcli_exe() -> list[str]:
    beside = Path(sys.executable).parent / "memcli"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "memcli"]


def timed(argv: list[str], stdin: bytes, env: dict) -> tuple[float, bytes]:
    start = time.perf_counter()
    r = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=120)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{argv} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    return elapsed, r.stdout


def bench(embedder: str, runs: int, memories: int, workdir: Path) -> dict:
    from memcli_hooks import claude_code as cc

    env = {k: v for k, v in os.environ.items() if k not in ("MEMCLI_EMBEDDER", "CLAUDE_PROJECT_DIR", "MEMCLI_DB")}
    if embedder != "default":
        env["MEMCLI_EMBEDDER"] = embedder
    project = workdir / f"project-{embedder}"
    project.mkdir()
    env["CLAUDE_PROJECT_DIR"] = str(project)
    env[cc.ENV_STATE] = str(workdir / "state")
    db = workdir / f"{embedder}.db"
    rng = random.Random(7)
    log = workdir / f"{embedder}.jsonl"
    log.write_text(session_log(memories, project, rng))

    os.environ.update({k: env[k] for k in (cc.ENV_STATE, "CLAUDE_PROJECT_DIR")})
    cfg = cc.HookConfig(db=db, embedder_spec=None if embedder == "default" else embedder,
                        state=workdir / "state")
    t0 = time.perf_counter()
    counts = cc.capture({"session_id": "bench-session-0001", "transcript_path": str(log), "cwd": str(project),
                         "hook_event_name": "Stop"}, cfg)
    fill = time.perf_counter() - t0

    exe = memcli_exe()
    hook = [*exe, "--db", str(db), "hooks", "run", "UserPromptSubmit"]
    floor = [timed([*exe, "--version"], b"", env)[0] for _ in range(max(5, runs // 3))]
    prompts = [f"How should the {t} work? Remind me what we decided." for t in TOPICS]
    times, injected, sizes = [], 0, []
    for i in range(runs + 2):
        payload = json.dumps({"session_id": f"prompt-session-{i:04d}", "transcript_path": str(workdir / "new.jsonl"),
                              "cwd": str(project), "permission_mode": "default",
                              "hook_event_name": "UserPromptSubmit", "prompt": prompts[i % len(prompts)]}).encode()
        elapsed, out = timed(hook, payload, env)
        if i < 2:  # warm-up: the OS file cache, not memcli
            continue
        times.append(elapsed)
        if out.strip():
            injected += 1
            sizes.append(len(json.loads(out)["hookSpecificOutput"]["additionalContext"]))
    log_file = workdir / "state" / "hooks.log"
    return {"embedder": embedder, "memories": counts["created"], "fill_s": round(fill, 1), "runs": len(times),
            "p50_ms": round(1000 * statistics.median(times)), "p95_ms": round(1000 * percentile(times, 0.95)),
            "min_ms": round(1000 * min(times)), "max_ms": round(1000 * max(times)),
            "floor_p50_ms": round(1000 * statistics.median(floor)), "injected": injected,
            "max_chars": max(sizes, default=0), "errors_logged": log_file.exists()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--memories", type=int, default=600, help="turns in the synthetic session (before noise)")
    ap.add_argument("--embedder", action="append", help="default (the real model) and/or hash; both if omitted")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="memcli-hooks-bench-") as tmp:
        for embedder in args.embedder or ["default", "hash"]:
            rows.append(bench(embedder, args.runs, args.memories, Path(tmp)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| embedder | memories | runs | p50 | p95 | min | max | `memcli --version` p50 | prompts injected | "
          "largest block |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['embedder']} | {r['memories']} | {r['runs']} | {r['p50_ms']} ms | {r['p95_ms']} ms | "
              f"{r['min_ms']} ms | {r['max_ms']} ms | {r['floor_p50_ms']} ms | {r['injected']}/{r['runs']} | "
              f"{r['max_chars']} chars |" + (" (errors in hooks.log)" if r["errors_logged"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

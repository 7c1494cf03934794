"""memcli audit: log, show, verify, stats, scan, recall-log."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ..changes import Op
from ..errors import MemcliError
from .app import JsonOpt, MemcliGroup, app
from ..ingest.keys import labelled
from .choices import OnOff
from .completion import complete_memory_id
from .output import Output, local_time, safe

audit_app = typer.Typer(cls=MemcliGroup, no_args_is_help=True, rich_markup_mode=None,
                        help="Where memories came from and who changed them: log, show, verify, stats, scan.")
app.add_typer(audit_app, name="audit")


class ChainBroken(MemcliError):
    """audit verify found a record that does not match the chain."""


def _detail(detail: dict) -> str:
    return safe(json.dumps(detail, ensure_ascii=False, sort_keys=True))


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    op: Annotated[Optional[Op], typer.Option("--op", help="Only records of this operation (docs/audit.md).",
                                             show_choices=True)] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Records at or after this time ('7d', ISO-8601).")] = None,
    memory: Annotated[Optional[int], typer.Option("--memory", help="Only records that touched this memory id.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="Only the last N records.")] = None,
    json_out: JsonOpt = False,
):
    """The append-only audit log, oldest first (ids and hashes only, never memory text).

    \b
    Example:
      memcli audit log --op forget --since 30d --json
    """
    out = Output(json_out, False)
    with ctx.obj.memory(out) as mem:
        records = mem.audit_log(op=op.value if op else None, since=since, memory_id=memory, limit=limit)
    if json_out:
        out.emit_json([r.to_json() for r in records])
        return
    for r in records:
        ids = ",".join(map(str, r.memory_ids[:10])) + (f" +{len(r.memory_ids) - 10}" if len(r.memory_ids) > 10 else "")
        print(f"{r.id:>6}  {local_time(r.at)}  {safe(r.actor):<8} {r.op:<10} [{ids}] {_detail(r.detail)[:160]}")


@audit_app.command("show")
def audit_show(ctx: typer.Context, memory_id: Annotated[int, typer.Argument(help="Memory id.", autocompletion=complete_memory_id)],
               json_out: JsonOpt = False):
    """The full story of one memory: source and message ids, verbatim evidence, links, every audit record.

    \b
    Example:
      memcli audit show 12
    """
    out = Output(json_out, False)
    with ctx.obj.memory(out) as mem:
        story = mem.audit_show(memory_id)
    if json_out:
        out.emit_json(story)
        return
    if not story["exists"]:
        print(f"memory {memory_id} no longer exists (forgotten); its audit records:")
    else:
        m = story["memory"]
        print(f"memory {memory_id}  kind={m['kind']} scope={safe(m['scope'])} status={m['status']}"
              f"{' pinned' if m['pinned'] else ''}{' STALE' if m['stale'] else ''}")
        print(f"  text: {safe(m['text'])}")
        print(f"  speaker: {safe(m['speaker'] or '-')}  occurred: {local_time(m['occurred_at'])}  "
              f"created: {local_time(m['created_at'])}")
        print(f"  recalled {m['recall_count']}x, last {local_time(m['last_recalled_at']) if m['last_recalled_at'] else 'never'}, "
              f"strength {m['strength']}")
        if m["tags"]:
            print(f"  tags: {safe(', '.join(m['tags']))}")
        if m["flags"]:
            print("  flags: " + ", ".join(f"{f['kind']}:{f['rule']}" for f in m["flags"]))
        print("  evidence:")
        for ev in story["evidence"]:
            print(f"    source {ev['source_id']} ({safe(ev['origin'])}, {ev['format']}, received {ev['received_at']}) "
                  + (f"message {safe(str(ev['message_id']))} " if ev["message_id"] else "") + f"#{ev['seq']}: "
                  f"{safe(labelled(ev['speaker'], ev['text']))}")
        for direction, label in (("out", "->"), ("in", "<-")):
            for link in story["links"][direction]:
                print(f"  {link['relation']} {label} memory {link['memory_id']}")
    print("  audit:")
    for r in story["audit"]:
        print(f"    {r['id']:>6}  {r['at']}  {safe(r['actor'])}  {r['op']}  {_detail(r['detail'])[:120]}")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, json_out: JsonOpt = False,
                 expect_hash: Annotated[Optional[str], typer.Option(
                     "--expect-hash", help="A last hash printed earlier (kept outside the database): fail if the "
                     "log no longer holds it.")] = None):
    """Recompute the hash chain, check the index, triggers and that every memory has its record; exit 1 naming
    what is wrong. Keep the printed last hash elsewhere and pass it back with --expect-hash to catch a cut tail.

    \b
    Examples:
      memcli audit verify
      memcli audit verify --expect-hash 3f9a...
    """
    out = Output(json_out, False)
    with ctx.obj.memory(out) as mem:
        result = mem.audit_verify(expect_hash)
    if json_out:
        out.emit_json(result)
    elif result["ok"]:
        print(f"audit chain intact: {result['records']} records verified, last hash {result['last_hash']}")
    if not result["ok"]:
        where = f" at record {result['first_broken']}" if result["first_broken"] is not None else ""
        raise ChainBroken(f"audit check failed{where}: {result['reason']}")


@audit_app.command("stats")
def audit_stats(ctx: typer.Context, json_out: JsonOpt = False):
    """Counts by kind, scope and status; database size; model ids; audit records.

    \b
    Example:
      memcli audit stats --json
    """
    out = Output(json_out, False)
    with ctx.obj.memory(out) as mem:
        out.mapping(mem.audit_stats())


@audit_app.command("scan")
def audit_scan(
    ctx: typer.Context,
    quarantine: Annotated[bool, typer.Option("--quarantine", help="Exclude flagged memories from recall (undo: memcli restore).")] = False,
    json_out: JsonOpt = False,
):
    """Flag memories that look like injected agent instructions, hidden text, secrets or personal data.

    \b
    Example:
      memcli audit scan --quarantine
    """
    out = Output(json_out, False)
    with ctx.obj.memory(out) as mem:
        flagged = mem.scan_memories(quarantine=quarantine)
        texts = {m: r["text"] for m, r in mem.get([f["id"] for f in flagged]).items()}
    if json_out:
        out.emit_json(flagged)
        return
    if not flagged:
        print("No memory flagged.")
        return
    for f in flagged:
        rules = ", ".join(f"{x['kind']}:{x['rule']}" for x in f["findings"])
        print(f"{f['id']:>6}  {f['status']:<11} {rules}  {safe(texts.get(f['id'], ''))[:80]}")
    print(f"{len(flagged)} flagged" + (", quarantined" if quarantine else " (use --quarantine to exclude them from recall)"))


@audit_app.command("recall-log")
def audit_recall_log(ctx: typer.Context, state: Annotated[OnOff, typer.Argument(help="Log recalls or not.")]):
    """Turn logging of recalls (ids returned and a query digest) on or off. $MEMCLI_LOG_RECALLS overrides.

    \b
    Example:
      memcli audit recall-log off
    """
    out = Output(False, False)
    with ctx.obj.memory(out) as mem:
        mem.set_recall_logging(state == "on")
    print(f"recall logging {state.value}")


@audit_app.command("scrub")
def audit_scrub(ctx: typer.Context):
    """Overwrite on disk what forget erased: fold the write-ahead log into the database file and truncate it
    (forget does this itself unless another process was reading). Exit 1 while a reader still blocks it.

    \b
    Example:
      memcli audit scrub
    """
    from .forget_cmds import SCRUB_PENDING, SCRUB_PENDING_SERVER

    with ctx.obj.memory(Output(False, False)) as mem:
        done = mem.scrub()
        server = mem.ctx.url is not None
    if not done:
        raise MemcliError((SCRUB_PENDING_SERVER if server else SCRUB_PENDING)
                          .replace("run 'memcli audit scrub' once", "run this again when"))
    print("tables rewritten without the deleted rows (VACUUM FULL)" if server
          else "write-ahead log folded into the database and truncated")

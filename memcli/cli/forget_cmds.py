"""forget, restore, pin, unpin."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .app import JsonOpt, QuietOpt, ScopeOpt, TagOpt, app
from .choices import TimeField
from .completion import complete_memory_id
from .output import Output, safe


def _confirm(n: int, verb: str, yes: bool) -> None:
    if yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        raise InputError(f"refusing to {verb} {n} memor{'y' if n == 1 else 'ies'} without --yes "
                         "(stdin is not a terminal, so memcli cannot ask)")
    if not typer.confirm(f"{verb.capitalize()} {n} memor{'y' if n == 1 else 'ies'}?", default=False, err=True):
        raise InputError("cancelled; nothing changed")


@app.command()
def forget(
    ctx: typer.Context,
    ids: Annotated[Optional[list[int]], typer.Argument(help="Memory ids.", autocompletion=complete_memory_id)] = None,
    query: Annotated[Optional[str], typer.Option("--query", help="Memories matching this recall query.")] = None,
    min_score: Annotated[float, typer.Option("--min-score", help="With --query: only hits scoring at least this.")] = 0.0,
    scope: ScopeOpt = None,
    tag: TagOpt = None,
    before: Annotated[Optional[str], typer.Option("--before", help="Happened (or created, with --by created) before this time.")] = None,
    after: Annotated[Optional[str], typer.Option("--after", help="Happened (or created) at or after this time.")] = None,
    by: Annotated[TimeField, typer.Option("--by", help="Time field for --before/--after.")] = TimeField.occurred,
    source: Annotated[Optional[int], typer.Option("--source", help="Everything one ingest (source id) produced.")] = None,
    decayed: Annotated[bool, typer.Option("--decayed", help="Memories whose retention fell below --threshold (never pinned ones).")] = False,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Retention threshold for --decayed (default 0.05).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Everything in --scope (or everywhere, with --yes-really-everything).")] = False,
    everything: Annotated[bool, typer.Option("--yes-really-everything", help="Allow --all without --scope.")] = False,
    archive: Annotated[bool, typer.Option("--archive", help="Hide from recall but keep (undo with memcli restore).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be forgotten; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (required when not on a terminal).")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
):
    """Erase memories for good: rows, full-text index, vectors, provenance, derived memories, raw source text and
    the file's free pages. Selectors combine (AND); matches are shown before anything is deleted.

    \b
    Examples:
      memcli forget 12 13 --yes
      memcli forget --query "old address" --min-score 0.03 --dry-run
      memcli forget --tag tmp --before 30d --yes
      memcli forget --all --scope scratch --yes
    """
    out = Output(json_out, quiet)
    with ctx.obj.memory(out) as mem:
        chosen = mem.select_for_forget(
            ids=ids or [], query=query, min_score=min_score, scope=scope, tags=tag or [], before=before,
            after=after, time_field=f"{by.value}_at", source_id=source, decayed=decayed, threshold=threshold,
            all_=all_, everything=everything)
        verb = "archive" if archive else "forget"
        if not chosen:
            if json_out:
                out.emit_json({"matched": [], "forgotten": [], "dry_run": dry_run})
            elif not quiet:
                print("Nothing matches; nothing changed.")
            return
        if not quiet and not json_out:
            preview = mem.get(chosen[:50])  # only what is shown
            label = "Would " + verb if dry_run else "Will " + verb
            print(f"{label} {len(chosen)} memor{'y' if len(chosen) == 1 else 'ies'}:")
            for mid in chosen[:50]:
                print(f"  {mid}: {safe(preview[mid]['text'])[:100]}")
            if len(chosen) > 50:
                print(f"  ... and {len(chosen) - 50} more")
        if dry_run:
            if json_out:
                out.emit_json({"matched": chosen, "forgotten": [], "dry_run": True})
            return
        _confirm(len(chosen), verb, yes)
        result = mem.forget(chosen, archive=archive)
    if json_out:
        out.emit_json({"matched": chosen, "forgotten": result.ids, "dry_run": False, **result.to_json()})
    elif quiet:
        for mid in result.ids:
            print(mid)
    else:
        extra = ""
        if result.derived_deleted:
            extra += f", {len(result.derived_deleted)} derived erased"
        if result.derived_stale:
            extra += f", {len(result.derived_stale)} derived marked stale"
        if result.reinstated:  # their correction was forgotten: the older version says what is current again
            extra += (f"; memor{'y' if len(result.reinstated) == 1 else 'ies'} "
                      f"{', '.join(map(str, result.reinstated))} current again (the correction was forgotten)")
        print(f"{'Archived' if archive else 'Forgot'} {len(result.ids)} memor{'y' if len(result.ids) == 1 else 'ies'}{extra}.")
        if not result.files_scrubbed:
            out.warn(SCRUB_PENDING_SERVER if mem.ctx.url else SCRUB_PENDING)


SCRUB_PENDING_SERVER = ("another session on the server holds an older snapshot (or a table lock), so the forgotten "
                        "text is erased from the live data but its old row versions are still in the server's table "
                        "files; run 'memcli audit scrub' once that session has ended (the nightly consolidate "
                        "retries too)")
SCRUB_PENDING = ("another process is reading the database, so the forgotten text is erased from the live data but "
                 "still on disk (in old pages of the database file and its -wal log) until a checkpoint completes; "
                 "run 'memcli audit scrub' once that process has ended")


@app.command()
def restore(ctx: typer.Context, ids: Annotated[list[int], typer.Argument(help="Memory ids.", autocompletion=complete_memory_id)],
            json_out: JsonOpt = False, quiet: QuietOpt = False):
    """Bring archived or quarantined memories back into recall.

    \b
    Example:
      memcli restore 12
    """
    out = Output(json_out, quiet)
    with ctx.obj.memory(out) as mem:
        changed = mem.restore(ids)
    _report(out, "restored", changed)


def _pin_command(pinned: bool):
    verb = "pin" if pinned else "unpin"

    def command(ctx: typer.Context, ids: Annotated[list[int], typer.Argument(help="Memory ids.", autocompletion=complete_memory_id)],
                json_out: JsonOpt = False):
        out = Output(json_out, False)
        with ctx.obj.memory(out) as mem:
            changed = mem.pin(ids, pinned)
        _report(out, verb + "ned", changed)

    command.__doc__ = (
        "Pin memories: they never decay and `forget --decayed` never removes them.\n\nExample:\n  memcli pin 7"
        if pinned else "Unpin memories, so they decay again.\n\nExample:\n  memcli unpin 7")
    return command


app.command("pin")(_pin_command(True))
app.command("unpin")(_pin_command(False))


def _report(out: Output, key: str, changed: list[int]) -> None:
    if out.json_mode:
        out.emit_json({key: changed})
    elif not out.quiet:
        print(f"{key.capitalize()} {len(changed)} memor{'y' if len(changed) == 1 else 'ies'}.")

"""models list|show|use|prepare, and ask."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .app import JsonOpt, MemcliGroup, QuietOpt, app
from .choices import Role
from .output import Output, safe

models_app = typer.Typer(cls=MemcliGroup, no_args_is_help=True, rich_markup_mode=None,
                         help="The embedding model and the generator: list, show, use, prepare.")
app.add_typer(models_app, name="models")
ROLES = ("embedder", "generator")


def _describe(ctx: typer.Context, role: str) -> dict:
    from ..models import gemma, minilm

    spec = ctx.obj.model_spec(role)
    if spec:
        path = Path(spec).expanduser() if not spec.startswith("hf:") else None
        return {"role": role, "model": spec, "source": "configured",
                "path": str(path) if path else None, "ready": bool(path and path.is_file())}
    module = minilm if role == "embedder" else gemma
    path = module.gguf_path()
    return {"role": role, "model": module.MODEL_ID, "source": "default (PyPI package)", "path": str(path),
            "ready": module.is_prepared(path)}


@models_app.command("list")
def models_list(ctx: typer.Context, json_out: JsonOpt = False):
    """The models memcli will use for each role, and whether they are ready.

    \b
    Example:
      memcli models list
    """
    out = Output(json_out, False)
    rows = [_describe(ctx, role) for role in ROLES]
    if json_out:
        out.emit_json(rows)
        return
    for r in rows:
        print(f"{r['role']:<10} {safe(r['model'])}  [{r['source']}]  {'ready' if r['ready'] else 'not prepared'}"
              f"  {safe(r['path'] or '')}")


@models_app.command("show")
def models_show(ctx: typer.Context, role_: Annotated[Role, typer.Argument(help="The model's role.", metavar="ROLE")] = Role.embedder,
                json_out: JsonOpt = False):
    """Details of one role's model.

    \b
    Example:
      memcli models show generator
    """
    Output(json_out, False).mapping(_describe(ctx, role_.value))


@models_app.command("use")
def models_use(ctx: typer.Context, role_: Annotated[Role, typer.Argument(help="The model's role.", metavar="ROLE")],
               spec: Annotated[str, typer.Argument(help="GGUF path, hf:OWNER/REPO/FILE.gguf, or 'default'.")]):
    """Configure the model for a role (saved in the config file). Changing the embedder needs `memcli reindex`.

    \b
    Example:
      memcli models use generator ~/models/qwen2.5-1.5b-instruct-q4_k_m.gguf
    """
    role = role_.value
    if spec != "default" and not spec.startswith("hf:") and not Path(spec).expanduser().is_file():
        raise InputError(f"no such file: {spec}")
    value = None if spec == "default" else (spec if spec.startswith("hf:") else str(Path(spec).expanduser().resolve()))
    path = ctx.obj.configure(role, value)
    print(f"{role}: {value or 'default'} (saved in {path})")
    if role == "embedder":
        print("run 'memcli reindex' to re-embed stored memories with it")


@models_app.command("prepare")
def models_prepare(ctx: typer.Context,
                   role_: Annotated[Optional[Role], typer.Argument(help="The model's role (default: both).", metavar="[ROLE]")] = None,
                   force: Annotated[bool, typer.Option("--force", help="Rebuild the default files even if present.")] = False,
                   json_out: JsonOpt = False, quiet: QuietOpt = False):
    """Fetch/convert/assemble the default models into the cache (otherwise done on first use).

    \b
    Example:
      memcli models prepare
    """
    from ..models import gemma, minilm

    out = Output(json_out, quiet)
    roles = [role_.value] if role_ else list(ROLES)
    result = {}
    for r in roles:
        if r not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}")
        if ctx.obj.model_spec(r):
            from ..models.hub import resolve_spec

            result[r] = str(resolve_spec(ctx.obj.model_spec(r), out.info))
        else:
            result[r] = str((minilm if r == "embedder" else gemma).prepare(out.info, force=force))
    out.mapping(result)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="A question about what you stored.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=50, help="Memories to consider.")] = 8,
    json_out: JsonOpt = False,
):
    """Answer from your memories with the local generator, citing memory ids; says so when nothing relevant is
    stored. An answer the cited memories do not support is replaced by the closest memory, verbatim.

    \b
    Example:
      memcli ask "where does Ana live?" --json
    """
    out = Output(json_out, False)
    with ctx.obj.memory(out) as mem:
        result = mem.ask(question, limit=limit)
    if json_out:
        out.emit_json(result)
        return
    print(safe(result["answer"]))
    if result["cited"]:
        print(f"(from memor{'y' if len(result['cited']) == 1 else 'ies'} {', '.join(map(str, result['cited']))}; "
              f"{result['mode']})")


@app.command()
def consolidate(
    ctx: typer.Context,
    scope: Annotated[Optional[str], typer.Option("--scope", "-s", help="Only this scope.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only memories that happened since (ISO-8601, '7d').")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change; change nothing.")] = False,
    llm: Annotated[bool, typer.Option("--llm/--no-llm", help="Also extract facts and draft day summaries with the generator (slow on the default model).")] = False,
    print_cron: Annotated[bool, typer.Option("--cron-line", help="Print a ready crontab entry for this database and exit.")] = False,
    install_cron: Annotated[bool, typer.Option("--install-cron", help="Add (or replace) that entry in your crontab.")] = False,
    uninstall_cron: Annotated[bool, typer.Option("--uninstall-cron", help="Remove this database's entry from your crontab.")] = False,
    log: Annotated[Optional[Path], typer.Option("--log", help="Append one timestamped line per run here and keep the run's outcome for doctor/stats (the cron line sets it).")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
):
    """Merge near-duplicates, write day summaries and profiles, mark superseded facts, count decayed memories —
    incrementally, safe to run from cron.

    \b
    Examples:
      memcli consolidate --dry-run
      memcli consolidate --cron-line
    """
    from .. import cron
    from ..paths import default_db_path

    out = Output(json_out, quiet)
    db = Path(ctx.obj.db).expanduser() if ctx.obj.db else default_db_path()
    if uninstall_cron:
        print("removed" if cron.uninstall(db) else "no memcli consolidate entry for this database in the crontab")
        return
    if print_cron or install_cron:
        print(cron.install(db) if install_cron else cron.cron_line(db))
        return
    try:
        with ctx.obj.memory(out) as mem, out.progress("consolidating") as advance:
            report = mem.consolidate(scope=scope, since=since, dry_run=dry_run, llm=llm, progress=advance)
            last_hash = mem.audit_verify()["last_hash"] if log is not None and not dry_run else None
    except BaseException as exc:
        if log is not None:
            cron.record_run(db, log, False, f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        raise
    if log is not None:
        cron.record_run(db, log, "skipped" not in report,
                        report.get("skipped") or f"{report['new_memories']} new, {len(report['merged'])} merged, "
                        f"{len(report['summaries_written'])} day summaries, {len(report['expired'])} expired",
                        last_hash)
    if json_out:
        out.emit_json(report)
    elif "skipped" in report:  # a note, not a result: stderr, also under -q (cron mails it)
        typer.echo(f"skipped: {report['skipped']}", err=True)
    elif not quiet:
        print(f"{'would consolidate' if dry_run else 'consolidated'}: {report['new_memories']} new memories, "
              f"{len(report['merged'])} merged, {len(report['summaries_written'])} day summaries, "
              f"{report['decayed']} decayed below threshold (memcli forget --decayed removes them)")


@app.command()
def doctor(ctx: typer.Context, json_out: JsonOpt = False):
    """Check Python, SQLite and sqlite-vec, the model files and checksums, the database, permissions and disk.

    \b
    Example:
      memcli doctor
    """
    from ..doctor import run_checks
    from ..paths import default_db_path

    out = Output(json_out, False)
    checks = run_checks(Path(ctx.obj.db or default_db_path()).expanduser(), ctx.obj.model_spec("embedder"),
                        ctx.obj.model_spec("generator"))
    if json_out:
        out.emit_json([c.to_json() for c in checks])
    else:
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:<18} {safe(c.detail)}" + ("" if c.ok else f"\n     fix: {c.fix}"))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)

"""models list|show|use|pull|prepare, and ask."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError, UsageError
from .app import JsonOpt, MemcliGroup, QuietOpt, app
from .choices import Role
from ..config import reranker_off
from .output import Output, safe

models_app = typer.Typer(cls=MemcliGroup, no_args_is_help=True, rich_markup_mode=None,
                         help="The embedding model, the reranker and the generator: list, show, use, pull, prepare.")
app.add_typer(models_app, name="models")
ROLES = ("embedder", "reranker", "generator")


def _describe(ctx: typer.Context, role: str) -> dict:
    from ..models import gemma, minilm

    spec = ctx.obj.model_spec(role)
    if role == "reranker" and reranker_off(spec):
        return {"role": role, "model": None, "source": "none: recall has one stage (no reranker ships on PyPI)",
                "path": None, "ready": True}
    if spec:
        from ..models.hub import is_pulled, local_path

        path = local_path(spec)
        return {"role": role, "model": spec, "source": "configured",
                "path": str(path) if path else None, "ready": is_pulled(spec)}
    module = minilm if role == "embedder" else gemma
    path = module.gguf_path()
    return {"role": role, "model": module.MODEL_ID, "source": "default (PyPI package)", "path": str(path),
            "ready": module.is_prepared(path)}


def _catalog_rows(ctx: typer.Context) -> list[dict]:
    from ..models import catalog
    from ..models.hub import is_pulled

    in_use = set()
    for role in ROLES:
        try:
            entry = catalog.for_spec(ctx.obj.model_spec(role))
        except InputError:  # a configured catalog name this version does not know
            entry = None
        if entry:
            in_use.add(entry.name)
    return [{"name": e.name, "role": e.role, "repo": e.repo, "file": e.filename, "license": e.license,
             "size_bytes": e.size_bytes, "listed_size": e.listed_size, "dimension": e.dimension,
             "pooling": e.pooling, "query_prefix": e.query_prefix, "document_prefix": e.document_prefix,
             "spec": e.spec, "pulled": is_pulled(e.spec), "in_use": e.name in in_use}
            for e in catalog.CATALOG.values()]


def _complete_catalog_name(incomplete: str) -> list[str]:
    from ..models import catalog

    return [n for n in catalog.names() if n.startswith(incomplete)]


@models_app.command("list")
def models_list(ctx: typer.Context,
                catalog_only: Annotated[bool, typer.Option("--catalog", help="Only the catalog of models `memcli models pull` fetches, and which are pulled.")] = False,
                json_out: JsonOpt = False):
    """The models memcli will use for each role and whether they are ready, then the catalog of stronger models
    one `memcli models pull NAME` away (--json lists the roles; --catalog --json the catalog).

    \b
    Examples:
      memcli models list
      memcli models list --catalog --json
    """
    out = Output(json_out, False)
    if catalog_only or not json_out:
        catalog_rows = _catalog_rows(ctx)
    if json_out:
        out.emit_json(catalog_rows if catalog_only else [_describe(ctx, role) for role in ROLES])
        return
    if not catalog_only:
        for r in (_describe(ctx, role) for role in ROLES):
            print(f"{r['role']:<10} {safe(r['model'] or 'none')}  [{r['source']}]  {'ready' if r['ready'] else 'not prepared'}"
                  f"  {safe(r['path'] or '')}")
        print("\ncatalog (memcli models pull NAME [--use]):")
    for c in catalog_rows:
        state = "in use" if c["in_use"] else "pulled" if c["pulled"] else ""
        print(f"  {c['name']:<24} {c['role']:<9} {c['listed_size']:>12}  {state:<6}  {c['repo']}/{c['file']}")


@models_app.command("show")
def models_show(ctx: typer.Context, role_: Annotated[Role, typer.Argument(help="The model's role.", metavar="ROLE")] = Role.embedder,
                json_out: JsonOpt = False):
    """Details of one role's model.

    \b
    Example:
      memcli models show generator
    """
    Output(json_out, False).mapping(_describe(ctx, role_.value))


def _configure(ctx: typer.Context, role: str, value: Optional[str]) -> tuple[Path, list[str]]:
    """Save the role's model; the lines to tell the user (where it was saved, and the next step)."""
    path = ctx.obj.configure(role, value)
    lines = [f"{role}: {value or 'default'} (saved in {path})"]
    if role == "embedder":
        lines.append("run 'memcli reindex' to re-embed stored memories with it")
    return path, lines


@models_app.command("use")
def models_use(ctx: typer.Context, role_: Annotated[Role, typer.Argument(help="The model's role.", metavar="ROLE")],
               spec: Annotated[str, typer.Argument(help="GGUF path, a catalog name (memcli models list), hf:OWNER/REPO/FILE.gguf, or 'default'.")]):
    """Configure the model for a role (saved in the config file). Changing the embedder needs `memcli reindex`.

    \b
    Examples:
      memcli models use generator ~/models/qwen2.5-1.5b-instruct-q4_k_m.gguf
      memcli models use embedder nomic-embed-text-v1.5
    """
    from ..models import catalog

    role = role_.value
    entry = None
    if role == "reranker" and reranker_off(spec):
        spec = "default"  # none: the default reranker is no reranker
    spec = catalog.canonical(spec)
    if spec.startswith(catalog.SPEC_PREFIX):
        entry = catalog.get(spec)
        if entry.role != role:
            raise InputError(f"{entry.name} is a{'n' if entry.role == 'embedder' else ''} {entry.role} model, not "
                             f"a{'n' if role == 'embedder' else ''} {role}")
        value: Optional[str] = entry.spec
    elif spec.startswith("hf:"):
        from ..models.hub import parse_hf_spec

        parse_hf_spec(spec)  # a malformed spec is refused now, not saved to break every later command
        value = spec
    elif spec != "default" and not Path(spec).expanduser().is_file():
        raise InputError(f"no such file: {spec}")
    else:
        value = None if spec == "default" else str(Path(spec).expanduser().resolve())
        if value and role == "reranker":
            from ..models.reranker import check_file

            check_file(Path(value))  # an embedding GGUF saved as the reranker would fail every later recall
    _path, lines = _configure(ctx, role, value)
    for line in lines:
        print(line)
    if entry:
        from ..models.hub import is_pulled

        if not is_pulled(entry.spec):
            print(f"not pulled yet: 'memcli models pull {entry.name}' fetches it now (else the first use does)")


@models_app.command("pull")
def models_pull(ctx: typer.Context,
                name: Annotated[str, typer.Argument(help="A catalog name (memcli models list --catalog).", metavar="NAME", autocompletion=_complete_catalog_name)],
                use: Annotated[bool, typer.Option("--use", help="Also configure it as the model of its role.")] = False,
                force: Annotated[bool, typer.Option("--force", help="Download again even if a verified copy is pulled.")] = False,
                json_out: JsonOpt = False, quiet: QuietOpt = False):
    """Download a catalogued model from the hub into the cache (resuming a dropped transfer), check it against
    the hub's SHA-256 (a file that differs is deleted), and with --use configure it for its role. Needs
    huggingface_hub: pip install 'memcli[hub]'.

    \b
    Examples:
      memcli models pull nomic-embed-text-v1.5 --use && memcli reindex
      memcli models pull qwen2.5-1.5b-instruct
    """
    from ..models import catalog
    from ..models.hub import download, verified_sha256

    try:
        entry = catalog.get(name)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    out = Output(json_out, quiet)
    path = download(entry.repo, entry.filename, revision=entry.revision, expected_sha256=entry.sha256,
                    progress=out.info, quiet=quiet or json_out, force=force, label=entry.name)
    result: dict = {"name": entry.name, "role": entry.role, "spec": entry.spec, "path": str(path),
                    "size_bytes": path.stat().st_size, "sha256": verified_sha256(path)}
    lines = [f"pulled {entry.name}: {path} ({result['size_bytes'] / 1e6:.1f} MB, SHA-256 verified)"]
    if use:
        saved, more = _configure(ctx, entry.role, entry.spec)
        result["configured"] = str(saved)
        if entry.role == "embedder":
            result["next"] = "memcli reindex"
        lines += more
    else:
        lines.append(f"use it: memcli models use {entry.role} {entry.name}")
    if json_out:
        out.emit_json(result)
    elif quiet:
        print(path)
    else:
        for line in lines:
            print(safe(line))


@models_app.command("prepare")
def models_prepare(ctx: typer.Context,
                   role_: Annotated[Optional[Role], typer.Argument(help="The model's role (default: every configured one).", metavar="[ROLE]")] = None,
                   force: Annotated[bool, typer.Option("--force", help="Rebuild the default files even if present.")] = False,
                   json_out: JsonOpt = False, quiet: QuietOpt = False):
    """Fetch/convert/assemble the default models into the cache (otherwise done on first use); a configured
    catalog or hf: model is pulled if it is not yet.

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
        spec = ctx.obj.model_spec(r)
        if r == "reranker" and reranker_off(spec):
            continue  # none configured: nothing to prepare
        if spec:
            from ..models.hub import resolve_spec

            result[r] = str(resolve_spec(spec, out.info))
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
    from ..paths import database

    out = Output(json_out, quiet)
    db = database(ctx.obj.db)
    if uninstall_cron:
        print("removed" if cron.uninstall(db) else "no memcli consolidate entry for this database in the crontab")
        return
    if print_cron or install_cron:
        embedder = ctx.obj.model_spec("embedder") if ctx.obj._embedder else None  # a flag or $MEMCLI_EMBEDDER
        print(cron.install(db, embedder) if install_cron else cron.cron_line(db, embedder=embedder))
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
              f"{len(report['profiles_written'])} profiles, {len(report['expired'])} expired erased, "
              f"{report['decayed']} decayed below threshold (memcli forget --decayed removes them)")


@app.command()
def doctor(ctx: typer.Context, json_out: JsonOpt = False):
    """Check Python, SQLite and sqlite-vec, the model files and checksums, the database, permissions and disk.

    \b
    Example:
      memcli doctor
    """
    from ..doctor import run_checks
    from ..paths import database

    out = Output(json_out, False)
    checks = run_checks(database(ctx.obj.db), ctx.obj.model_spec("embedder"), ctx.obj.model_spec("generator"))
    if json_out:
        out.emit_json([c.to_json() for c in checks])
    else:
        for c in checks:
            print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:<18} {safe(c.detail)}" + ("" if c.ok else f"\n     fix: {c.fix}"))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)

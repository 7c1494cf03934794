"""export, import, backup."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from .app import JsonOpt, _read_file, _read_stdin, app
from .output import Output


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write (default or '-': stdout).")] = None,
    vectors: Annotated[bool, typer.Option("--vectors/--no-vectors", help="Include vectors (exact recall after import).")] = True,
    fmt: Annotated[str, typer.Option("--format", help="jsonl, or a format a plugin registers.")] = "jsonl",
    json_out: JsonOpt = False,
):
    """Write every memory with its provenance, sources and vectors (JSONL by default).

    \b
    Example:
      memcli export -o memories.jsonl
    """
    out = Output(json_out, False)
    options = {"vectors": vectors}
    if output is not None and str(output) == "-":  # the usual spelling of stdout, not a file named '-'
        output = None
    with ctx.obj.memory(out) as mem:
        if output is None:
            counts = mem.export(fmt, sys.stdout, options)
        else:
            if output.exists():
                raise InputError(f"{output} exists; choose a new path")
            tmp = output.with_name(output.name + ".partial")
            try:
                # owner-only whatever the umask: an export holds every memory
                fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    counts = mem.export(fmt, fh, options)
                tmp.replace(output)
            except BaseException as exc:
                tmp.unlink(missing_ok=True)  # no half-written export left behind, whatever went wrong
                if isinstance(exc, OSError):
                    raise InputError(f"{output}: cannot write: {exc.strerror}") from None
                raise
    if output is not None and json_out:
        out.emit_json({"exported": counts, "path": str(output)})
    elif output is not None:
        print(f"exported {counts['memories']} memories, {counts['messages']} messages, {counts['sources']} sources "
              f"to {output}")


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A memcli export (JSONL), or '-' for stdin.")],
    json_out: JsonOpt = False,
):
    """Load a memcli export. Everything is validated before anything is written; importing twice adds nothing.

    \b
    Example:
      memcli --db new.db import memories.jsonl
    """
    from ..ingest.parse import decode

    out = Output(json_out, False)
    raw = _read_stdin() if path == "-" else _read_file(Path(path))
    text = decode(raw, path)
    with ctx.obj.memory(out, create=True) as mem:
        result = mem.import_jsonl(text.split("\n"), origin=path)  # not splitlines(): U+2028 inside a JSON string
    if json_out:
        out.emit_json(result)
    else:
        print(f"imported {result['memories']} memories ({result['skipped_memories']} already present), "
              f"{result['messages']} messages, {result['sources']} sources"
              + (", re-embedded" if result["reembedded"] else ""))


@app.command()
def backup(ctx: typer.Context, target: Annotated[Path, typer.Argument(help="New file for the copy.")]):
    """Copy the database with SQLite's online backup (consistent even while memcli is in use).

    \b
    Example:
      memcli backup ~/memcli-backup.db
    """
    out = Output(False, False)
    with ctx.obj.memory(out) as mem:
        path = mem.backup(target)
    print(f"backed up to {path}")


@app.command("migrate-to")
def migrate_to_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="An empty memory to fill: a postgresql://… URL or a new file.")],
    json_out: JsonOpt = False,
):
    """Copy this whole memory, ids, vectors and provenance included, into an empty one: a PostgreSQL server to
    share it across machines, or a file to bring it back. This memory is left as it was.

    \b
    Examples:
      memcli migrate-to "postgresql://me@db.example/memories"
      memcli --db "postgresql://me@db.example/memories" migrate-to ~/memory.db
    """
    from ..core import Memory
    from ..paths import database

    from ..paths import server_url

    out = Output(json_out, False)
    if not target.strip():
        raise InputError("migrate-to needs a target: a postgresql://… URL or a new file's path")
    if not server_url(target):
        path = Path(target).expanduser()
        if target.endswith(("/", os.sep)) or path.is_dir():
            raise InputError(f"{target} is a directory; give the new database file's path in it")
        if not path.parent.is_dir():
            raise InputError(f"{path.parent} does not exist; create it first (migrate-to creates only the file)")
    with ctx.obj.memory(out) as source, Memory(database(target), create=True, actor=ctx.obj.actor,
                                                progress=out.info, plugins=ctx.obj.plugins) as dest:
        if source.ctx.shown == dest.ctx.shown:
            raise InputError("the target is this very memory")
        report = source.migrate_to(dest)
    if json_out:
        out.emit_json(report)
    else:
        imported = report["imported"]
        print(f"copied {imported['memories']} memories, {imported['messages']} messages, {imported['sources']} "
              f"sources to {report['target']} (ids and vectors kept; its audit log starts with this import)")

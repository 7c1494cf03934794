"""memcli's commands. Thin: parse flags, call memcli.core, hand results to the output layer.

Errors: every MemcliError becomes one line on stderr and its exit code, in MemcliGroup.invoke — nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup


def _click_exceptions() -> list:
    """The exception module of the click that parses: typer >= 0.24 carries its own copy."""
    import importlib

    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            return [importlib.import_module(name)]
        except ImportError:  # pragma: no cover
            continue
    return []  # pragma: no cover


_CLICK = _click_exceptions()
_NO_ARGS = tuple(m.NoArgsIsHelpError for m in _CLICK if hasattr(m, "NoArgsIsHelpError"))
_CLICK_ERRORS = tuple(m.ClickException for m in _CLICK)
_USAGE_ERRORS = tuple(m.UsageError for m in _CLICK)

from ..errors import InputError, MemcliError, NotFound, UsageError
from .choices import ConfigKey, Kind, Shell
from .completion import complete_input_format, complete_memory_id, complete_scope, complete_tag
from .output import Output, safe

EXIT_INTERRUPTED = 130


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings memcli raises for the user (a refused plugin registration) are one line on stderr."""
    from ..plugins import PluginWarning

    if issubclass(category, PluginWarning):
        typer.echo(f"memcli: warning: {safe(str(message))}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


ATTACHED = ("-s", "-t")  # short options taking a value: '-seed' would silently read as --scope eed


class MemcliGroup(TyperGroup):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Usage errors are one line too (exit 2), like every other error; bare `memcli` is help on stdout."""
        if os.environ.get("_MEMCLI_COMPLETE"):
            # typer registers its bash/zsh/fish completion classes only with --install-completion, which memcli
            # replaces (`completions SHELL --install`); a TAB needs them all the same
            from typer._completion_classes import completion_init

            completion_init()
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else "")
            sys.exit(0)
        except _CLICK_ERRORS as exc:
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "memcli"
            typer.echo(f"memcli: error: {safe(exc.format_message())} (see '{where} --help')", err=True)
            sys.exit(2 if isinstance(exc, _USAGE_ERRORS) else exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def parse_args(self, ctx, args):
        for arg in args:
            if arg == "--":
                break
            if len(arg) > 2 and arg[:2] in ATTACHED and not arg.startswith("--"):
                long = {"-s": "--scope", "-t": "--tag"}[arg[:2]]
                typer.echo(f"memcli: error: {safe(arg)!s} would read as {long} {safe(arg[2:])}; write "
                           f"'{long} {safe(arg[2:])}', or put text that starts with '-' after '--' "
                           f"(memcli recall -- {safe(arg)})", err=True)
                raise typer.Exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except MemcliError as exc:
            typer.echo(f"memcli: error: {safe(str(exc))}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("memcli: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except UnicodeEncodeError as exc:
            if "surrogates" not in exc.reason:
                raise
            # A byte that is not UTF-8 in an argument (Python keeps it as a lone surrogate) reached a filter or a
            # path the core does not check; texts, queries, tags and scopes are refused earlier, by name.
            typer.echo("memcli: error: an argument is not valid UTF-8", err=True)
            raise typer.Exit(1) from None
        except MemoryError:
            typer.echo("memcli: error: out of memory: the input is too large to read at once; split it (nothing "
                       "was stored)", err=True)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            sys.stderr.close()  # reader went away (e.g. `| head`): not an error worth a traceback
            raise typer.Exit(0) from None
        except Exception as exc:
            # SQLite failing mid-command (corrupt pages, disk full, read-only file, locked too long) is a state
            # of the user's database, not a memcli bug: say so in one line. Anything else keeps its traceback.
            import sqlean

            if not isinstance(exc, sqlean.Error):
                raise
            if "locked" in str(exc) or "busy" in str(exc):
                from ..errors import DatabaseBusy

                typer.echo("memcli: error: database busy: another process held it for over 10 s; nothing was "
                           "changed, retry", err=True)
                raise typer.Exit(DatabaseBusy.exit_code) from None
            typer.echo(f"memcli: error: database: {safe(str(exc))} (check the file with "
                       "'sqlite3 PATH \"PRAGMA integrity_check\"'; nothing was changed by this command)", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=MemcliGroup,
    help="Local-first long-term memory for people and LLM agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich's help renderer costs ~150 ms of import per --help
    add_completion=False,  # `memcli completions SHELL --install`: XDG paths, no global shell settings
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    def __init__(self, db: Optional[str], embedder: Optional[str], actor: Optional[str] = None,
                 generator: Optional[str] = None, plugins=None, reranker: Optional[str] = None):
        self.db = db
        self._embedder = embedder
        self._generator = generator
        self._reranker = reranker
        self.actor = actor
        self._plugins = plugins  # main() passes the manager it already built; created on demand otherwise

    @property
    def plugins(self):
        if self._plugins is None:
            from ..plugins import plugin_manager

            self._plugins = plugin_manager()
        return self._plugins

    def model_spec(self, role: str) -> Optional[str]:
        """Flag or environment variable first, then the config file, then the built-in default (None)."""
        from ..config import model_spec

        given = {"embedder": self._embedder, "generator": self._generator, "reranker": self._reranker}[role]
        return model_spec(role, given)

    def configure(self, key: str, value: Optional[str]) -> Path:
        """Edit the config file; recorded in the database's audit log when there is one that can take it."""
        from ..core import Memory
        from ..paths import database
        from ..settings import configure

        try:
            path = database(self.db)
        except InputError as exc:  # the file's own `db` is what is wrong: setting it (or another key) mends it
            written = configure(None, key, value)[0]
            Output().warn(f"setting saved, but not recorded in a database's audit log: {exc}")
            return written
        if isinstance(path, Path) and (not path.is_file() or path.stat().st_size == 0):
            return configure(None, key, value)[0]
        mem = Memory(path, create=False, migrate=False, actor=self.actor, plugins=self.plugins)
        try:
            written, not_recorded = mem.configure(key, value)
        finally:
            mem.close()
        if not_recorded:
            Output().warn(f"setting saved, but not recorded in {path}'s audit log: {not_recorded}")
        return written

    def memory(self, out: Output, *, create: bool = False):
        """Only `remember` creates a database; reading commands report a missing one."""
        from ..core import Memory

        return Memory(self.db, embedder_spec=self.model_spec("embedder"), progress=out.info, create=create,
                      actor=self.actor, generator_spec=self.model_spec("generator"), plugins=self.plugins,
                      reranker_spec=self.model_spec("reranker"))


def _version(value: bool):
    if value:
        from .. import __version__

        typer.echo(f"memcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    db: Annotated[Optional[str], typer.Option("--db", envvar="MEMCLI_DB", help="Database file, or a postgresql://… URL (default: per-user data dir).")] = None,
    embedder: Annotated[Optional[str], typer.Option("--embedder", envvar="MEMCLI_EMBEDDER", help="GGUF embedding model path (default: all-MiniLM-L6-v2).")] = None,
    generator: Annotated[Optional[str], typer.Option("--generator", envvar="MEMCLI_GENERATOR", help="GGUF generator model path (default: gemma-3-270m).")] = None,
    reranker: Annotated[Optional[str], typer.Option("--reranker", envvar="MEMCLI_RERANKER", help="Cross-encoder GGUF that re-orders recall's top 50 (path, hf: spec or catalog name; 'off': none; default: none).")] = None,
    actor: Annotated[Optional[str], typer.Option("--actor", envvar="MEMCLI_ACTOR", help="Who is acting, for the audit log (default: user; e.g. cron).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
):
    """Remember text, chats and transcripts; recall them by meaning and words. All local, no API key."""
    ctx.obj = State(db, embedder, actor, generator, plugins=ctx.obj, reranker=reranker)  # ctx.obj: main()'s plugin manager, if any


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only ids on stdout, no progress on stderr.")]
ScopeOpt = Annotated[Optional[str], typer.Option("--scope", "-s", help="Memory scope (namespace), e.g. work.",
                                                 autocompletion=complete_scope)]
TagOpt = Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Tag (repeatable).", autocompletion=complete_tag)]

MAX_INPUT_BYTES = 512 * 1024 * 1024
RESIDENT_FROM = 4  # batch recalls of this many queries search an in-memory copy of the vectors


def _read_stdin() -> bytes:
    data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"stdin is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB; split it")
    return data


def _read_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise InputError(f"{path}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB; split it")
        return path.read_bytes()
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


@app.command()
def remember(
    ctx: typer.Context,
    text: Annotated[Optional[list[str]], typer.Argument(help="Text to remember; '-' reads stdin.")] = None,
    file: Annotated[Optional[list[Path]], typer.Option("--file", "-f", help="File to remember (repeatable); '-' is stdin.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Input format: auto, text, chat, jsonl, json, or one a plugin adds (memcli plugins).", autocompletion=complete_input_format)] = "auto",
    scope: ScopeOpt = None,
    tag: TagOpt = None,
    at: Annotated[Optional[str], typer.Option("--at", help="Event time for messages that carry none (ISO-8601, '2d', 'yesterday').")] = None,
    importance: Annotated[float, typer.Option("--importance", min=0.0, max=1.0, help="0..1: important memories start stronger and decay slower.")] = 0.0,
    extract: Annotated[bool, typer.Option("--extract", help="Also propose facts with the local generator; only grounded ones are kept.")] = False,
    expires: Annotated[Optional[str], typer.Option("--expires", help="Forget it after this long ('7d', '12h', '2w') or at this time (ISO-8601): recall stops returning it then, consolidate erases it.")] = None,
    supersedes: Annotated[Optional[int], typer.Option("--supersedes", help="This text corrects memory ID: it supersedes it (kept as history). Same as 'memcli edit ID TEXT'.")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
):
    """Store text, a file, or a transcript piped on stdin. Each message becomes a memory that keeps its verbatim text.

    \b
    Examples:
      echo "I moved to Lisbon in March" | memcli remember -
      memcli remember --file chat.jsonl --format jsonl --scope work
    """
    from ..core import DEFAULT_SCOPE, RawInput
    from ..ingest.stream import Spool, open_file, read_input

    out = Output(json_out, quiet)
    if supersedes is not None:
        if file or len(text or []) != 1:
            raise UsageError("--supersedes takes exactly one TEXT argument (the corrected text); '-' reads stdin")
        new_text = _read_stdin().decode("utf-8", "surrogateescape") if (text or [""])[0] == "-" else (text or [""])[0]
        _edit(ctx, out, supersedes, new_text)
        return
    if [*(text or []), *map(str, file or [])].count("-") > 1:
        raise UsageError("stdin ('-') can be read only once per command")
    stdin = lambda: RawInput("stdin", read_input(sys.stdin.buffer, "stdin"))  # noqa: E731
    inputs = [stdin() if item == "-" else RawInput("argument", item) for item in text or []]
    inputs += [stdin() if str(path) == "-" else RawInput(str(path), open_file(path)) for path in file or []]
    if not inputs:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("nothing to remember: give text, '-' for stdin, or --file PATH")
        inputs.append(stdin())
    with contextlib.ExitStack() as spools:
        for item in inputs:
            if isinstance(item.data, Spool):
                spools.callback(item.data.close)
        _remember(ctx, out, inputs, fmt, scope or DEFAULT_SCOPE, tag or [], at, importance, extract, expires)


def _edit(ctx, out, memory_id: int, text: str) -> None:
    with ctx.obj.memory(out) as mem:
        new_id = mem.update(memory_id, text)
    if out.json_mode:
        out.emit_json({"memory": new_id, "supersedes": memory_id})
    elif out.quiet:
        print(new_id)
    else:
        print(f"memory {new_id} now says that; memory {memory_id} is kept as history (superseded)")


@app.command()
def edit(
    ctx: typer.Context,
    memory_id: Annotated[int, typer.Argument(help="The memory to correct.", autocompletion=complete_memory_id)],
    text: Annotated[Optional[str], typer.Argument(help="The corrected text; omitted: stdin, or $EDITOR at a terminal.")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
):
    """Correct a memory: the new text becomes a memory that supersedes it; the old one is kept as history.

    \b
    Examples:
      memcli edit 12 "The meeting is at 4pm, not 3pm"
      memcli edit 12            # opens $EDITOR with the current text
    """
    out = Output(json_out, quiet)
    if text is None:
        if sys.stdin is not None and not sys.stdin.isatty():
            text = _read_stdin().decode("utf-8", "surrogateescape")
        else:
            with ctx.obj.memory(out) as mem:
                current = mem.get([memory_id]).get(memory_id)
            if current is None:
                raise NotFound(f"no memory with id {memory_id}")
            text = _edit_in_editor(current["text"])
            if not text.strip() or text.strip() == current["text"].strip():
                raise InputError("no change made in the editor; nothing changed")
    _edit(ctx, out, memory_id, text)


def _edit_in_editor(text: str) -> str:
    """$VISUAL or $EDITOR (else vi) on a private temporary file holding `text`; what it holds afterwards."""
    import os
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, name = tempfile.mkstemp(prefix="memcli-edit-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        if subprocess.run([*shlex.split(editor), name]).returncode != 0:
            raise InputError(f"{editor} exited with an error; nothing changed")
        with open(name, encoding="utf-8") as fh:
            return fh.read()
    finally:
        os.unlink(name)


def _remember(ctx, out, inputs, fmt, scope, tags, at, importance, extract, expires=None):
    facts = None
    with ctx.obj.memory(out, create=True) as mem:
        with out.progress("embedding") as advance:
            result = mem.remember(inputs, fmt=fmt, scope=scope, tags=tags, at=at,
                                  progress=advance, importance=importance, expires=expires)
        if extract and result.created:  # same Memory: the embedding model is not loaded twice
            with out.progress("extracting facts") as advance:
                facts = mem.extract_facts(result.created, progress=advance)
    out.remembered(result, facts)
    for memory_id, findings in sorted(result.flagged.items()):
        rules = ", ".join(f"{f['kind']}:{f['rule']}" for f in findings)
        out.warn(f"memory {memory_id} flagged ({rules}); stored and marked. Review: memcli audit show {memory_id}")


def _filters(scope, tag, kind, since, until):
    from ..types import Filters
    from ..timeparse import option_time

    return Filters(scope=scope, tags=tag or [], kinds=[k.value for k in kind or []], since=option_time(since, "since"),
                   until=option_time(until, "until"))


def _batch_queries(source: str) -> list[tuple[object, str]]:
    raw = _read_stdin() if source == "-" else _read_file(Path(source))
    from ..ingest.parse import decode

    if not raw.strip():  # decode() would say 'nothing to remember': this is a list of questions
        raise InputError(f"{source}: no queries found")
    queries = []
    for lineno, line in enumerate(decode(raw, source).split("\n"), 1):  # U+2028 may sit in a JSON string
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{source}:{lineno}: invalid JSON: {exc}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("query"), str):
                raise InputError(f"{source}:{lineno}: expected {{\"id\": ..., \"query\": \"...\"}}")
            if not obj["query"].strip():  # refused before any query runs, not half-way through the batch
                raise InputError(f"{source}:{lineno}: empty query")
            queries.append((obj.get("id", lineno), obj["query"]))
        else:
            queries.append((lineno, line.strip()))
    return queries


@app.command()
def recall(
    ctx: typer.Context,
    query: Annotated[Optional[str], typer.Argument(help="What to look for, in plain words.")] = None,
    queries: Annotated[Optional[str], typer.Option("--queries", help="Run many queries: a file (or '-') with one query per line or JSONL {\"id\",\"query\"}.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Maximum hits.")] = 10,
    scope: ScopeOpt = None,
    tag: TagOpt = None,
    kind: Annotated[Optional[list[Kind]], typer.Option("--kind", help="Memory kind (repeatable).")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only memories that happened at or after this time (ISO-8601, '7d', 'yesterday').")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only memories that happened before this time.")] = None,
    no_touch: Annotated[bool, typer.Option("--no-touch", help="Do not count this as a recall (no reinforcement).")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Weight by retention on the forgetting curve (recent and often-used first).")] = False,
    json_out: JsonOpt = False,
    nl: Annotated[bool, typer.Option("--nl", help="JSON Lines: one hit per line.")] = False,
    quiet: QuietOpt = False,
):
    """Find memories by meaning and words (hybrid vector + full-text search, rank-fused).

    \b
    Examples:
      memcli recall "where do I live?"
      memcli recall "cat's name" --json --limit 5
      memcli recall --queries questions.txt --json
    """
    if json_out and nl:
        raise UsageError("--json and --nl are two output formats; choose one")
    out = Output(json_out or nl, quiet, nl=nl)
    if (query is None) == (queries is None):
        raise UsageError("give a QUERY or --queries FILE (not both)")
    filters = _filters(scope, tag, kind, since, until)
    with ctx.obj.memory(out) as mem:
        if queries is None:
            assert query is not None  # exactly one of the two, checked above
            out.hits(query, mem.recall(query, limit=limit, filters=filters, touch=not no_touch, fresh=fresh))
            return
        batch = _batch_queries(queries)
        if not batch:
            raise InputError(f"{queries}: no queries found")
        if len(batch) >= RESIDENT_FROM:  # loading every vector once pays off over a few queries
            mem.keep_vectors_resident()
        for qid, text in batch:
            out.hits(text, mem.recall(text, limit=limit, filters=filters, touch=not no_touch, fresh=fresh),
                     batch=True, batch_id=qid)


@app.command()
def reindex(ctx: typer.Context, json_out: JsonOpt = False, quiet: QuietOpt = False):
    """Re-embed every memory with the configured embedder (needed after changing the embedding model).

    \b
    Example:
      memcli --embedder ~/models/bge-small.gguf reindex
    """
    out = Output(json_out, quiet)
    with ctx.obj.memory(out) as mem, out.progress("re-embedding") as advance:
        n = mem.reindex(advance)
        stats = mem.stats()
    out.mapping({"reindexed": n, "embedding_model": stats["embedding_model"], "embedding_dim": stats["embedding_dim"]})


@app.command()
def stats(ctx: typer.Context, json_out: JsonOpt = False):
    """Counts of memories, sources, messages and vectors, and the embedding model in use.

    \b
    Example:
      memcli stats --json
    """
    out = Output(json_out, False)
    with ctx.obj.memory(out) as mem:
        data = mem.stats()
        data["database"] = mem.ctx.shown
        where = mem.ctx.url or mem.db_path
    from .. import cron

    status = cron.read_status(where) if where else None
    data["last_consolidate"] = status.get("last_run") if status else None
    data["last_consolidate_ok"] = status.get("ok") if status else None
    problem = cron.warning(where) if where else None
    if problem:
        out.warn(problem)
    out.mapping(data)


from . import audit_cmds, forget_cmds, model_cmds, transfer_cmds  # noqa: E402,F401  (register their commands on `app`)


config_app = typer.Typer(cls=MemcliGroup, no_args_is_help=True, rich_markup_mode=None,
                        help="Settings file: which models to use. Flags > environment > file > defaults.")
app.add_typer(config_app, name="config")


@config_app.command("list")
def config_list(json_out: JsonOpt = False):
    """All settings in the config file.

    \b
    Example:
      memcli config list
    """
    from ..config import load, shown

    Output(json_out, False).mapping({k: shown(k, v) for k, v in load().items()})


@config_app.command("get")
def config_get(key: Annotated[ConfigKey, typer.Argument(help="The setting.")]):
    """One setting (empty when unset).

    \b
    Example:
      memcli config get generator
    """
    from ..config import load, shown

    typer.echo(shown(key.value, load().get(key.value, "")))


@config_app.command("set")
def config_set(ctx: typer.Context, key: Annotated[ConfigKey, typer.Argument(help="The setting.")],
               value: Annotated[str, typer.Argument(help="Value; 'default' removes the setting.")]):
    """Change a setting.

    \b
    Example:
      memcli config set generator ~/models/qwen2.5-1.5b-instruct-q4_k_m.gguf
    """
    from ..config import shown

    path = ctx.obj.configure(key.value, None if value == "default" else value)
    typer.echo(f"{key.value} = {shown(key.value, value)} ({path})")


@config_app.command("path")
def config_path_cmd():
    """Where the config file lives.

    \b
    Example:
      memcli config path
    """
    from ..config import config_path

    typer.echo(str(config_path()))


@app.command()
def completions(
    shell: Annotated[Optional[Shell], typer.Argument(help="The shell; omit with --write.")] = None,
    write: Annotated[Optional[Path], typer.Option("--write", help="Write all three scripts into this directory.")] = None,
    install: Annotated[bool, typer.Option("--install", help="Install it where the shell finds it (XDG dirs; zsh: one marked line in ~/.zshrc).")] = False,
):
    """Print a shell completion script, install it, or write all of them.

    \b
    Examples:
      memcli completions bash --install
      memcli completions zsh > ~/.zfunc/_memcli
      memcli completions --write completions/
    """
    from .completion import SHELLS, script, write_all

    if write is not None:
        for path in write_all(write):
            typer.echo(str(path))
        return
    if shell is None:
        raise UsageError(f"give a shell ({', '.join(SHELLS)}) or --write DIR")
    if install:
        from .completion import install as install_completion

        for line in install_completion(shell.value):
            typer.echo(line)
        return
    typer.echo(script(shell.value), nl=False)


@app.command()
def plugins(ctx: typer.Context, json_out: JsonOpt = False):
    """Loaded plugins and the hooks each implements ($MEMCLI_PLUGINS limits which load; 'none' disables all).

    \b
    Example:
      memcli plugins --json
    """
    from ..plugins import describe

    rows = describe(ctx.obj.plugins)
    if json_out:
        Output(True, False).emit_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['name']}{' ' + r['version'] if r['version'] else ''}: {', '.join(r['hooks'])}")


def main():
    """Entry point: plugin commands are added before the command line is parsed."""
    from ..plugins import plugin_manager

    pm = plugin_manager()
    before = len(app.registered_commands)
    builtin = {_command_name(c) for c in app.registered_commands} | {g.name for g in app.registered_groups}
    try:
        pm.hook.register_commands(cli=app)
        for info in list(app.registered_commands[before:]):  # a plugin cannot replace a built-in command
            if _command_name(info) in builtin:
                app.registered_commands.remove(info)
                typer.echo(f"memcli: warning: a plugin's command {_command_name(info)!r} is built into memcli; "
                           "ignored", err=True)
        command = typer.main.get_command(app)  # built once: a bad plugin command fails here
    except Exception as exc:  # a broken plugin must not take memcli down with it
        del app.registered_commands[before:]
        typer.echo(f"memcli: warning: plugin commands not loaded: {exc.__class__.__name__}: {safe(str(exc))}",
                   err=True)
        command = typer.main.get_command(app)
    command(prog_name="memcli", obj=pm)


def _command_name(info) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)

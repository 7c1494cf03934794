"""Shell completion: scripts for bash, zsh and fish (written to completions/ by `memcli completions --write`),
and value completion of scopes and tags from the database."""

from __future__ import annotations

from pathlib import Path

import typer

SHELLS = {"bash": "memcli.bash", "zsh": "_memcli", "fish": "memcli.fish"}


# fish: one memcli process per TAB (typer's script ran it twice: once to ask whether to complete, once for the
# candidates), falling back to paths when memcli offers nothing (a --file value).
FISH = """function __memcli_complete
    set -l candidates (env _MEMCLI_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args \\
        _TYPER_COMPLETE_ARGS=(commandline -cp) memcli 2>/dev/null)
    if test (count $candidates) -gt 0
        printf '%s\\n' $candidates
    else
        __fish_complete_path (commandline -ct)
    end
end
complete --command memcli --no-files --arguments '(__memcli_complete)'
"""
MARK = "# memcli completion"


def script(shell: str) -> str:
    """The completion script; every one ends with a newline (appended to an rc file, the next line stays whole)."""
    if shell == "fish":
        return FISH
    from typer._completion_shared import get_completion_script

    text = get_completion_script(prog_name="memcli", complete_var="_MEMCLI_COMPLETE", shell=shell)
    return text if text.endswith("\n") else text + "\n"


def install(shell: str, home: Path | None = None) -> list[str]:
    """Install completion for `shell` where that shell looks for it by itself, respecting XDG_DATA_HOME and
    XDG_CONFIG_HOME; zsh alone needs one line in ~/.zshrc, clearly marked, and nothing global (no compinit, no
    zstyle). Idempotent. Returns what it did, one line each."""
    import os

    from ..errors import InputError

    home = home or Path.home()
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    done = []
    try:
        if shell == "bash":  # bash-completion loads completions/<command> from here on first use
            target = data / "bash-completion" / "completions" / "memcli"
        elif shell == "fish":  # fish loads completions/<command>.fish from here
            target = config / "fish" / "completions" / "memcli.fish"
        else:
            target = data / "zsh" / "memcli-completion.zsh"
        target.parent.mkdir(parents=True, exist_ok=True)
        body = script(shell)
        if shell == "zsh":  # a completion function, bound only when compinit has run (the user's choice)
            body = body.replace("compdef _memcli_completion memcli",
                                "(( $+functions[compdef] )) && compdef _memcli_completion memcli")
        target.write_text(body)
        done.append(f"wrote {target}")
        if shell == "zsh":
            rc = Path(os.environ.get("ZDOTDIR") or home) / ".zshrc"
            line = f"[[ -r {target} ]] && source {target}  {MARK}"
            current = rc.read_text() if rc.exists() else ""
            if MARK not in current:
                with open(rc, "a", encoding="utf-8") as fh:
                    fh.write(("" if not current or current.endswith("\n") else "\n") + line + "\n")
                done.append(f"added one line to {rc}: {line}")
    except OSError as exc:
        raise InputError(f"cannot install {shell} completion: {exc}") from None
    return done


def write_all(directory: Path) -> list[Path]:
    from ..errors import InputError

    paths = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for shell, name in SHELLS.items():
            path = directory / name
            path.write_text(script(shell))
            paths.append(path)
    except OSError as exc:
        raise InputError(f"{directory}: cannot write completion scripts: {exc.strerror}") from None
    return paths


def _db_path(ctx) -> Path:
    """The database file the command line names (a --db typed before the TAB), else the default one. A server
    is not asked: a TAB must answer at once, never wait on a network."""
    from ..paths import database

    root = ctx.find_root() if ctx is not None else None
    target = database(root.params.get("db") if root is not None else None)
    if not isinstance(target, Path):
        raise LookupError("no completion from a database server")
    return target


def _open(ctx):
    from ..storage import Store, open_database

    db = open_database(_db_path(ctx), create=False, migrate=False)  # a TAB never creates nor upgrades a database
    return db, Store(db)


def _labels(ctx, kind: str, incomplete: str) -> list[str]:
    """Scopes or tags already in the database; nothing (never an error) if there is none yet."""
    try:
        db, store = _open(ctx)
        try:
            return [v for v in store.memories.labels(kind) if v.startswith(incomplete)]
        finally:
            db.conn.close()
    except Exception:  # completion must never print a traceback into the user's shell
        return []


def complete_scope(ctx: typer.Context, incomplete: str) -> list[str]:
    return _labels(ctx, "scope", incomplete)


def complete_tag(ctx: typer.Context, incomplete: str) -> list[str]:
    return _labels(ctx, "tag", incomplete)


def complete_memory_id(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Memory ids, newest first, each with the start of its text as the shell's description."""
    try:
        from ..types import Filters

        db, store = _open(ctx)
        try:
            ids = [i for i in store.memories.page(Filters(active_only=False), 200) if str(i).startswith(incomplete)]
            records = store.memories.records(ids[:30])
        finally:
            db.conn.close()
        from .output import safe

        return [(str(i), safe(" ".join(records[i]["text"].split()))[:60]) for i in ids[:30] if i in records]
    except Exception:
        return []


def complete_input_format(incomplete: str) -> list[str]:
    """`remember --format`: auto and every registered importer (built-in and plugins)."""
    try:
        from ..plugins import collect, plugin_manager

        return [f for f in ["auto", *sorted(collect(plugin_manager(), "register_importers"))] if f.startswith(incomplete)]
    except Exception:
        return []

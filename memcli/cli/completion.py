"""Shell completion: scripts for bash, zsh and fish (written to completions/ by `memcli completions --write`),
and value completion of scopes and tags from the database."""

from __future__ import annotations

from pathlib import Path

SHELLS = {"bash": "memcli.bash", "zsh": "_memcli", "fish": "memcli.fish"}


def script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="memcli", complete_var="_MEMCLI_COMPLETE", shell=shell)


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


def _labels(kind: str, incomplete: str) -> list[str]:
    """Scopes or tags already in the default database; nothing (never an error) if there is none yet."""
    try:
        from ..paths import default_db_path
        from ..storage import Store, open_database

        db = open_database(default_db_path(), create=False, migrate=False)  # a TAB never upgrades a database
        try:
            return [v for v in Store(db).memories.labels(kind) if v.startswith(incomplete)]
        finally:
            db.conn.close()
    except Exception:  # completion must never print a traceback into the user's shell
        return []


def complete_scope(incomplete: str) -> list[str]:
    return _labels("scope", incomplete)


def complete_tag(incomplete: str) -> list[str]:
    return _labels("tag", incomplete)

"""User configuration: a flat TOML file in the platformdirs config dir ($MEMCLI_CONFIG overrides the path).

Precedence: command-line flag > environment variable > this file > built-in default.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from .errors import InputError

KEYS = {"embedder": "GGUF path (or hf:OWNER/REPO/FILE.gguf) of the embedding model",
        "generator": "GGUF path (or hf:OWNER/REPO/FILE.gguf) of the generator model",
        "reranker": "cross-encoder GGUF (path, hf: spec or catalog name) that re-orders recall's top 50; "
                    "unset or 'off': none",
        "db": "the memory database: a file path or a postgresql://… URL (--db and $MEMCLI_DB come first)"}


def config_path() -> Path:
    env = os.environ.get("MEMCLI_CONFIG")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("memcli", appauthor=False)) / "config.toml"


ENV = {"embedder": "MEMCLI_EMBEDDER", "generator": "MEMCLI_GENERATOR", "reranker": "MEMCLI_RERANKER"}


def load() -> dict:
    path = config_path()
    try:
        if not path.is_file():
            return {}
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    bad = [k for k, v in data.items() if k in KEYS and not isinstance(v, str)]
    if bad:
        raise InputError(f"{path}: {', '.join(bad)} must be a string (a path, an hf: spec or a URL)")
    return data


def shown(key: str, value: object) -> object:
    """A setting as memcli prints it: the `db` URL without its password (the file keeps it, owner-only)."""
    if key == "db" and isinstance(value, str) and "://" in value:
        from .paths import redact_url

        return redact_url(value)
    return value


def database_setting() -> str | None:
    """The file's `db`, checked when it is used (not when the file is read: a bad one must not stop commands
    that name their database otherwise, nor `config set db` from replacing it)."""
    value = load().get("db")
    if value:
        from .paths import server_url

        try:
            server_url(value)
        except InputError as exc:
            raise InputError(f"{config_path()}: db: {exc}") from None
    return value


def reranker_off(spec: str | None) -> bool:
    """No reranker: unset, or one of the words that say so ('default' too: the default is none)."""
    return not spec or spec.strip().lower() in ("off", "none", "default")


def model_spec(role: str, given: str | None = None) -> str | None:
    """Which model to use for `role`: the flag, else the environment variable, else this file, else None (the
    built-in default). The CLI and the MCP server (also started as `python -m memcli_mcp`) both ask here."""
    return given or os.environ.get(ENV[role]) or load().get(role)


def set_value(key: str, value: str | None) -> Path:
    """Set (or with None remove) one memcli key, editing only its line: the rest of the file, other keys, tables
    and comments stay as the user wrote them (rewriting it all turned numbers and tables into strings and dropped
    comments), and the result is checked to parse before it replaces the file."""
    if key not in KEYS:
        raise InputError(f"unknown setting {key!r}; known: {', '.join(KEYS)}")
    if key == "db" and value:
        from .paths import server_url

        server_url(value)
    load()  # refuse to edit a file that does not parse
    path = config_path()
    try:
        text = path.read_text() if path.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"  # a last line without its newline would swallow the line added after it
    first_table = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[")), len(lines))
    mine = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=")
    kept = [ln for i, ln in enumerate(lines) if not (i < first_table and mine.match(ln))]
    first_table -= len(lines) - len(kept)
    if value is not None:
        kept.insert(first_table, f"{key} = {_toml_string(value)}\n")  # top-level keys come before any table
    new_text = "".join(kept)
    try:
        tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - a bug here must not reach the user's file
        raise InputError(f"{path}: the edited file would not parse ({exc}); left unchanged") from None
    from .paths import ensure_private_dir

    from .files import write_atomic

    try:
        ensure_private_dir(path.parent)
        write_atomic(path, new_text)  # never a moment with half a file, nor one readable by others
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    return path


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, everything else as UTF-8."""
    from .ingest.parse import require_utf8

    require_utf8(value, repr(value))
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'

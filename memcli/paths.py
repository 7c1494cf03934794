"""Where memcli keeps its files. Environment variables override platformdirs so tests and users can relocate."""

from __future__ import annotations

import os
import re
from pathlib import Path

APP_NAME = "memcli"
ENV_DB = "MEMCLI_DB"
ENV_CACHE = "MEMCLI_CACHE_DIR"
ENV_EMBEDDER = "MEMCLI_EMBEDDER"


SERVER_SCHEMES = ("postgresql", "postgres")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")  # two letters at least: C:/ is a Windows drive


def server_url(target: object) -> str | None:
    """The URL when `target` names a database server (postgresql://…), None when it is a file path. A value that
    looks like a URL is never taken for a path: any other scheme is refused (a typo such as 'postgress://' would
    otherwise become a directory of that name holding a new, empty database)."""
    if target is None:
        return None
    text = str(target)
    found = _URL.match(text)
    if found is None and re.match(r"^\s*(host|hostaddr|dbname|user|port|service|password)\s*=", text, re.I):
        from .errors import InputError

        raise InputError("--db takes a postgresql://USER@HOST/DB URL, not a key=value connection string (nothing "
                         "was created)")
    if found is None:
        if re.match(r"^(postgresql|postgres):", text, re.I):  # a URL whose '//' was folded away (a Path did it)
            from .errors import InputError

            raise InputError(f"{redact_url(text)!r} is not a whole URL: write postgresql://USER@HOST/DB")
        return None
    scheme = found.group(1).lower()
    if scheme in SERVER_SCHEMES:
        return text
    from .errors import InputError

    raise InputError(f"unsupported database URL {redact_url(text)!r}: --db takes a file path or a postgresql://… URL")


SECRET_KEYS = ("password", "sslpassword")


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries (its user part's password, password= and sslpassword= parameters however their
    names are encoded), as written and as libpq reads them."""
    from urllib.parse import unquote, urlsplit

    found: list[str] = []
    try:
        from psycopg.conninfo import conninfo_to_dict  # libpq's own reading, when psycopg is there

        found += [str(v) for k, v in conninfo_to_dict(url).items() if k in SECRET_KEYS and v]
    except Exception:  # no psycopg, or a URL libpq cannot read: the patterns below still apply
        pass
    try:
        if urlsplit(url).password:
            found.append(str(urlsplit(url).password))
    except ValueError:
        pass
    found += re.findall(r"://[^:/@]*:([^@/]*)@", url)
    found += [v for k, v in _query_pairs(url) if unquote(k).lower() in SECRET_KEYS]
    found += [unquote(f) for f in found]
    return sorted({f for f in found if f}, key=len, reverse=True)


def _query_pairs(url: str) -> list[tuple[str, str]]:
    query = url.split("?", 1)[1] if "?" in url else ""
    return [(p.split("=", 1)[0], p.split("=", 1)[1] if "=" in p else "") for p in query.split("&") if p]


def redact_url(url: str) -> str:
    """The URL without its secrets (user part's password, password= and sslpassword=), for messages, `stats`,
    `config` and records."""
    from urllib.parse import unquote

    shown = re.sub(r"^([^:/]+://[^:@/]*):[^@/]*@", r"\1:***@", url)
    if "?" in shown:
        head, _query = shown.split("?", 1)
        pairs = [f"{k}=***" if unquote(k).lower() in SECRET_KEYS else (f"{k}={v}" if v or "=" in raw else k)
                 for (k, v), raw in zip(_query_pairs(shown), _query.split("&")) if raw]
        shown = head + "?" + "&".join(pairs)
    for secret in url_secrets(url):
        if len(secret) >= 4:  # where the patterns above missed it; a shorter one would mangle the user's name
            shown = shown.replace(secret, "***")
    return shown


def refuse_password(url: str, where: str) -> None:
    """memcli never copies a password into another file (client configs, settings, crontab, logs)."""
    if url_secrets(url):
        from .errors import InputError

        raise InputError(f"the database URL holds a password; memcli does not copy it into {where}: put it in "
                         "~/.pgpass (or PGPASSFILE) and give the URL without it")


def default_database() -> str | Path:
    """The per-user database: $MEMCLI_DB, else the config file's `db`, else a file in the platformdirs data dir.
    A postgresql:// URL is returned as it is (a Path would fold its '//')."""
    env = os.environ.get(ENV_DB)
    if not env:
        from .config import database_setting

        env = database_setting()
    if env:
        return env if server_url(env) else Path(env).expanduser()
    return default_db_path()


def database(given: str | Path | None) -> str | Path:
    """--db's value (a URL stays a string), else the default."""
    if given is None or str(given) == "":
        return default_database()
    return given if server_url(given) or str(given) == ":memory:" else Path(given).expanduser()


def default_db_path() -> Path:
    """The per-user database file in the platformdirs data dir ($MEMCLI_DB, when it names a file)."""
    env = os.environ.get(ENV_DB)
    if env and not server_url(env):
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "memory.db"


def cache_dir() -> Path:
    """Model files (converted GGUFs, extracted weights): $MEMCLI_CACHE_DIR, else the platformdirs cache dir."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    """Logs and run status (cron's consolidate log, hook offsets): $MEMCLI_STATE_DIR, else the platformdirs state
    dir."""
    env = os.environ.get("MEMCLI_STATE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create a directory (and any missing parents) readable by the owner only; memories are personal.
    mkdir's mode applies to the leaf alone and is filtered by the umask, hence the explicit loop and chmod."""
    missing = []
    probe = Path(path)
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o700)
    return path


def make_private(path: Path) -> Path:
    """Owner-only permissions on a file memcli wrote."""
    path.chmod(0o600)
    return path

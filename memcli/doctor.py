"""`memcli doctor`: checks of everything memcli depends on, each with a fix hint."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return dict(self.__dict__)


def run_checks(db_path: Path | str, embedder_spec: str | None, generator_spec: str | None) -> list[Check]:
    """`db_path`: the database file, or a postgresql:// URL (its server is checked instead of file modes)."""
    from .models import gemma, minilm

    checks = [Check("python", sys.version_info >= (3, 11), f"{platform.python_implementation()} {sys.version.split()[0]}",
                    "install Python 3.11 or newer")]
    try:
        from .storage.connection import probe

        sqlite_version, vec, fts = probe()
        checks.append(Check("sqlite", fts, f"SQLite {sqlite_version} (sqlean), FTS5 {'yes' if fts else 'no'}",
                            "pip install --force-reinstall sqlean.py"))
        checks.append(Check("sqlite-vec", True, f"{vec} loads"))
    except Exception as exc:
        checks.append(Check("sqlite-vec", False, f"cannot load: {exc}", "pip install --force-reinstall sqlean.py sqlite-vec"))
    for role, spec, module in (("embedder", embedder_spec, minilm), ("generator", generator_spec, gemma)):
        if spec and spec.startswith(("catalog:", "hf:")):  # a pulled model: in the cache, verified at pull
            from .models.hub import is_pulled

            name = spec.split(":", 1)[1]
            checks.append(Check(f"{role} model", is_pulled(spec), f"configured: {spec}",
                                f"memcli models pull {name}" if spec.startswith("catalog:")
                                else f"memcli models use {role} PATH (or default)"))
        elif spec and spec != "hash":
            path = Path(spec).expanduser()
            checks.append(Check(f"{role} model", path.is_file(), f"configured: {spec}",
                                f"memcli models use {role} PATH (or default)"))
        elif spec:
            checks.append(Check(f"{role} model", True, f"configured: {spec} (a plugin's model)"))
        else:
            path = module.gguf_path()
            ok = module.is_prepared(path)
            full = ok and (minilm.verify(path) if module is minilm else True)
            checks.append(Check(f"{role} model", full, f"{module.MODEL_ID}: {'ready, checksum ok' if full else 'not prepared'} ({path})",
                                f"memcli models prepare {role}" + (" --force" if ok and not full else "")))
    from .paths import server_url

    if isinstance(db_path, str) and server_url(db_path):
        checks.append(_server(db_path))
        disk_at = Path.home()  # the server keeps the memory; models and the cache are on this machine
    else:
        disk_at = _file_checks(Path(db_path), checks)
    target = disk_at
    free = shutil.disk_usage(target).free
    checks.append(Check("disk space", free > 500 * 1024 * 1024, f"{free / 1e9:.1f} GB free at {target}",
                        "free some space: models need ~300 MB, the database grows with what you store"))
    from .paths import cache_dir

    existing = cache_dir()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    checks.append(Check("cache dir writable", os.access(existing, os.W_OK), str(cache_dir()),
                        "set MEMCLI_CACHE_DIR to a writable directory"))
    return checks


def _file_checks(db_path: Path, checks: list[Check]) -> Path:
    """The database file: integrity, schema, stored values, permissions, the nightly run. Returns where to
    measure free disk space."""
    if db_path.exists():
        try:
            from .storage import Store, open_database
            from .storage.schema import pending_migrations

            db = open_database(db_path, create=False, migrate=False)  # reports a pending upgrade, never runs it
            try:
                store = Store(db)
                integrity = store.maintenance.quick_check()
                pending = pending_migrations(db.conn)
                model = store.vectors.model()
                bad = store.maintenance.bad_rows() if integrity == "ok" else {}
            finally:
                db.conn.close()
            checks.append(Check("database", integrity == "ok" and not pending,
                                f"{db_path}: integrity {integrity}; schema {'current' if not pending else 'pending ' + ', '.join(pending)}; "
                                f"vectors {model[0] + ' ' + str(model[1]) + '-d' if model else 'none yet'}",
                                "restore from `memcli backup`, or export what is readable and import into a new file"))
            checks.append(Check("stored values", not bad, "all readable" if not bad else "; ".join(
                f"{what.replace('_', ' ')}: memories {', '.join(map(str, ids))}" for what, ids in bad.items()),
                "search skips these rows; look at them with 'memcli audit show ID', then forget them or import "
                "them again from an export"))
        except Exception as exc:
            checks.append(Check("database", False, f"{db_path}: {exc}", "check the path; memcli never overwrites a foreign file"))
        checks.append(_permissions(db_path))
        from . import cron

        problem = cron.warning(db_path)
        status = cron.read_status(db_path)
        checks.append(Check("nightly consolidate", problem is None, problem or (
            f"last run {status['last_run']}: {'ok' if status.get('ok') else 'failed'}" if status
            else "no run recorded (memcli consolidate --install-cron sets one up)"),
            f"run it by hand to see the error: memcli --db {db_path} consolidate; its log: {cron.log_path(db_path)}"))
    else:
        checks.append(Check("database", True, f"{db_path} not created yet ('memcli remember' creates it)"))
    return db_path.parent if db_path.parent.exists() else Path.home()


def _server(url: str) -> Check:
    from .paths import redact_url

    shown = redact_url(url)
    try:
        from .storage import Store
        from .storage.postgres import open_server

        handle = open_server(url, create=False, migrate=False)
        try:
            store = Store(handle)
            pending = store.pending_migrations()
            model = store.vectors.model() if not pending else None  # a schema prepared by an admin: no tables yet
            count = store.memories.count() if not pending else 0
            schema = handle.conn.schema
        finally:
            handle.conn.close()
    except Exception as exc:
        return Check("database", False, f"{shown}: {exc}", "check the URL, that the server runs, and the role's "
                     "rights (docs/postgres.md)")
    return Check("database", not pending, f"{shown}: schema {schema} {'current' if not pending else 'pending ' + ', '.join(pending)}; "
                 f"{count} memories; vectors {model[0] + ' ' + str(model[1]) + '-d' if model else 'none yet'}",
                 "any writing command applies the schema upgrade")


def _permissions(db_path: Path) -> Check:
    """The database, its -wal/-shm/-journal files and its directory: private to this user."""
    problems = []
    uid = os.getuid()
    if db_path.parent.stat().st_mode & 0o002:
        problems.append(f"{db_path.parent} is writable by every user")
    modes = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(f"{db_path}{suffix}")
        if not p.exists():
            continue
        st = p.lstat()
        modes.append(f"{p.name} {oct(st.st_mode & 0o777)}")
        if st.st_uid != uid:
            problems.append(f"{p.name} belongs to uid {st.st_uid}")
        elif st.st_mode & 0o077:
            problems.append(f"{p.name} is readable or writable by others ({oct(st.st_mode & 0o777)})")
    return Check("permissions", not problems, "; ".join(problems) if problems else ", ".join(modes),
                 f"chmod 600 {db_path}*; chmod o-w {db_path.parent}; remove files that are not yours")

"""Nightly consolidation from cron that cannot silently miss.

The line pins everything a cron job does not inherit from the shell it was made in: the absolute memcli, the
resolved database, the model cache and the config file, each quoted for the shell (a path with a space worked in
no earlier version). Its output goes to a log per database in the state dir, one timestamped line per run, and
each run's time, outcome and error are kept in a small status file beside it, which `memcli doctor` and
`memcli stats` read: a failing or overdue nightly run is a visible warning, not a line in a log nobody reads.
The crontab is edited with the `crontab` command (no library needed for one marked line); `--uninstall-cron`
removes exactly the line for this database. Kept apart from consolidate.py so printing the line stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .paths import state_dir

MARK = "# memcli consolidate"
OVERDUE = timedelta(hours=36)  # a nightly job that has not succeeded for this long is overdue


def _resolve(db: Path | str) -> Path | str:
    """A file as its absolute path; a postgresql:// URL without its password (what names it in the status file,
    the log and the crontab's marker)."""
    from .paths import redact_url, server_url

    if server_url(db):
        return redact_url(str(db))
    return Path(db).expanduser().resolve()


def _refuse_password(db: Path | str) -> None:
    from .paths import refuse_password, server_url

    if server_url(db):
        refuse_password(str(db), "the crontab")


def _key(db: Path | str) -> str:
    return hashlib.sha256(str(db).encode()).hexdigest()[:12]


def log_path(db: Path | str) -> Path:
    return state_dir() / "logs" / f"consolidate-{_key(db)}.log"


def status_path(db: Path | str) -> Path:
    return state_dir() / "logs" / f"consolidate-{_key(db)}.json"


def memcli_command() -> list[str]:
    """How to run this memcli from anywhere: its console script beside this interpreter, else `python -m memcli`."""
    script = Path(sys.executable).parent / "memcli"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "memcli"]


def cron_line(db: Path | str, schedule: str = "17 3 * * *", embedder: str | None = None) -> str:
    """The crontab entry for `db` (resolved), with this process's cache, config, state dir and (when one was given
    by flag or environment) embedder pinned. cron reads '%' as a newline: escaped."""
    from .config import config_path
    from .paths import cache_dir

    _refuse_password(db)
    db = _resolve(db)
    env = {"MEMCLI_CACHE_DIR": str(cache_dir().expanduser().resolve()),
           "MEMCLI_CONFIG": str(config_path().expanduser().resolve()),
           "MEMCLI_STATE_DIR": str(state_dir().expanduser().resolve())}
    if embedder:
        env["MEMCLI_EMBEDDER"] = embedder
    command = [*memcli_command(), "--db", str(db), "--actor", "cron", "consolidate", "--quiet",
               "--log", str(log_path(db))]
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    line = f"{schedule} {assignments} {shlex.join(command)} {MARK} {shlex.quote(str(db))}"
    return line.replace("%", "\\%")


def _crontab(args: list[str], stdin: str | None = None) -> str:
    import shutil
    import subprocess

    from .errors import InputError

    if not shutil.which("crontab"):
        raise InputError("no 'crontab' command on this system; add the line printed by --cron-line yourself")
    done = subprocess.run(["crontab", *args], input=stdin, capture_output=True, text=True)
    if done.returncode != 0 and args != ["-l"]:
        raise InputError(f"crontab refused the change: {done.stderr.strip()}")
    return done.stdout if done.returncode == 0 else ""


def _without(existing: str, db: Path | str) -> list[str]:
    tail = f"{MARK} {shlex.quote(str(db))}".replace("%", "\\%")
    return [ln for ln in existing.splitlines() if not ln.rstrip().endswith(tail)]


def install(db: Path | str, embedder: str | None = None) -> str:
    """Add (or replace) this database's line; other lines are kept as they are."""
    _refuse_password(db)
    db = _resolve(db)
    line = cron_line(db, embedder=embedder)
    lines = _without(_crontab(["-l"]), db)
    _crontab(["-"], "\n".join([*lines, line]) + "\n")
    return line


def uninstall(db: Path | str) -> bool:
    """Remove this database's line; True if there was one."""
    db = _resolve(db)
    existing = _crontab(["-l"])
    kept = _without(existing, db)
    if len(kept) == len(existing.splitlines()):
        return False
    _crontab(["-"], "\n".join(kept) + ("\n" if kept else ""))
    return True


def installed(db: Path | str) -> bool:
    import shutil

    if not shutil.which("crontab"):
        return False
    db = _resolve(db)
    existing = _crontab(["-l"])
    return len(_without(existing, db)) != len(existing.splitlines())


def record_run(db: Path | str, log: Path, ok: bool, summary: str, last_hash: str | None = None) -> None:
    """One timestamped line in `log`, and the run's outcome in the status file (read by doctor and stats)."""
    from .paths import ensure_private_dir

    now = datetime.now(timezone.utc).astimezone()
    db = _resolve(db)
    ensure_private_dir(log.parent)
    fd = os.open(log, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(f"{now.isoformat(timespec='seconds')} {db} {'ok' if ok else 'FAILED'}: {summary}"
                 + (f" (audit last hash {last_hash})" if last_hash else "") + "\n")
    status = read_status(db) or {}
    status.update({"last_run": now.isoformat(timespec="seconds"), "ok": ok, "summary": summary, "log": str(log)})
    if ok:
        status["last_success"] = status["last_run"]
        status.pop("error", None)
    else:
        status["error"] = summary
    from .files import write_atomic

    target = status_path(db)
    ensure_private_dir(target.parent)
    write_atomic(target, json.dumps(status))


def read_status(db: Path | str) -> dict | None:
    try:
        return json.loads(status_path(_resolve(db)).read_text())
    except (OSError, ValueError):
        return None


def warning(db: Path | str, now: datetime | None = None) -> str | None:
    """What is wrong with the nightly run of `db`, if anything: it failed, or it is installed but overdue."""
    status = read_status(db)
    if status and status.get("ok") is False:
        return f"the last consolidate run ({status.get('last_run')}) failed: {status.get('error')}"
    last = (status or {}).get("last_success")
    now = now or datetime.now(timezone.utc)
    try:
        overdue = last is None or now - datetime.fromisoformat(last) > OVERDUE
    except ValueError:
        overdue = True
    if overdue and installed(db):
        return (f"the nightly consolidate has not succeeded since {last or 'it was installed'}; "
                f"see {log_path(_resolve(db))}")
    return None

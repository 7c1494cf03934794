"""The crontab entry for nightly consolidation, kept apart from consolidate.py so printing it stays a fast
command (consolidate.py needs numpy)."""

from __future__ import annotations

from pathlib import Path


def cron_line(db: Path | None, schedule: str = "17 3 * * *") -> str:
    """A crontab entry with absolute paths: nightly at 03:17, logging to the cache dir."""
    import shutil
    import sys

    from .paths import cache_dir

    exe = shutil.which("memcli") or f"{sys.executable} -m memcli"
    db_arg = f" --db {Path(db).expanduser().resolve()}" if db else ""
    log = cache_dir() / "consolidate.log"
    return f"{schedule} {exe}{db_arg} --actor cron consolidate >> {log} 2>&1"

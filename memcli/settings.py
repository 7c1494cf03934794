"""Settings kept in the database (recall logging) and the audit record of a change to the config file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .changes import Op

if TYPE_CHECKING:
    from .context import Context

META_LOG_RECALLS = "log_recalls"
ENV_LOG_RECALLS = "MEMCLI_LOG_RECALLS"


def recall_logging(ctx: "Context") -> bool:
    """Recalls are logged as accesses unless turned off ($MEMCLI_LOG_RECALLS=0 or `audit recall-log off`)."""
    env = os.environ.get(ENV_LOG_RECALLS)
    if env is not None:
        return env.strip().lower() not in ("0", "off", "false", "no")
    return ctx.store.meta.get(META_LOG_RECALLS) != "0"


def set_recall_logging(ctx: "Context", on: bool) -> None:
    with ctx.change(Op.CONFIG, detail={"log_recalls": on}):
        ctx.store.meta.set(META_LOG_RECALLS, "1" if on else "0")


def configure(ctx: "Context | None", key: str, value: str | None) -> Path:
    """Set (or with None remove) a config-file setting. With a database (`ctx`), the edit happens inside a change of
    it, so the setting's change is in its audit log and a failed write leaves no record. The file is outside the
    database: a crash between the file's rename and the commit can leave the file changed without its record; the
    reverse cannot happen."""
    from .config import set_value

    if ctx is None:
        return set_value(key, value)
    with ctx.change(Op.CONFIG, detail={key: value, "file": True}):
        ctx.store.meta.set(f"config.{key}", value if value is not None else "")
        return set_value(key, value)

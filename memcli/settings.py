"""Settings kept in the database (recall logging) and the audit record of a change to the config file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .changes import Op
from .errors import MemcliError

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


def configure(ctx: "Context | None", key: str, value: str | None) -> tuple[Path, str | None]:
    """Set (or with None remove) a config-file setting: (the file, why it was not recorded or None).

    With a database that can take the record (writable, current schema), the edit happens inside a change of it,
    so the setting's change is in its audit log and a failed write leaves no record. The config file belongs to
    the user, not to one database: a database that cannot take the record (read-only, locked, from a newer memcli,
    not memcli's) never stops the edit — it is made and the reason returned. A crash between the file's rename and
    the commit can leave the file changed without its record; the reverse cannot happen."""
    from .config import set_value

    if ctx is None:
        return set_value(key, value), "no database yet"
    from contextlib import ExitStack

    from .paths import redact_url

    shown = redact_url(value) if key == "db" and value else value  # a URL's password is never recorded
    with ExitStack() as open_change:
        try:
            store = ctx.store
            store.require_writable()
            if store.pending_migrations():
                raise MemcliError("the database needs a schema upgrade first (any writing command does it)")
            open_change.enter_context(ctx.change(Op.CONFIG, detail={key: shown, "file": True}))
        except Exception as exc:  # the database, not the edit: a one-line reason, and the edit goes ahead
            return set_value(key, value), str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        store.meta.set(f"config.{key}", shown if shown is not None else "")
        return set_value(key, value), None  # a failed write raises: the change rolls back with no record

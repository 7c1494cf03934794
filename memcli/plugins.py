"""Plugins: pluggy hooks, found through the `memcli` entry-point group. memcli's own input formats and exporter
register through the same hooks as third-party ones (memcli/builtin_plugin.py), first.

$MEMCLI_PLUGINS limits what loads: unset = every installed plugin; 'none' (or empty) = none; 'a,b' = only those.
Hooks receive a `register` callback (as in simonw/llm), so a plugin can offer several things from one hook.

Names are first come, first served, built-ins first and then plugins in name order: a plugin registering a name
that is taken (say the importer `jsonl`) is refused with a warning, unless it asks for the replacement with
`register(name, obj, override=True)`. Hooks get narrow, documented arguments (below), never the whole library.
Every hook is documented in docs/plugins.md (a test keeps the two equal).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .context import Context

hookspec = pluggy.HookspecMarker("memcli")
hookimpl = pluggy.HookimplMarker("memcli")
ENV_PLUGINS = "MEMCLI_PLUGINS"
BUILTIN = "memcli.builtin"


class PluginWarning(UserWarning):
    """A plugin's registration was refused (the CLI prints it as one warning line)."""


class Specs:
    @hookspec
    def register_commands(self, cli):
        """Add commands to the typer app `cli` (`@cli.command()`)."""

    @hookspec
    def register_importers(self, register):
        """register(name, parse[, override=False]) with parse(text: str, origin: str) ->
        list[memcli.ingest.parse.Message]: an input format for `remember --format NAME`."""

    @hookspec
    def register_exporters(self, register):
        """register(name, write[, override=False]) with write(source: memcli.transfer.ExportSource, out: TextIO,
        options: dict) -> dict of counts: an output format for `export --format NAME`."""

    @hookspec
    def register_embedders(self, register):
        """register(name, factory[, override=False]) with factory() -> an embedder (memcli/models/embedder.py):
        selected with `--embedder NAME`."""

    @hookspec
    def register_generators(self, register):
        """register(name, factory[, override=False]) with factory() -> a generator (memcli/models/generator.py):
        selected with `--generator NAME`."""

    @hookspec
    def on_connect(self, conn):
        """Called with each new database connection (e.g. to load another SQLite extension). Writes to memcli's
        tables through it are refused: state changes only through memcli's own operations."""

    @hookspec
    def after_remember(self, result, memories):
        """Called after a remember committed: `result` is the memcli.types.RememberResult, `memories` a
        MemoryReader (read-only: memories.get(ids) -> {id: record})."""

    @hookspec
    def after_forget(self, result):
        """Called after a forget committed, with the memcli.types.ForgetResult (ids only: the text is gone)."""


class MemoryReader:
    """What after_remember hooks may read: full records of given memories, nothing else."""

    def __init__(self, ctx: "Context"):
        self._ctx = ctx

    def get(self, ids: Sequence[int]) -> dict[int, dict]:
        return self._ctx.store.memories.records(list(ids))


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("memcli")
    pm.add_hookspecs(Specs)
    from . import builtin_plugin

    pm.register(builtin_plugin, name=BUILTIN)
    wanted = os.environ.get(ENV_PLUGINS)
    if wanted is not None and wanted.strip().lower() in ("", "none"):
        return pm
    allowed = None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}
    from importlib.metadata import entry_points

    for ep in entry_points(group="memcli"):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is None:
            pm.register(ep.load(), name=ep.name)
    return pm


_warned: set[tuple[str, str, str]] = set()


def collect(pm: pluggy.PluginManager, hook: str) -> dict[str, Callable]:
    """Run a register_* hook and return name -> registered object: built-ins first, then plugins by name; a taken
    name is kept unless the newcomer passes override=True (else it is refused with a PluginWarning)."""
    found: dict[str, Callable] = {}
    owner: dict[str, str] = {}
    impls = sorted(getattr(pm.hook, hook).get_hookimpls(), key=lambda i: (i.plugin_name != BUILTIN, i.plugin_name))
    for impl in impls:
        plugin = impl.plugin_name

        def register(name: str, obj: Callable, *, override: bool = False, _plugin: str = plugin) -> None:
            if name in found and owner[name] != _plugin and not override:
                key = (hook, name, _plugin)
                if key not in _warned:
                    _warned.add(key)
                    what = "built into memcli" if owner[name] == BUILTIN else f"registered by {owner[name]}"
                    warnings.warn(PluginWarning(
                        f"plugin {_plugin} registers {hook.removeprefix('register_')[:-1]} {name!r}, which is "
                        f"{what}; ignored (the plugin can pass override=True to replace it)"), stacklevel=2)
                return
            found[name] = obj
            owner[name] = _plugin

        impl.function(register=register)
    return found


def notify(ctx: "Context", hook: str, **kwargs: Any) -> None:
    """Call an after_* hook with its narrow arguments."""
    if hook == "after_remember":
        kwargs["memories"] = MemoryReader(ctx)
    getattr(ctx.plugins.hook, hook)(**kwargs)


def describe(pm: pluggy.PluginManager) -> list[dict]:
    out = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        dist = next((d for p, d in pm.list_plugin_distinfo() if p is plugin), None)
        out.append({"name": name, "hooks": hooks, "version": getattr(dist, "version", None) if dist else None})
    return out

"""Plugins: pluggy hooks, found through the `memcli` entry-point group. memcli's own input formats register
through the same hook as third-party ones (memcli/builtin_plugin.py).

$MEMCLI_PLUGINS limits what loads: unset = every installed plugin; 'none' (or empty) = none; 'a,b' = only those.
Hooks receive a `register` callback (as in simonw/llm), so a plugin can offer several things from one hook.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("memcli")
hookimpl = pluggy.HookimplMarker("memcli")
ENV_PLUGINS = "MEMCLI_PLUGINS"


class Specs:
    @hookspec
    def register_commands(self, cli):
        """Add commands to the typer app `cli`."""

    @hookspec
    def register_importers(self, register):
        """register(name, parse) with parse(text: str, origin: str) -> list[memcli.ingest.parse.Message]."""

    @hookspec
    def register_exporters(self, register):
        """register(name, write) with write(memory: memcli.Memory, out: TextIO, options: dict) -> dict of counts."""

    @hookspec
    def register_embedders(self, register):
        """register(name, factory) with factory() -> memcli.models.embedder.Embedder."""

    @hookspec
    def register_generators(self, register):
        """register(name, factory) with factory() -> memcli.models.generator.Generator."""

    @hookspec
    def on_connect(self, conn):
        """Called with each new database connection (e.g. to load another SQLite extension)."""

    @hookspec
    def after_remember(self, memory, result):
        """Called after a successful remember with the RememberResult."""

    @hookspec
    def after_forget(self, memory, result):
        """Called after a successful forget with the ForgetResult."""


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("memcli")
    pm.add_hookspecs(Specs)
    from . import builtin_plugin

    pm.register(builtin_plugin, name="memcli.builtin")
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


def collect(pm: pluggy.PluginManager, hook: str) -> dict[str, Callable]:
    """Run a register_* hook and return name -> registered object (later plugins cannot shadow built-ins)."""
    found: dict[str, Callable] = {}

    def register(name: str, obj: Callable) -> None:
        found.setdefault(name, obj)

    getattr(pm.hook, hook)(register=register)
    return found


def describe(pm: pluggy.PluginManager) -> list[dict]:
    out = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        dist = next((d for p, d in pm.list_plugin_distinfo() if p is plugin), None)
        out.append({"name": name, "hooks": hooks, "version": getattr(dist, "version", None) if dist else None})
    return out

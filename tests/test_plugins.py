"""The plugin contract: built-ins are not replaced by accident, overrides are explicit, every hook is documented,
and hooks get their narrow arguments."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from memcli.core import Memory, RawInput
from memcli.models.hashing import HashEmbedder
from memcli.plugins import PluginWarning, Specs, collect, hookimpl, plugin_manager

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def _manager(*plugins):
    pm = plugin_manager()
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    return pm


def test_a_plugin_cannot_replace_a_builtin_by_accident():
    """pluggy calls the newest plugin first: before this rule, a plugin registering `jsonl` silently replaced the
    built-in parser."""

    class Shadow:
        @hookimpl
        def register_importers(self, register):
            register("jsonl", lambda text, origin: [])
            register("shadow-format", lambda text, origin: [])

    from memcli.ingest import parse

    pm = _manager(("shadow", Shadow()))
    with pytest.warns(PluginWarning, match="plugin shadow registers importer 'jsonl', which is built into memcli"):
        found = collect(pm, "register_importers")
    assert found["jsonl"] is parse.parse_jsonl
    assert "shadow-format" in found  # its other registrations stand


def test_an_explicit_override_replaces_a_builtin():
    mine = lambda text, origin: []  # noqa: E731

    class Override:
        @hookimpl
        def register_importers(self, register):
            register("jsonl", mine, override=True)

    pm = _manager(("override", Override()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert collect(pm, "register_importers")["jsonl"] is mine


def test_between_two_plugins_the_first_by_name_keeps_a_name():
    class A:
        @hookimpl
        def register_exporters(self, register):
            register("csv", "from a")

    class B:
        @hookimpl
        def register_exporters(self, register):
            register("csv", "from b")

    pm = _manager(("b-plugin", B()), ("a-plugin", A()))  # registration order does not matter, the name does
    with pytest.warns(PluginWarning, match="plugin b-plugin registers exporter 'csv', which is registered by a-plugin"):
        assert collect(pm, "register_exporters")["csv"] == "from a"


def test_the_cli_prints_a_refused_registration_as_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import memcli.plugins as plugins
    from memcli.cli.app import app

    class Shadow:
        @hookimpl
        def register_importers(self, register):
            register("text", lambda text, origin: [])

    pm = _manager(("shadow2", Shadow()))
    monkeypatch.setenv("MEMCLI_DB", str(tmp_path / "m.db"))
    monkeypatch.setenv("MEMCLI_EMBEDDER", "hash")
    plugins._warned.clear()
    r = CliRunner().invoke(app, ["remember", "a plain note"], obj=pm)
    assert r.exit_code == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "shadow2" in ln]
    assert lines == ["memcli: warning: plugin shadow2 registers importer 'text', which is built into memcli; "
                     "ignored (the plugin can pass override=True to replace it)"]


def test_every_hook_is_documented():
    docs = DOCS.read_text()
    documented = re.findall(r"^### `(\w+)\(", docs, re.M)
    hooks = [name for name in vars(Specs) if not name.startswith("_")]
    assert sorted(documented) == sorted(hooks)
    for name in hooks:
        params = list(getattr(Specs, name).__code__.co_varnames[1:getattr(Specs, name).__code__.co_argcount])
        assert f"### `{name}({', '.join(params)})`" in docs, name
        assert getattr(Specs, name).__doc__, name


def test_after_hooks_get_results_and_a_reader_not_the_library(tmp_path):
    seen = {}

    class Listener:
        @hookimpl
        def after_remember(self, result, memories):
            seen["remember"] = (result.created, {i: r["text"] for i, r in memories.get(result.created).items()})
            assert not hasattr(memories, "forget") and not hasattr(memories, "remember")

        @hookimpl
        def after_forget(self, result):
            seen["forget"] = result.ids

    with Memory(tmp_path / "m.db", embedder=HashEmbedder(), plugins=_manager(("listener", Listener()))) as mem:
        created = mem.remember([RawInput("a", "the garage code is on the blue card")]).created
        mem.forget(created)
    assert seen == {"remember": (created, {created[0]: "the garage code is on the blue card"}),
                    "forget": created}

"""memcli hooks for coding agents (Claude Code): `memcli hooks install claude-code` adds to Claude Code's
settings.json hooks that capture each session into memcli (Stop, PreCompact, SessionEnd) and put the few most
relevant memories of the project into its context (SessionStart, UserPromptSubmit). `memcli hooks run EVENT` is
the command those hooks call; it reads the hook's JSON on stdin and always exits 0. How and why: claude_code.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from memcli.plugins import hookimpl

from . import claude_code as cc

AGENTS = ("claude-code",)

AgentArg = Annotated[str, typer.Argument(help="The coding agent: claude-code.")]
SettingsOpt = Annotated[Optional[Path], typer.Option(
    "--settings", help="Claude Code settings file (default: ~/.claude/settings.json, or $CLAUDE_CONFIG_DIR's); "
                       "e.g. .claude/settings.local.json for one project.")]
ScopeOpt = Annotated[Optional[str], typer.Option(
    "--scope", "-s", help="Memory scope to capture into and recall from (default: the project's own scope, "
                          "project:<dir>-<hash>, as the MCP server).")]
BudgetOpt = Annotated[int, typer.Option("--budget", min=200, max=20_000,
                                        help="Characters of memories injected, at most.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=20, help="Memories injected, at most.")]


def _agent(agent: str) -> str:
    from memcli.errors import UsageError

    if agent not in AGENTS:
        raise UsageError(f"unknown agent {agent!r}; memcli has hooks for {', '.join(AGENTS)}")
    return agent


def _db(state) -> Path | str:
    """The database the hooks pin: a file's absolute path, or a postgresql:// URL as it is."""
    from memcli.paths import database

    where = database(state.db)
    return where.absolute() if isinstance(where, Path) else where


@hookimpl
def register_commands(cli):
    hooks_app = typer.Typer(help="Hooks for coding agents: capture sessions, recall memories into prompts.",
                            no_args_is_help=True)

    @hooks_app.command("install")
    def install_command(ctx: typer.Context, agent: AgentArg, settings: SettingsOpt = None, scope: ScopeOpt = None,
                        budget: BudgetOpt = cc.DEFAULT_BUDGET, limit: LimitOpt = cc.DEFAULT_LIMIT):
        """Add memcli's hooks to the agent's settings (merged, backed up, idempotent).

        The hooks call this memcli by its absolute path, on the database it uses now (--db / MEMCLI_DB), with the
        embedder given now by --embedder or MEMCLI_EMBEDDER, if any.

        \b
        Examples:
          memcli hooks install claude-code
          memcli --db ~/work.db hooks install claude-code --settings .claude/settings.local.json
        """
        from memcli.errors import InputError

        _agent(agent)
        path = (settings or cc.default_settings_path()).expanduser()
        if scope is not None:
            from memcli.validate import label

            problem = label(scope)
            if problem:
                raise InputError(f"scope {scope[:40]!r} {problem}")
        try:
            embedder = ctx.find_root().params.get("embedder")  # given by --embedder or MEMCLI_EMBEDDER
            changed, backup = cc.install(path, _db(ctx.obj), scope=scope, budget=budget, limit=limit,
                                         embedder=embedder)
        except cc.SettingsError as exc:
            raise InputError(str(exc)) from None
        if not changed:
            typer.echo(f"memcli hooks already installed in {path}; nothing changed")
            return
        typer.echo(f"installed memcli hooks ({', '.join(cc.EVENTS)}) in {path}, database {_db(ctx.obj)}"
                   + (f"; backup: {backup}" if backup else ""))

    @hooks_app.command("uninstall")
    def uninstall_command(agent: AgentArg, settings: SettingsOpt = None):
        """Remove memcli's hooks from the agent's settings (only memcli's; backed up first).

        \b
        Example:
          memcli hooks uninstall claude-code
        """
        from memcli.errors import InputError

        _agent(agent)
        path = (settings or cc.default_settings_path()).expanduser()
        try:
            changed, backup = cc.uninstall(path)
        except cc.SettingsError as exc:
            raise InputError(str(exc)) from None
        if not changed:
            typer.echo(f"no memcli hooks in {path}; nothing changed")
            return
        typer.echo(f"removed memcli hooks from {path}" + (f"; backup: {backup}" if backup else ""))

    @hooks_app.command("run")
    def run_command(ctx: typer.Context,
                    event: Annotated[str, typer.Argument(help=f"The hook event: {', '.join(cc.EVENTS)}.")],
                    scope: ScopeOpt = None, budget: BudgetOpt = cc.DEFAULT_BUDGET, limit: LimitOpt = cc.DEFAULT_LIMIT,
                    wait: Annotated[bool, typer.Option(
                        "--wait", help="Capture before returning (by default a capture runs detached).")] = False):
        """What the installed hooks call: reads the hook's JSON on stdin, prints what goes into the agent's context,
        and exits 0 whatever happens (errors are logged to hooks.log in memcli's state directory).

        \b
        Example:
          echo '{"hook_event_name": "UserPromptSubmit", "prompt": "fix the login", "cwd": "."}' |
            memcli hooks run UserPromptSubmit
        """
        try:
            state = ctx.obj
            db = _db(state)
            data = cc.read_stdin(sys.stdin.buffer.read)
            spec = state.model_spec("embedder")
            if event in cc.CAPTURE_EVENTS and not wait:
                # the database goes in the environment, not the command line: `ps` shows every user the latter
                argv = [sys.executable, "-m", "memcli", *(["--embedder", spec] if spec else []),
                        "hooks", "run", event, "--wait", *(["--scope", scope] if scope else [])]
                cc.spawn_capture(argv, data, {**os.environ, "MEMCLI_DB": str(db)})
                return
            cfg = cc.HookConfig(db=db, scope=scope, budget=budget, limit=limit, embedder_spec=spec)
            out = cc.run(event, data, cfg)
            if out:
                sys.stdout.write(out + "\n")
                sys.stdout.flush()
        except BaseException as exc:  # noqa: BLE001 - a hook never fails the agent's turn
            if not isinstance(exc, (SystemExit, KeyboardInterrupt)):
                cc.log_error(f"hooks run {event}", exc)

    cli.add_typer(hooks_app, name="hooks")

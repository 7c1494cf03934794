"""memcli as an MCP server over stdio: `memcli mcp` (or `python -m memcli_mcp`), and `memcli mcp config CLIENT`
to wire it into Claude Code, Claude Desktop, Cursor or VS Code.

Tools: remember, recall, get, list, update, forget, audit_show (typed: every parameter described, annotations,
an outputSchema and structured results); resources memcli://profile and memcli://recent; the prompt use-memory.
The server itself lives in memcli_mcp.server, imported only when it runs: this module is loaded by every memcli
command (it registers `memcli mcp`), so it imports nothing heavy.

What an agent can do is narrower than the CLI, and enforced by the library (memcli.agents.AgentSession): it works
in its own scopes - by default the one derived from the directory the server starts in
(`project:<name>-<hash>`), else `--scope NAME` (repeatable) or $MEMCLI_AGENT_SCOPES - and never reads another;
`remember` stores its text as one plain note (never parsed as a transcript, so the text cannot choose its own
speakers or dates); `update` supersedes (the old text stays as history); `forget` takes at most MAX_FORGET ids a
call and archives them (hidden from recall, `memcli restore` brings them back) unless it asks to erase, within a
budget per session and day. A refused call says why, in one line, as the tool's error.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from memcli.plugins import hookimpl

MAX_FORGET = 10  # ids per forget call (memcli.agents.AgentPolicy): an agent cannot empty the store in one step


def build_server(db_path: str | None = None, **settings: Any) -> Any:
    """The MCPServer (memcli_mcp.server.build_server)."""
    from .server import build_server as build

    return build(db_path, **settings)


def serve(db_path: str | None = None, **settings: Any) -> None:
    build_server(db_path, **settings).run("stdio")


class Client(str, enum.Enum):
    claude_code = "claude-code"
    claude_desktop = "claude-desktop"
    cursor = "cursor"
    vscode = "vscode"


ScopeOpt = Annotated[Optional[list[str]], typer.Option(
    "--scope", "-s", help="The agent's scope (repeatable; the first is written to). Default: $MEMCLI_AGENT_SCOPES, "
                          "else one derived from the working directory (project:<name>-<hash>).")]


@hookimpl
def register_commands(cli):
    mcp_app = typer.Typer(invoke_without_command=True, no_args_is_help=False, rich_markup_mode=None,
                          context_settings={"help_option_names": ["-h", "--help"]})

    @mcp_app.callback()
    def mcp_command(ctx: typer.Context, scope: ScopeOpt = None):
        """Run memcli as an MCP server over stdio, for coding and desktop agents.

        The agent reads and writes only its scopes: --scope (repeatable), else $MEMCLI_AGENT_SCOPES, else the
        scope of the directory the server starts in (project:<name>-<hash>). `memcli mcp config CLIENT` prints
        (or --install's) the client's configuration.

        \b
        Examples:
          memcli mcp
          memcli mcp --scope work
          memcli mcp config claude-code --install
        """
        if ctx.invoked_subcommand is not None:
            ctx.meta["memcli_mcp_scopes"] = scope  # `memcli mcp --scope X config ...` means config's --scope X
            return
        state = ctx.obj
        serve(str(state.db) if state.db else None, embedder=state.model_spec("embedder"),
              generator=state.model_spec("generator"), reranker=state.model_spec("reranker"), actor=state.actor,
              plugins=state.plugins, scopes=scope)

    @mcp_app.command("config")
    def config_command(
        ctx: typer.Context,
        client: Annotated[Client, typer.Argument(metavar="CLIENT", help="claude-code|claude-desktop|cursor|vscode")],
        install: Annotated[bool, typer.Option("--install", help=(
            "Merge the entry into the client's config file (backup first, other servers kept, idempotent)."))]
        = False,
        scope: ScopeOpt = None,
        file: Annotated[Optional[Path], typer.Option("--file", help=(
            "The config file to install into (default: the client's own, see memcli mcp config --help)."))] = None,
    ):
        """Print the MCP config for a client, or --install it into the client's config file.

        The entry runs this memcli by its absolute path with the database in MEMCLI_DB. Files: claude-code
        ./.mcp.json (project scope; what `claude mcp add --scope project` writes), claude-desktop
        claude_desktop_config.json (macOS ~/Library/Application Support/Claude/, Windows %APPDATA%\\Claude\\),
        cursor ~/.cursor/mcp.json, vscode ./.vscode/mcp.json ("servers"). The agent's scope is pinned in the
        entry: --scope if given, else this directory's project scope for a project file (./.mcp.json,
        ./.vscode/mcp.json, ./.cursor/mcp.json), else the client's name (claude-desktop, cursor).

        \b
        Examples:
          memcli mcp config claude-code
          memcli mcp config claude-code --install
          memcli mcp config claude-desktop --install --scope default
        """
        from .clients import install as do_install
        from .clients import snippet

        state = ctx.obj
        root = ctx.find_root().params
        scopes = scope or ctx.meta.get("memcli_mcp_scopes")  # meta is shared along the context chain
        models = {"MEMCLI_EMBEDDER": root.get("embedder"), "MEMCLI_GENERATOR": root.get("generator")}
        plan = snippet(client.value, db=state.db, scopes=scopes, file=file, models=models)
        if not install:
            typer.echo(plan.text, nl=False)
            typer.echo(f"memcli: add this to {plan.path} (or run with --install)", err=True)
            return
        outcome = do_install(plan)
        typer.echo(outcome)

    cli.add_typer(mcp_app, name="mcp", help="Run memcli as an MCP server over stdio; `mcp config` wires up clients.")

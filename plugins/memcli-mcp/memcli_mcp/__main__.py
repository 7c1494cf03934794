"""`python -m memcli_mcp [--scope NAME]...`: the MCP server over stdio, as `memcli mcp`."""

import argparse
import sys

from memcli.errors import MemcliError

from memcli_mcp import serve

parser = argparse.ArgumentParser(prog="python -m memcli_mcp", description=(
    "memcli as an MCP server over stdio. The database is $MEMCLI_DB (else the per-user default)."))
parser.add_argument("--scope", "-s", action="append", metavar="NAME", help=(
    "The agent's scope (repeatable; the first is written to). Default: $MEMCLI_AGENT_SCOPES, else one derived "
    "from the working directory (project:<name>-<hash>)."))
args = parser.parse_args()
try:
    serve(scopes=args.scope)
except MemcliError as exc:
    print(f"memcli mcp: error: {' '.join(str(exc).split())}", file=sys.stderr)
    sys.exit(exc.exit_code)

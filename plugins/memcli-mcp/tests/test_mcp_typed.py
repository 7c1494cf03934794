"""The typed server through the official MCP client over stdio: every tool described, annotated and typed (its
structured result valid against its outputSchema), bad arguments refused in one line, the resources and the
prompt, scopes from the working directory, and a CLI writer working beside the server."""

import asyncio
import json
import os
import subprocess
import sys
import threading
from importlib.metadata import version

import jsonschema
from mcp import Client, StdioServerParameters

from memcli.agents import project_scope

TOOLS = {"remember", "recall", "get", "list", "update", "forget", "audit_show"}
HINTS = {  # read-only, destructive, idempotent (None: not stated, the spec's default applies)
    "remember": (False, False, True),
    "recall": (True, None, None),  # reinforces what it returns: not claimed idempotent (server.py says why)
    "get": (True, None, True),
    "list": (True, None, True),
    "update": (False, False, True),
    "forget": (False, True, False),
    "audit_show": (True, None, True),
}


def _env(tmp_path, **extra):
    env = {**os.environ, "MEMCLI_DB": str(tmp_path / "mcp.db"), "MEMCLI_EMBEDDER": "hash"}
    env.pop("MEMCLI_AGENT_SCOPES", None)
    env.update(extra)
    return env


def _nodes(schema):
    if isinstance(schema, dict):
        yield schema
        for v in schema.values():
            yield from _nodes(v)
    elif isinstance(schema, list):
        for v in schema:
            yield from _nodes(v)


def one_line_error(result) -> str:
    assert result.is_error, result
    text = result.content[0].text
    assert "\n" not in text and "pydantic" not in text and "http" not in text, text
    return text


def test_tools_are_described_annotated_and_typed(tmp_path):
    from memcli.core import Memory, RawInput
    from memcli.models.hashing import HashEmbedder

    project = tmp_path / "my project"
    project.mkdir()
    scope = project_scope(project)
    with Memory(tmp_path / "mcp.db", embedder=HashEmbedder()) as mem:  # a profile, as consolidate would build
        evidence = mem.remember([RawInput("u", "I always indent with tabs")], scope=scope).created
        profile_id = mem.derive("profile", "The user indents with tabs.", evidence, scope=scope)
        mem.remember([RawInput("u", "a note in another scope")], scope="elsewhere")
    params = StdioServerParameters(command=sys.executable, args=["-m", "memcli_mcp"], env=_env(tmp_path),
                                   cwd=project)

    async def run():
        async with Client(params) as client:
            assert client.server_info.name == "memcli" and client.server_info.version == version("memcli")
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == TOOLS
            for name, tool in tools.items():
                assert len(tool.description) > 40, name
                jsonschema.Draft202012Validator.check_schema(tool.input_schema)
                jsonschema.Draft202012Validator.check_schema(tool.output_schema)
                for param, spec in tool.input_schema["properties"].items():
                    assert len(spec.get("description", "")) > 10, (name, param)
                # bounds as JSON Schema says them (minimum/maximum), never pydantic's ge/le
                assert not any({"ge", "le", "gt", "lt"} & set(n) for n in _nodes(tool.input_schema)), name
                a = tool.annotations
                assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint) == HINTS[name], name
                assert a.open_world_hint is False and a.title

            async def call(name, args):
                result = await client.call_tool(name, args)
                assert not result.is_error, result.content[0].text
                jsonschema.validate(result.structured_content, tools[name].output_schema)
                assert json.loads(result.content[0].text) == result.structured_content  # and as a text block
                return result.structured_content

            made = await call("remember", {"text": "The build uses ninja", "tags": ["build"], "importance": 0.5,
                                           "expires": "30d"})
            assert made["scope"] == scope and len(made["created"]) == 1 and made["existing"] == []
            mid = made["created"][0]
            assert (await call("remember", {"text": "The build uses ninja"}))["existing"] == [mid]  # idempotent
            hits = (await call("recall", {"query": "which build tool", "since": "yesterday", "kinds": ["episodic"],
                                          "tags": ["build"]}))["hits"]
            assert [h["id"] for h in hits] == [mid] and hits[0]["expires_at"] and hits[0]["scope"] == scope
            assert (await call("recall", {"query": "build", "until": "2001-01-01"}))["hits"] == []
            assert all(h["scope"] == scope for h in (await call("recall", {"query": "note", "limit": 50}))["hits"])

            fixed = await call("update", {"id": mid, "text": "The build uses make"})
            assert fixed["supersedes"] == mid
            got = await call("get", {"ids": [fixed["id"], mid, 999, evidence[0] + 2]})  # +2: 'elsewhere'
            assert [m["id"] for m in got["memories"]] == [fixed["id"], mid]
            assert got["missing"] == [999, evidence[0] + 2]
            new, old = got["memories"]
            assert new["supersedes"] == [mid] and old["superseded_by"] == [fixed["id"]] and old["valid_until"]
            assert new["sources"] and new["tags"] == ["build"]

            first = await call("list", {"limit": 2})
            assert [m["id"] for m in first["memories"]] == [fixed["id"], mid]
            rest = await call("list", {"limit": 2, "before_id": first["next_before_id"]})
            assert [m["id"] for m in rest["memories"]] == [profile_id, evidence[0]]
            assert rest["next_before_id"] is None
            assert [m["id"] for m in (await call("list", {"kinds": ["profile"]}))["memories"]] == [profile_id]

            story = await call("audit_show", {"memory_id": mid})
            ops = [a["op"] for a in story["audit"]]
            assert story["exists"] and ops[0] == "remember" and ops[-1] == "update" and "recall" in ops
            gone = await call("forget", {"ids": [fixed["id"]]})
            assert gone["ids"] == [fixed["id"]] and gone["archived"]

            resources = {str(r.uri): r for r in (await client.list_resources()).resources}
            assert set(resources) == {"memcli://profile", "memcli://recent"}
            assert all(r.mime_type == "application/json" and r.description for r in resources.values())
            profile = json.loads((await client.read_resource("memcli://profile")).contents[0].text)
            assert [m["id"] for m in profile["memories"]] == [profile_id] and profile["scopes"] == [scope]
            recent = json.loads((await client.read_resource("memcli://recent")).contents[0].text)
            assert [m["id"] for m in recent["memories"]] == [mid, profile_id, evidence[0]]  # archived one left out
            assert "never instructions" in recent["note"]

            prompts = (await client.list_prompts()).prompts
            assert [p.name for p in prompts] == ["use-memory"] and prompts[0].description
            text = (await client.get_prompt("use-memory")).messages[0].content.text
            assert scope in text and "never instructions" in text
            assert all(tool in text for tool in ("recall", "remember", "update"))

    asyncio.run(run())


def test_bad_arguments_come_back_as_one_line(tmp_path):
    params = StdioServerParameters(command=sys.executable, args=["-m", "memcli_mcp", "--scope", "mine"],
                                   env=_env(tmp_path), cwd=tmp_path)
    cases = [
        ("recall", {"query": "x", "limit": 99}, "limit: input should be less than or equal to 50 (got 99)"),
        ("recall", {"query": "x", "limit": "many"}, "limit: input should be a valid integer"),
        ("recall", {}, "query: field required"),
        ("recall", {"query": "x", "kinds": ["secret"]}, "kinds[0]: input should be 'episodic'"),
        ("recall", {"query": "x", "since": "blorp"}, "since: 'blorp' is not a time"),
        ("recall", {"query": "x", "scope": "elsewhere"}, "outside this agent's memory"),
        ("remember", {"text": "x", "importance": 2}, "importance: input should be less than or equal to 1"),
        ("remember", {"text": "x", "tags": ["t"] * 21}, "tags: list should have at most 20 items"),
        ("remember", {"text": "x", "expires": "yesterday"}, "is not in the future"),
        ("remember", {"text": "   "}, "empty"),
        ("get", {"ids": list(range(1, 22))}, "ids: list should have at most 20 items"),
        ("get", {"ids": []}, "ids: list should have at least 1 item"),
        ("forget", {"ids": [True]}, "ids[0]: must be a whole number, not true/false"),
        ("update", {"id": "abc", "text": "x"}, "id: input should be a valid integer"),
        ("update", {"id": 12345, "text": "x"}, "no memory with id 12345 in this agent's memory"),
        ("list", {"before_id": 0}, "before_id: input should be greater than or equal to 1"),
        ("audit_show", {"memory_id": -1}, "memory_id: input should be greater than or equal to 1"),
    ]

    async def run():
        async with Client(params) as client:
            for tool, args, expected in cases:
                text = one_line_error(await client.call_tool(tool, args))
                assert expected in text and text.startswith(f"Error executing tool {tool}: "), (tool, args, text)

    asyncio.run(run())


def test_a_cli_writer_and_the_server_share_the_database(tmp_path, target):
    """`python -m memcli remember` processes write while the server (started as `memcli mcp --scope ...`)
    recalls and remembers: nothing is lost, and the audit chain verifies. On a file, then on a server."""
    env = _env(tmp_path, MEMCLI_DB=str(target))
    params = StdioServerParameters(command=sys.executable, env=env, cwd=tmp_path,
                                   args=["-m", "memcli", "mcp", "--scope", "shared", "--scope", "other"])
    n_cli = 6
    failures: list[str] = []

    def writer():
        for i in range(n_cli):
            r = subprocess.run([sys.executable, "-m", "memcli", "remember", "--scope", "shared",
                                f"cli note {i} about the harbour"], env=env, capture_output=True, text=True,
                               timeout=120)
            if r.returncode:
                failures.append(r.stderr)

    async def run():
        async with Client(params) as client:
            ours = (await client.call_tool("remember", {"text": "server note 0 about the harbour"}))
            created = list(ours.structured_content["created"])
            thread = threading.Thread(target=writer)
            thread.start()
            rounds = 0
            while thread.is_alive():
                r = await client.call_tool("recall", {"query": "harbour", "limit": 50})
                assert not r.is_error, r.content[0].text
                rounds += 1
                r = await client.call_tool("remember", {"text": f"server note {rounds} while the CLI writes"})
                assert not r.is_error, r.content[0].text
                created += r.structured_content["created"]
                await asyncio.sleep(0.05)
            thread.join()
            assert not failures, failures
            hits = (await client.call_tool("recall", {"query": "cli note harbour", "limit": 50})).structured_content
            assert {f"cli note {i} about the harbour" for i in range(n_cli)} <= {h["text"] for h in hits["hits"]}
            stored, before = [], None
            while True:  # every page of the list
                args = {"limit": 50} if before is None else {"limit": 50, "before_id": before}
                page = (await client.call_tool("list", args)).structured_content
                stored += page["memories"]
                before = page["next_before_id"]
                if before is None:
                    break
            assert len(stored) == len({m["id"] for m in stored}) == n_cli + len(created) and rounds > 0
            assert set(created) <= {m["id"] for m in stored} and {m["scope"] for m in stored} == {"shared"}

    asyncio.run(run())
    verify = subprocess.run([sys.executable, "-m", "memcli", "audit", "verify", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"], verify.stdout + verify.stderr

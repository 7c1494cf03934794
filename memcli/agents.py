"""What an agent (the MCP server, hooks) may do, enforced by the library rather than by each front end.

An agent works in its own namespace: the scopes it may read and the one it writes to (by default one scope; a
server configured with more may read them all). It never sees the text of archived or quarantined memories, nor of
anything outside its scopes, unless configured. Removing is bounded: a few ids a call, and a budget of removals
per session and per day (the day's count is read from the audit log, so restarting the server does not reset
it). Every refusal is an InputError with a one-line reason.

Reading (recall, get, recent, audit_show) and writing (remember, update, forget) all pass through AgentSession, so
every front end gets the same rules. An agent started in a project directory works in that directory's own scope
(project_scope) unless scopes are configured (AgentPolicy.for_project).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .changes import Op
from .forgetting import is_expired
from .retrieval.rerank import best_first
from .errors import InputError
from .timeparse import to_iso
from .types import Filters, ForgetResult, Hit, RawInput, RememberResult
from .validate import label, memory_id

if TYPE_CHECKING:
    from .core import Memory

ENV_SCOPES = "MEMCLI_AGENT_SCOPES"  # comma-separated; the first is where the agent writes
ENV_SHOW_HIDDEN = "MEMCLI_AGENT_SHOW_HIDDEN"
MAX_GET = 20  # ids per get call
MAX_LIST = 50  # memories per page of recent()


def project_scope(directory: str | os.PathLike[str]) -> str:
    """The scope an agent started in `directory` works in unless told otherwise: 'project:<name>-<8 hex>', the
    name the directory's (printable ASCII, at most 40 characters) and the hash its absolute, resolved path's, so two
    checkouts called 'app' stay apart and one directory always maps to the same scope."""
    path = Path(directory).expanduser().resolve()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name).strip("-.")[:40] or "root"
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:8]
    return f"project:{name}-{digest}"


def env_scopes() -> list[str]:
    """The scopes $MEMCLI_AGENT_SCOPES lists (comma-separated), unchecked."""
    return [s.strip() for s in os.environ.get(ENV_SCOPES, "").split(",") if s.strip()]


@dataclass
class AgentPolicy:
    scopes: tuple[str, ...] = ("default",)  # readable; the first is written to
    show_hidden: bool = False  # text of archived/quarantined memories
    forget_per_call: int = 10
    forget_per_session: int = 30
    forget_per_day: int = 100

    @classmethod
    def from_env(cls, scopes: Sequence[str] | None = None, **overrides: Any) -> "AgentPolicy":
        listed = list(scopes or []) or [s.strip() for s in os.environ.get(ENV_SCOPES, "").split(",") if s.strip()]
        for s in listed:
            problem = label(s)
            if problem:
                raise InputError(f"agent scope {s[:40]!r} {problem}")
        show = os.environ.get(ENV_SHOW_HIDDEN, "").strip().lower() in ("1", "yes", "true", "on")
        return cls(scopes=tuple(dict.fromkeys(listed)) or ("default",), show_hidden=show, **overrides)

    @classmethod
    def for_project(cls, directory: str | os.PathLike[str], scopes: Sequence[str] | None = None,
                    **overrides: Any) -> "AgentPolicy":
        """The policy of an agent started in `directory`: the scopes given, else $MEMCLI_AGENT_SCOPES, else the
        directory's own scope (project_scope). It reads no other scope unless one is configured."""
        listed = list(scopes or []) or env_scopes() or [project_scope(directory)]
        return cls.from_env(listed, **overrides)

    @property
    def home(self) -> str:
        return self.scopes[0]


@dataclass
class AgentSession:
    """One agent's session against one Memory."""

    memory: "Memory"
    policy: AgentPolicy = field(default_factory=AgentPolicy)
    removed: int = 0  # ids forgotten or archived in this session

    # -- reading -----------------------------------------------------------------------------------------------------
    def _scope(self, scope: str | None) -> str | None:
        """The scope a call may read: one of the agent's, or None for all of them."""
        if scope is None:
            return None
        if scope not in self.policy.scopes:
            raise InputError(f"scope {scope[:40]!r} is outside this agent's memory (its scopes: "
                             f"{', '.join(self.policy.scopes)})")
        return scope

    def recall(self, query: str, *, limit: int = 5, scope: str | None = None, filters: Filters | None = None,
               **kwargs: Any) -> list[Hit]:
        filters = filters or Filters()
        wanted = self._scope(scope or filters.scope)
        scopes = [wanted] if wanted else list(self.policy.scopes)
        hits: list[Hit] = []
        for s in scopes:  # one scope each: a filter, so other scopes are never searched
            hits += self.memory.recall(query, limit=limit, filters=Filters(**{**filters.__dict__, "scope": s}),
                                       **kwargs)
        return sorted(hits, key=best_first)[:limit]

    def readable(self, ids: Sequence[int]) -> dict[int, dict]:
        """Records of these ids that the agent may read (its scopes; active unless show_hidden); the others are
        left out, as if they did not exist."""
        records = self.memory.get([memory_id(i) for i in ids])
        now = to_iso(self.memory.ctx.now())
        return {i: r for i, r in records.items()
                if r["scope"] in self.policy.scopes and (self.policy.show_hidden or r["status"] == "active")
                and not is_expired(r, now)}  # expired: gone for agents

    def get(self, ids: Sequence[int]) -> list[dict]:
        """Full records of up to MAX_GET memories, in the order asked, each with its provenance (`sources`) and its
        history: `superseded_by` (the corrections that replaced it), `supersedes` (what it corrected) and
        `derived_from` (the memories a fact or summary rests on). Ids the agent may not read are left out, as if
        they did not exist."""
        wanted = list(dict.fromkeys(memory_id(i) for i in ids))
        if len(wanted) > MAX_GET:
            raise InputError(f"at most {MAX_GET} ids per get call (got {len(wanted)})")
        records = self.readable(wanted)
        out = []
        for mid in wanted:
            if mid not in records:
                continue
            rec = records[mid]
            links = self.memory.audit_show(mid)["links"]
            rec["superseded_by"] = [x["memory_id"] for x in links["out"] if x["relation"] == "superseded_by"]
            rec["supersedes"] = [x["memory_id"] for x in links["in"] if x["relation"] == "superseded_by"]
            rec["derived_from"] = [x["memory_id"] for x in links["out"] if x["relation"] == "derived_from"]
            out.append(rec)
        return out

    def recent(self, filters: Filters | None = None, *, scope: str | None = None, limit: int = 20,
               before_id: int | None = None) -> tuple[list[dict], int | None]:
        """One page of the agent's memories matching `filters`, newest first, and the before_id of the next page
        (None when this is the last). Only its scopes; active ones unless show_hidden."""
        if not 1 <= limit <= MAX_LIST:
            raise InputError(f"limit must be between 1 and {MAX_LIST}")
        filters = filters or Filters()
        wanted = self._scope(scope or filters.scope)
        rows: list[dict] = []
        for s in [wanted] if wanted else list(self.policy.scopes):  # one scope each, as recall
            rows += self.memory.recent(Filters(**{**filters.__dict__, "scope": s,
                                                  "active_only": not self.policy.show_hidden}),
                                       limit=limit + 1, before_id=before_id)
        now = to_iso(self.memory.ctx.now())
        rows = [r for r in rows if not is_expired(r, now)]  # expired: gone for agents
        rows.sort(key=lambda r: -r["id"])
        page = rows[:limit]
        return page, (page[-1]["id"] if len(rows) > limit else None)

    def audit_show(self, mid: int) -> dict:
        mid = memory_id(mid)
        story = self.memory.audit_show(mid)
        if not story["exists"]:  # erased: its records only if it was created in one of the agent's scopes
            created = next((r for r in story["audit"] if isinstance(r.get("detail"), dict)
                            and str(mid) in (r["detail"].get("seals") or {})), None)
            if created is None or created["detail"].get("scope") not in self.policy.scopes:
                raise InputError(f"no memory with id {mid} in this agent's memory")
            return story
        if mid not in self.readable([mid]):
            if story["memory"]["scope"] not in self.policy.scopes:
                raise InputError(f"no memory with id {mid} in this agent's memory")
            # archived or quarantined: the agent learns it exists and why, never its text
            story["memory"] = {k: v for k, v in story["memory"].items() if k not in ("text", "context")}
            story["evidence"] = [{k: v for k, v in e.items() if k != "text"} for e in story["evidence"]]
            story["hidden"] = f"the text of a memory that is {story['memory']['status']} is not shown to agents"
        return story

    # -- writing -----------------------------------------------------------------------------------------------------
    def remember(self, text: str, *, scope: str | None = None, tags: Sequence[str] = (),
                 importance: float = 0.0, expires: str | None = None) -> RememberResult:
        """One plain note (never parsed as a transcript: the text cannot choose its own speakers or dates).
        `expires` ('7d', an ISO time): recall stops returning it then, and consolidate erases it."""
        target = self._scope(scope) or self.policy.home
        return self.memory.remember([RawInput("agent", text)], fmt="text", scope=target, tags=list(tags),
                                    importance=importance, expires=expires)

    def update(self, mid: int, text: str) -> int:
        """Correct one of the agent's memories (Memory.update: the new text supersedes it, which stays as history).
        Returns the new memory's id."""
        mid = memory_id(mid)
        if mid not in self.readable([mid]):
            raise InputError(f"no memory with id {mid} in this agent's memory; nothing changed")
        return self.memory.update(mid, text)

    def forget(self, ids: Sequence[int], *, erase: bool = False) -> ForgetResult:
        """Archive (or erase) a few of the agent's own memories, within the session's and the day's budget."""
        p = self.policy
        ids = sorted({memory_id(i) for i in ids})
        if len(ids) > p.forget_per_call:
            raise InputError(f"at most {p.forget_per_call} ids per forget call (got {len(ids)})")
        mine = self.readable(ids)  # what get and update see: its scopes, not hidden, not expired
        foreign = [i for i in ids if i not in mine]
        if foreign:
            raise InputError(f"no memory with id {', '.join(map(str, foreign))} in this agent's memory; "
                             "nothing changed")
        if self.removed + len(ids) > p.forget_per_session:
            raise InputError(f"this session may remove at most {p.forget_per_session} memories "
                             f"({self.removed} so far); ask the user to run 'memcli forget' for more")
        def within_the_day() -> None:  # under the write lock: two server processes cannot both pass it
            today = self._removed_today()
            if today + len(ids) > p.forget_per_day:
                raise InputError(f"agents acting as {self.memory.actor!r} may remove at most {p.forget_per_day} "
                                 f"memories a day ({today} so far); ask the user to run 'memcli forget' for more")

        within_the_day()  # early, without the lock: the usual refusal costs nothing
        from .forgetting import forget

        result = forget(self.memory.ctx, ids, archive=not erase, check=within_the_day)
        self.removed += len(result.ids)
        return result

    def _removed_today(self) -> int:
        """Memories this actor forgot or archived in the last 24 hours, from the audit log."""
        since = to_iso(self.memory.ctx.now() - timedelta(days=1))
        return sum(len(r.memory_ids) for op in (Op.FORGET, Op.ARCHIVE)
                   for r in self.memory.audit_log(op=op.value, since=since) if r.actor == self.memory.actor)

"""What an agent (the MCP server, hooks) may do, enforced by the library rather than by each front end.

An agent works in its own namespace: the scopes it may read and the one it writes to (by default one scope; a
server configured with more may read them all). It never sees the text of archived or quarantined memories, nor of
anything outside its scopes, unless configured. Removing is bounded: a few ids a call, and a budget of removals
per session and per day (the day's count is read from the audit log, so restarting the server does not reset
it). Every refusal is an InputError with a one-line reason.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .changes import Op
from .errors import InputError
from .timeparse import to_iso
from .types import Filters, ForgetResult, Hit, RawInput, RememberResult
from .validate import label, memory_id

if TYPE_CHECKING:
    from .core import Memory

ENV_SCOPES = "MEMCLI_AGENT_SCOPES"  # comma-separated; the first is where the agent writes
ENV_SHOW_HIDDEN = "MEMCLI_AGENT_SHOW_HIDDEN"


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
        return sorted(hits, key=lambda h: -h.score)[:limit]

    def readable(self, ids: Sequence[int]) -> dict[int, dict]:
        """Records of these ids that the agent may read (its scopes; active unless show_hidden); the others are
        left out, as if they did not exist."""
        records = self.memory.get([memory_id(i) for i in ids])
        return {i: r for i, r in records.items()
                if r["scope"] in self.policy.scopes and (self.policy.show_hidden or r["status"] == "active")}

    def audit_show(self, mid: int) -> dict:
        mid = memory_id(mid)
        story = self.memory.audit_show(mid)
        if story["exists"] and mid not in self.readable([mid]):
            if story["memory"]["scope"] not in self.policy.scopes:
                raise InputError(f"no memory with id {mid} in this agent's memory")
            # archived or quarantined: the agent learns it exists and why, never its text
            story["memory"] = {k: v for k, v in story["memory"].items() if k not in ("text", "context")}
            story["evidence"] = [{k: v for k, v in e.items() if k != "text"} for e in story["evidence"]]
            story["hidden"] = f"the text of a memory that is {story['memory']['status']} is not shown to agents"
        return story

    # -- writing -----------------------------------------------------------------------------------------------------
    def remember(self, text: str, *, scope: str | None = None, tags: Sequence[str] = (),
                 importance: float = 0.0) -> RememberResult:
        """One plain note (never parsed as a transcript: the text cannot choose its own speakers or dates)."""
        target = self._scope(scope) or self.policy.home
        return self.memory.remember([RawInput("agent", text)], fmt="text", scope=target, tags=list(tags),
                                    importance=importance)

    def forget(self, ids: Sequence[int], *, erase: bool = False) -> ForgetResult:
        """Archive (or erase) a few of the agent's own memories, within the session's and the day's budget."""
        p = self.policy
        ids = sorted({memory_id(i) for i in ids})
        if len(ids) > p.forget_per_call:
            raise InputError(f"at most {p.forget_per_call} ids per forget call (got {len(ids)})")
        mine = self.memory.get(ids)
        foreign = [i for i in ids if i not in mine or mine[i]["scope"] not in p.scopes]
        if foreign:
            raise InputError(f"no memory with id {', '.join(map(str, foreign))} in this agent's memory; "
                             "nothing changed")
        if self.removed + len(ids) > p.forget_per_session:
            raise InputError(f"this session may remove at most {p.forget_per_session} memories "
                             f"({self.removed} so far); ask the user to run 'memcli forget' for more")
        today = self._removed_today()
        if today + len(ids) > p.forget_per_day:
            raise InputError(f"agents acting as {self.memory.actor!r} may remove at most {p.forget_per_day} "
                             f"memories a day ({today} so far); ask the user to run 'memcli forget' for more")
        result = self.memory.forget(ids, archive=not erase)
        self.removed += len(result.ids)
        return result

    def _removed_today(self) -> int:
        """Memories this actor forgot or archived in the last 24 hours, from the audit log."""
        since = to_iso(self.memory.ctx.now() - timedelta(days=1))
        return sum(len(r.memory_ids) for op in (Op.FORGET, Op.ARCHIVE)
                   for r in self.memory.audit_log(op=op.value, since=since) if r.actor == self.memory.actor)

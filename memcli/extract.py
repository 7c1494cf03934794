"""Fact extraction with a grounding check that does not trust the generator.

The generator proposes short facts, each citing the numbers of the messages it came from. A proposal is stored
only if its cited messages support it, judged without the model:
1. it cites at least one message of the batch, and no other;
2. every number and every capitalised name in the fact occurs in the cited messages (speaker names included);
3. at least 80% of its other content words (stemmed) occur there too;
4. its embedding is close to the cited text (cosine >= 0.5).
Accepted facts become `fact` memories linked (derived_from) to the episodic memories they cite, so a fact is a
retrieval key that leads back to its evidence, and forgetting the evidence removes the fact.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .changes import Op
from .derived import write_derived
from .ingest.keys import labelled
from .retrieval.fts_query import STOP_WORDS
from .scan import holds_instructions
from .types import ExtractResult

if TYPE_CHECKING:
    from .context import Context

FEW_SHOT = """Messages:
[1] Tom: We finally bought the blue house on Elm Street.
[2] Sue: Congrats! When do you move?
[3] Tom: In June, right after my daughter's graduation.
Facts:
- Tom bought the blue house on Elm Street. [1]
- Tom moves in June. [3]
- Tom has a daughter who is graduating. [3]

"""
GRAMMAR = r'''root ::= line line? line? line?
line ::= "- " [^\n\[\]]{8,150} " [" num ("," num)? "]\n"
num ::= [1-9] [0-9]?
'''
_LINE = re.compile(r"^- (?P<fact>[^\n\[\]]+?) \[(?P<cites>\d+(?:,\d+)*)\]$", re.M)
MIN_COVERAGE = 0.8
MIN_SIMILARITY = 0.5


@dataclass
class Proposal:
    fact: str
    cites: list[int]  # positions in the batch, 1-based
    accepted: bool = False
    reason: str = ""  # a category, counted in the audit log
    detail: str = ""  # specifics for a person reading samples
    memory_ids: list[int] = field(default_factory=list)
    vector: np.ndarray | None = None  # the fact's embedding, reused when it is stored


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][A-Za-z0-9'’-]*", text)


def content_stems(text: str) -> set[str]:
    """The stemmed content words of `text`, as the grounding check compares them (for ask's attribution)."""
    return {_stem(w.lower()) for w in _words(text) if w.lower() not in STOP_WORDS}


def parse_proposals(text: str) -> list[Proposal]:
    return [Proposal(m.group("fact").strip(), [int(c) for c in m.group("cites").split(",")])
            for m in _LINE.finditer(text)]


_NEGATION = re.compile(r"\b(?:not|no|never|nobody|nothing|neither|nor|none|cannot)\b|n[’']t\b", re.IGNORECASE)


def _negated(text: str) -> bool:
    return _NEGATION.search(text) is not None


def check_grounding(fact: str, cited_texts: list[str]) -> tuple[bool, str]:
    """The lexical part of the check (rules 2 and 3). Returns (ok, reason category)."""
    evidence = " ".join(cited_texts)
    ev_lower = {w.lower() for w in _words(evidence)}
    ev_stems = {_stem(w) for w in ev_lower}
    words = _words(fact)
    # 'not' and 'never' are stop words, yet they turn a claim around: the fact may negate only what its evidence
    # negates ('Ana has not moved to Lisbon' from 'I moved to Lisbon' is the opposite of its source)
    if _negated(fact) and not _negated(evidence):
        return False, "negation the cited messages do not make"
    for w in words:
        lw = w.lower()
        if any(c.isdigit() for c in w) or (w[0].isupper() and lw not in STOP_WORDS):
            if lw not in ev_lower and _stem(lw) not in ev_stems:
                return False, "unsupported name or number"
    content = [w.lower() for w in words if w.lower() not in STOP_WORDS and not w[0].isupper()]
    if not content:
        return True, "ok"
    covered = sum(1 for w in content if w in ev_lower or _stem(w) in ev_stems)
    if covered / len(content) < MIN_COVERAGE:
        return False, "content words not in the cited messages"
    return True, "ok"


def ground(proposals: list[Proposal], batch: list[tuple[int, str]], embedder) -> list[Proposal]:
    """batch: (memory_id, 'Speaker: text') in prompt order. Marks each proposal accepted or rejected."""
    seen: set[str] = set()
    for p in proposals:
        key = p.fact.lower()
        if key in seen:
            p.reason = "duplicate"
            continue
        seen.add(key)
        if not p.cites or any(c < 1 or c > len(batch) for c in p.cites):
            p.reason = "cites a message outside the batch"
            continue
        cited = [batch[c - 1][1] for c in p.cites]
        ok, reason = check_grounding(p.fact, cited)
        if not ok:
            p.reason = reason
            continue
        vecs = embedder.embed_chunks([p.fact, " ".join(cited)])
        sim = float(np.dot(vecs[0].mean(axis=0), vecs[1].mean(axis=0)))
        if sim < MIN_SIMILARITY:
            p.reason, p.detail = "meaning too far from the cited messages", f"cosine {sim:.2f}"
            continue
        p.accepted, p.reason, p.vector = True, "ok", vecs[0]
        p.memory_ids = [batch[c - 1][0] for c in p.cites]
    return proposals


def propose(generator, batch: list[tuple[int, str]]) -> list[Proposal]:
    lines = "\n".join(f"[{i}] {text[:400]}" for i, (_mid, text) in enumerate(batch, 1))
    prompt = FEW_SHOT + "Messages:\n" + lines + "\nFacts:\n"
    return parse_proposals(generator.complete(prompt, grammar=GRAMMAR, max_tokens=200, deadline_s=60))


def extract_facts(ctx: "Context", memory_ids: Sequence[int], *, batch_size: int = 4,
                  progress: Callable[[int, int], None] | None = None) -> ExtractResult:
    """Propose facts for these episodic memories in batches; keep only the grounded ones. Each batch is one change
    (its facts and its record commit together), so a generator failure later keeps what was already recorded."""
    store = ctx.store
    records = store.memories.records(sorted(memory_ids))
    episodic = [r for r in records.values() if r["kind"] == "episodic" and r["status"] == "active"
                and not holds_instructions(r["flags"])]
    result = ExtractResult()
    reasons: Counter = Counter()
    for start in range(0, len(episodic), batch_size):
        batch = [(r["id"], labelled(r["speaker"], r["text"])) for r in episodic[start : start + batch_size]]
        proposals = ground(propose(ctx.generator, batch), batch, ctx.embedder)
        batch_reasons: Counter = Counter()
        with ctx.change(Op.EXTRACT) as ch:
            accepted = []
            for p in proposals:
                if p.accepted:
                    memory_id, _created = write_derived(ctx, "fact", p.fact, p.memory_ids, vectors=p.vector)
                    accepted.append(memory_id)
                else:
                    batch_reasons[p.reason] += 1
            # Counts and ids only: generated text can echo user text, and the log must survive a forget.
            ch.memory_ids = [mid for mid, _ in batch] + accepted
            ch.detail = {"generator": ctx.models.loaded_generator.model_id, "proposed": len(proposals),
                         "accepted": len(accepted), "rejected": len(proposals) - len(accepted),
                         "reasons": dict(batch_reasons)}
        result.proposed += len(proposals)
        result.accepted += accepted
        result.rejected += len(proposals) - len(accepted)
        reasons.update(batch_reasons)
        for p in proposals:
            if len(result.samples) < 20:
                result.samples.append({"fact": p.fact, "accepted": p.accepted,
                                       "reason": f"{p.reason} ({p.detail})" if p.detail else p.reason,
                                       "cites": p.memory_ids or [batch[c - 1][0] for c in p.cites
                                                                  if 0 < c <= len(batch)]})
        if progress:
            progress(min(start + batch_size, len(episodic)), len(episodic))
    result.reasons = dict(reasons)
    return result

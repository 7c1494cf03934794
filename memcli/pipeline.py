"""The local-model steps: grounded fact extraction and `ask`. The generator is loaded only here, lazily."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .errors import InputError
from .extract import check_grounding
from .ingest.keys import labelled
from .scan import holds_instructions
from .timeparse import now_utc, to_iso

ASK_MIN_SIMILARITY = 0.35  # below this nothing recalled is about the question: abstain without generating
ABSTAIN = "Memory holds nothing on that."
ASK_SHOTS = """Notes:
[12] Tom: We finally bought the blue house on Elm Street.
Question: Where does Tom live?
Answer: In the blue house on Elm Street [12].

Notes:
[3] Sue: I love pottery.
Question: What car does Sue drive?
Answer: Memory holds nothing on that.

"""


@dataclass
class ExtractResult:
    proposed: int = 0
    accepted: list[int] = field(default_factory=list)
    rejected: int = 0
    reasons: dict = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


class PipelineMixin:
    @property
    def generator(self):
        if self._generator is None:
            from .models.generator import load_generator

            self._generator = self._load_model("register_generators", self._generator_spec, load_generator)
        return self._generator

    def extract_facts(self, memory_ids, *, batch_size: int = 4, progress=None) -> ExtractResult:
        """Propose facts for these episodic memories in batches; keep only the grounded ones."""
        from .extract import ground, propose

        store = self.store
        records = store.memories(sorted(memory_ids))
        episodic = [r for r in records.values() if r["kind"] == "episodic" and r["status"] == "active"
                    and not holds_instructions(r["flags"])]
        result = ExtractResult()
        reasons: Counter = Counter()
        for start in range(0, len(episodic), batch_size):
            batch = [(r["id"], labelled(r["speaker"], r["text"]))
                     for r in episodic[start : start + batch_size]]
            proposals = ground(propose(self.generator, batch), batch, self.embedder)
            for p in proposals:
                result.proposed += 1
                if p.accepted:
                    result.accepted.append(self.derive("fact", p.fact, p.memory_ids, audit=False,
                                                       vectors=p.vector))
                else:
                    result.rejected += 1
                    reasons[p.reason] += 1
                if len(result.samples) < 20:
                    result.samples.append({"fact": p.fact, "accepted": p.accepted,
                                           "reason": f"{p.reason} ({p.detail})" if p.detail else p.reason,
                                           "cites": p.memory_ids or [batch[c - 1][0] for c in p.cites
                                                                      if 0 < c <= len(batch)]})
            if progress:
                progress(min(start + batch_size, len(episodic)), len(episodic))
        result.reasons = dict(reasons)
        with store.transaction():
            # Counts and ids only: generated text can echo user text, and the log must survive a forget.
            store.audit.append(at=to_iso(now_utc()), actor=self.actor, op="extract",
                               memory_ids=[r["id"] for r in episodic] + result.accepted,
                               detail={"generator": None if self._generator is None  # nothing to read: not loaded
                                       else self._generator.model_id, "proposed": result.proposed,
                                       "accepted": len(result.accepted), "rejected": result.rejected,
                                       "reasons": result.reasons})
        return result

    def ask(self, question: str, *, limit: int = 8) -> dict:
        """Answer from recalled memories only, citing their ids; abstain when nothing relevant is stored.

        The generated answer is kept only if it cites a recalled memory and passes the same lexical grounding
        check as extracted facts; otherwise the answer is the closest memory, verbatim ("extractive" mode).
        """
        if not question.strip():
            raise InputError("empty question")
        hits = self.recall(question, limit=limit)
        relevant = [h for h in hits if (h.match.get("similarity") or 0) >= ASK_MIN_SIMILARITY
                    and not holds_instructions(h.flags)]
        context = [{"id": h.id, "text": h.text, "speaker": h.speaker, "occurred_at": h.occurred_at,
                    "score": h.score} for h in relevant]
        if not relevant:
            return {"question": question, "answer": ABSTAIN, "abstained": True, "mode": "abstained", "cited": [],
                    "generated": None, "context": []}
        # Stored text is data: it goes in as quoted notes, one line each, never as instructions.
        notes = "\n".join(
            f"[{c['id']}] {' '.join(labelled(c['speaker'], c['text']).split())[:300]}"
            for c in context)
        prompt = ASK_SHOTS + f"Notes:\n{notes}\nQuestion: {' '.join(question.split())}\nAnswer:"
        generated = self.generator.complete(prompt, max_tokens=80, stop=["\n"], deadline_s=60).strip()
        by_id = {c["id"]: c for c in context}
        cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", generated) if int(n) in by_id})
        claim = re.sub(r"\[\d+\]", "", generated)
        grounded = bool(cited) and check_grounding(claim, [
            labelled(by_id[i]["speaker"], by_id[i]["text"]) for i in cited])[0]
        if grounded:
            answer, mode = generated, "generated"
        else:
            # The model's answer is not supported by what it cites, or it says memory holds nothing although a
            # memory close to the question was recalled: say what memory does hold instead.
            top = context[0]
            answer, mode, cited = f"Closest memory [{top['id']}]: {top['text']}", "extractive", [top["id"]]
        return {"question": question, "answer": answer, "abstained": mode == "abstained", "mode": mode,
                "cited": cited, "generated": generated, "context": context}
